"""pipelines/multi30k_evidence.py --data DIR --src-lang L --tgt-lang L on another Moses
system's folder: a small folder made from slices of the shared data with the languages (and
the test set) renamed. Every missing file is named before anything runs; the plan reads the
folder's names; the quick pipeline runs end to end on it (system tier)."""

from __future__ import annotations

import gzip
import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.engine.layout import Layout, discover
from rescore.errors import RescoreError

ROOT = Path(__file__).resolve().parents[2]


def make_folder(shared: Path, root: Path, sentences: int = 8, pairs: int = 300) -> Path:
    """Multi30k en-fr renamed xx-yy, test2016 renamed t16: the first ``pairs`` training pairs
    and ``sentences`` val/test sentences with their lists."""
    folder = root / "xx-yy"
    (folder / "nbest").mkdir(parents=True)
    (folder / "baseline").mkdir()
    (folder / "lm").mkdir()
    for old, new in (("en", "xx"), ("fr", "yy")):
        with gzip.open(shared / f"train.{old}.gz", "rt", encoding="utf-8") as f, \
                gzip.open(folder / f"train.{new}.gz", "wt", encoding="utf-8") as out:
            out.writelines(itertools.islice(f, pairs))
        for split, renamed in (("val", "val"), ("test2016", "t16")):
            lines = (shared / f"{split}.{old}").read_text(encoding="utf-8").splitlines(True)
            (folder / f"{renamed}.{new}").write_text("".join(lines[:sentences]))
    for split, renamed in (("val", "val"), ("test2016", "t16")):
        with gzip.open(shared / f"nbest/{split}.1000best.gz", "rt", encoding="utf-8") as f, \
                gzip.open(folder / f"nbest/{renamed}.1000best.gz", "wt",
                          encoding="utf-8") as out:
            out.writelines(itertools.takewhile(
                lambda ln: int(ln.split(" ||| ", 1)[0]) < sentences, f))
        lines = (shared / f"baseline/{split}.1best").read_text().splitlines(True)
        (folder / f"baseline/{renamed}.1best").write_text("".join(lines[:sentences]))
    shutil.copyfile(shared / "moses.ini.tuned", folder / "moses.ini.tuned")
    shutil.copyfile(shared / "lm/train.fr.5g.arpa.gz", folder / "lm/train.yy.5g.arpa.gz")
    return folder


@pytest.fixture(scope="module")
def folder(multi30k: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder(multi30k, tmp_path_factory.mktemp("data"))


def pipeline(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "pipelines/multi30k_evidence.py"),
                           *map(str, args)], capture_output=True, text=True, check=False,
                          timeout=timeout)


def test_the_folder_is_discovered_and_each_missing_file_named(folder: Path,
                                                             tmp_path: Path) -> None:
    assert discover(folder, "xx", "yy") == Layout("xx", "yy", "t16")
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "val.xx").unlink()
    (broken / "lm/train.yy.5g.arpa.gz").unlink()
    with pytest.raises(RescoreError) as err:
        discover(broken, "xx", "yy")
    assert "missing val.xx, lm/train.yy.5g.arpa.gz" in str(err.value)
    with pytest.raises(RescoreError, match=r"missing train\.en\.gz"):
        discover(folder)  # the default languages are not this folder's
    result = pipeline("--quick", "--data", broken, "--src-lang", "xx", "--tgt-lang", "yy",
                      "--workdir", tmp_path / "w")
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert any("missing val.xx, lm/train.yy.5g.arpa.gz" in ln for ln in lines), result.stderr
    assert not (tmp_path / "w" / "models").exists()  # nothing trained


def test_the_plan_reads_the_folders_names(folder: Path, tmp_path: Path) -> None:
    result = pipeline("--quick", "--dry-run", "--data", folder, "--src-lang", "xx",
                      "--tgt-lang", "yy", "--workdir", tmp_path / "w")
    assert result.returncode == 0, result.stderr
    plan = result.stdout + result.stderr
    assert "train.xx.gz" in plan and "--src-lang yy --tgt-lang xx" in plan  # the channel
    assert "t16.xx" in plan and "nbest/t16.1000best.gz" in plan
    assert "test2016" not in plan and ".en " not in plan and "fr.5g" not in plan


@pytest.mark.system
def test_the_quick_pipeline_runs_on_another_folder(folder: Path, tmp_path: Path) -> None:
    work = tmp_path / "w"
    result = pipeline("--quick", "--data", folder, "--src-lang", "xx", "--tgt-lang", "yy",
                      "--train-pairs", "300", "--sentences", "8", "--epochs", "0.5",
                      "--workdir", work, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = (work / "report/report.md").read_text()
    assert "Table 1" in report and "Table 2" in report
    assert (work / "scored/t16.all.nbest.gz").exists()


def mixed(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "pipelines/multi30k_mixed.py"),
                           *map(str, args)], capture_output=True, text=True, check=False,
                          timeout=timeout)


def test_the_mixed_pipeline_reads_the_folders_names(folder: Path, tmp_path: Path) -> None:
    """pipelines/multi30k_mixed.py takes the same --data: its whole plan (the family trained
    on the folder, the channel models backwards, the test set by the folder's name, the
    folder's LM) names no Multi30k en-fr file; a missing file is named before anything runs."""
    result = mixed("--dry-run", "--data", folder, "--src-lang", "xx", "--tgt-lang", "yy",
                   "--workdir", tmp_path / "w", "--jobs", "2")
    assert result.returncode == 0, result.stderr
    plan = result.stdout
    lines = plan.splitlines()  # stages planned from two threads: still one line each
    assert len(lines) > 30 and all(line.startswith("[plan] ") for line in lines)
    assert all(line.count("[plan]") == 1 for line in lines)
    assert "train.xx.gz" in plan and "--src-lang yy --tgt-lang xx" in plan  # the channel
    assert "--input " + str(folder / "t16.xx") in plan and "t16-b50" in plan
    assert "test2016" not in plan and ".en " not in plan and ".fr " not in plan
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "baseline/t16.1best").unlink()
    result = mixed("--quick", "--data", broken, "--src-lang", "xx", "--tgt-lang", "yy",
                   "--workdir", tmp_path / "w2")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"multi30k_mixed: {broken}: missing baseline/t16.1best (a data folder is laid out as "
        "../shared/data/multi30k-en-fr: docs/pipelines.md)"]
    assert not (tmp_path / "w2").exists()  # nothing sliced, nothing trained


@pytest.mark.system
def test_the_quick_mixed_pipeline_runs_on_another_folder(folder: Path, tmp_path: Path) -> None:
    work = tmp_path / "w"
    result = mixed("--quick", "--data", folder, "--src-lang", "xx", "--tgt-lang", "yy",
                   "--sentences", "8", "--jobs", "2", "--workdir", work, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((work / "report/report.json").read_text())
    assert [t["title"] for t in report["tables"]] == ["Table 1: standalone, mixed members",
                                                      "Table 2: with Moses, mixed members"]
    assert (work / "scored/t16.union.nbest.gz").exists()
    channel = json.loads((work / "models/channel/config.json").read_text())
    assert '"source": "yy"' in json.dumps(channel) and '"target": "xx"' in json.dumps(channel)
