"""The package as a user installs it: ``python -m build`` gives a wheel and an sdist, and the
wheel installs beside whatever torch the user already has (a CUDA build, an older release)
instead of replacing it. The torch pin belongs to scripts/setup.sh and .ci/run, never to the
library's own dependencies (from a user's report: ``pip install`` swapped their CUDA torch for
another build)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from rescore import __version__

ROOT = Path(__file__).resolve().parents[2]
PIP = ("-m", "pip", "--disable-pip-version-check")


def run(*args: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                            check=False, cwd=cwd)
    assert result.returncode == 0, f"{args}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def venv(path: Path) -> Path:
    run(sys.executable, "-m", "venv", path)
    return path / "bin" / "python"


def fake_installed(python: Path, name: str, version: str) -> None:
    """Record ``name==version`` as installed in ``python``'s environment (metadata only), as
    a user's own build would be: what the resolver sees, without gigabytes of files."""
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
                .strip())
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "INSTALLER").write_text("test\n")
    (info / "RECORD").write_text("")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # the wheel from the sdist (python -m build's default): what the sdist holds, never a
    # stale build/ folder of the checkout
    run(sys.executable, "-m", "build", "--outdir", out, ROOT)
    return out


def test_no_exact_pins_in_the_library_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not [dep for dep in project["dependencies"] if "==" in dep]
    assert any(dep.startswith("torch>=") for dep in project["dependencies"])


def test_build_gives_a_wheel_and_an_sdist_of_this_version(dist: Path) -> None:
    wheel, = dist.glob(f"rescore-{__version__}-py3-none-any.whl")
    assert len(list(dist.glob(f"rescore-{__version__}.tar.gz"))) == 1
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"rescore-{__version__}.dist-info/METADATA").decode()
    assert "rescore/cli/nbest.py" in names and "rescore/py.typed" in names
    assert not [n for n in names if n.startswith(("tests/", "pipelines/", "benchmarks/"))]
    # the toolkit alone: the experiment engine stays with the pipelines
    assert "rescore/outputs.py" in names and not [
        n for n in names if n in ("rescore/pipeline.py", "rescore/stages.py", "rescore/paths.py")]
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist: torch")]
    assert requires == ["Requires-Dist: torch>=2.4"], requires


def test_the_resolver_keeps_an_older_torch_the_user_has(dist: Path, tmp_path: Path) -> None:
    """An environment holding torch 2.4.0 (the oldest release pyproject admits): installing
    the wheel plans no torch at all (with ``torch==2.13.0`` it planned a replacement)."""
    python = venv(tmp_path / "v")
    fake_installed(python, "torch", "2.4.0")
    wheel, = dist.glob("*.whl")
    report = tmp_path / "report.json"
    run(python, *PIP, "install", "--quiet", "--dry-run", "--report", report, wheel)
    planned = {item["metadata"]["name"].lower(): item["metadata"]["version"]
               for item in json.loads(report.read_text())["install"]}
    assert planned.get("rescore") == __version__
    assert "torch" not in planned, planned


def test_wheel_and_sdist_install_beside_a_torch_build_and_run(dist: Path,
                                                               tmp_path: Path) -> None:
    """A fresh environment with the machine's CPU build of torch (a local version label, as
    a user's CUDA build has): the wheel leaves it as it is, and every command runs; then the
    sdist, built and installed in its place, runs too."""
    python = venv(tmp_path / "v")
    run(python, *PIP, "install", "--quiet", "torch==2.13.0")
    torch_version = run(python, "-c", "import torch; print(torch.__version__)").strip()
    torch_file = Path(run(python, "-c", "import torch; print(torch.__file__)").strip())
    stamp = torch_file.stat().st_mtime_ns
    wheel, = dist.glob("*.whl")
    run(python, *PIP, "install", "--quiet", wheel)
    assert run(python, "-c", "import torch; print(torch.__version__)").strip() == torch_version
    assert torch_file.stat().st_mtime_ns == stamp
    bin_dir = python.parent
    for command in ("rescore-nbest", "rescore-tune", "rescore-train", "rescore-translate",
                    "rescore-mbr", "rescore-oracle", "rescore-report", "rescore-model"):
        assert run(bin_dir / command, "--version").strip() == f"{command} {__version__}"
    assert "usage: rescore-nbest" in run(bin_dir / "rescore-nbest", "--help")
    sdist, = dist.glob("*.tar.gz")
    run(python, *PIP, "install", "--quiet", "--force-reinstall", "--no-deps", sdist)
    assert run(bin_dir / "rescore-nbest", "--version").strip() == f"rescore-nbest {__version__}"
    assert run(python, "-c", "import torch; print(torch.__version__)").strip() == torch_version
