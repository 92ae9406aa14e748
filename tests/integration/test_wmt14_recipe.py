"""The WMT'14 recipe on a tiny local mirror of its files' formats (tar archives of plain, .gz
and .xz bitexts, the ntst1213/ntst14 dev and test sets, a Moses 1000-best list), and the
WMT'14 pipeline's dry run."""

from __future__ import annotations

import gzip
import io
import lzma
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def lines(prefix: str, n: int) -> bytes:
    return "".join(f"{prefix} {i} .\n" for i in range(n)).encode()


def make_mirror(root: Path, fr_lines: int = 3, nbest: bool = True) -> Path:
    mirror = root / "mirror"
    mirror.mkdir()
    with tarfile.open(mirror / "bitexts.tgz", "w:gz") as tar:
        add(tar, "bitexts.selected/nc9.en.gz", gzip.compress(lines("news", 3)))
        add(tar, "bitexts.selected/nc9.fr.gz", gzip.compress(lines("nouvelles", fr_lines)))
        add(tar, "bitexts.selected/ep7_pc45.en.xz", lzma.compress(lines("europarl", 4)))
        add(tar, "bitexts.selected/ep7_pc45.fr.xz", lzma.compress(lines("europarl fr", 4)))
    with tarfile.open(mirror / "dev+test.tgz", "w:gz") as tar:
        add(tar, "dev/ntst1213.en", lines("dev", 2))
        add(tar, "dev/ntst1213.fr", lines("dév", 2))
        add(tar, "test/ntst14.en", lines("test", 2))
        add(tar, "test/ntst14.fr", lines("essai", 2))
    if nbest:
        entries = "".join(f"{s} ||| essai {s} . ||| LM0= -{k}.5 WordPenalty0= -3 ||| -{k}\n"
                          for s in range(2) for k in range(3)).encode()
        with tarfile.open(mirror / "nbest.tgz", "w:gz") as tar:
            add(tar, "nbest/ntst14.1000best", entries)
    return mirror


def prepare(mirror: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "data/wmt14/prepare.py"), "--mirror",
                           str(mirror), "--output", str(out)], capture_output=True, text=True,
                          check=False)


def test_recipe_lays_out_the_data(tmp_path: Path) -> None:
    out = tmp_path / "wmt14"
    result = prepare(make_mirror(tmp_path), out)
    assert result.returncode == 0, result.stderr
    train_en = gzip.decompress((out / "train.en.gz").read_bytes()).decode().splitlines()
    train_fr = gzip.decompress((out / "train.fr.gz").read_bytes()).decode().splitlines()
    assert len(train_en) == len(train_fr) == 7
    assert train_en[0] == "news 0 ." and train_fr[3] == "europarl fr 0 ."  # pairs stay aligned
    assert (out / "valid.fr").read_text().splitlines() == ["dév 0 .", "dév 1 ."]
    assert (out / "test.en").read_text().splitlines() == ["test 0 .", "test 1 ."]
    nbest = gzip.decompress((out / "nbest/test.1000best.gz").read_bytes()).decode()
    assert nbest.count("\n") == 6 and nbest.startswith("0 ||| essai 0 .")
    # the checksums are recorded; a changed archive is refused
    assert "bitexts.tgz" in (out / "download/checksums.json").read_text()
    (out / "download/dev+test.tgz").write_bytes(b"tampered")
    again = prepare(tmp_path / "mirror", out)
    assert again.returncode == 2 and "differs from the recorded" in again.stderr


def test_recipe_without_nbest_lists(tmp_path: Path) -> None:
    out = tmp_path / "wmt14"
    result = prepare(make_mirror(tmp_path, nbest=False), out)
    assert result.returncode == 0, result.stderr
    assert "going on without it" in result.stderr and not (out / "nbest").exists()


def test_recipe_rejects_misaligned_bitexts(tmp_path: Path) -> None:
    out = tmp_path / "wmt14"
    result = prepare(make_mirror(tmp_path, fr_lines=2), out)
    assert result.returncode == 2 and "nc9.en.gz:3: more lines than" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(out.glob("train.*"))  # no output, no temporary file


def test_missing_mirror_is_one_clear_error(tmp_path: Path) -> None:
    result = prepare(tmp_path / "nowhere", tmp_path / "out")
    assert result.returncode == 2 and "bitexts.tgz: cannot fetch" in result.stderr


@pytest.mark.parametrize("gpus", [1, 8])
def test_pipeline_dry_run_lists_every_stage(tmp_path: Path, gpus: int) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "pipelines/wmt14.py"), "--dry-run",
                             "--gpus", str(gpus), "--workdir", str(tmp_path / "w")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    stages = [ln.split()[2].rstrip(":") for ln in result.stdout.splitlines()
              if ln.startswith("[run ]")]
    assert stages[0] == "data" and stages[-1] == "report"
    assert [s for s in stages if s.startswith("train-")] == [
        "train-rev1", "train-rev2", "train-rev3", "train-rev4", "train-rev5", "train-fwd"]
    assert {"translate-ens5-b12", "score-test", "average-LSTMEnsemble0", "oracle"} <= set(stages)
    assert f"--nproc_per_node {gpus} -m rescore.cli.train --preset sutskever2014" in result.stdout
    assert not (tmp_path / "w").exists()  # a dry run writes nothing
