"""The mixed pipeline's plan (pipelines/multi30k_mixed.py --dry-run): without --models it trains
the whole family first (four cpu-strong LSTMs, five cpu-transformer models, among them a
channel model and two right-to-left ones; --precision reaches the trainings only), continues a
stopped training and keeps a finished one, compares the candidate ensembles on val, and names a
member set that is not made of the members in one error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def plan(work: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "pipelines/multi30k_mixed.py"),
                           "--dry-run", "--workdir", str(work), *extra],
                          capture_output=True, text=True, check=False, timeout=120)


def stages(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert result.returncode == 0, result.stderr
    return {line.split()[1].rstrip(":"): line for line in result.stdout.splitlines()
            if line.startswith("[plan]")}


def test_the_family_is_trained_then_the_ensembles_compared(multi30k: Path,
                                                           tmp_path: Path) -> None:
    planned = stages(plan(tmp_path / "w", "--precision", "bf16"))
    trains = {k: v for k, v in planned.items() if k.startswith("train-")}
    assert set(trains) == {f"train-{n}" for n in ("rev", "rev2", "r2l", "channel", "b", "a",
                                                      "r2l-tf", "channel-tf", "r2l-tf2")}
    assert all("--precision bf16" in v for v in trains.values())
    assert not any("--precision" in v for k, v in planned.items() if k not in trains)
    assert "--preset cpu-transformer" in trains["train-b"]
    assert "--preset cpu-strong" in trains["train-rev"] and "--target-right-to-left" in \
        trains["train-r2l"]
    for channel in ("channel", "channel-tf"):
        assert "--src-lang fr --tgt-lang en" in trains[f"train-{channel}"]
    assert "--preset cpu-transformer" in trains["train-channel-tf"]
    assert "--seed 6 --target-right-to-left" in trains["train-r2l-tf2"]
    assert {"val-b12-set-rev+rev2", "val-b12-set-b+a", "val-b12-set-rev+rev2+b+a"} <= \
        set(planned)
    assert planned["val-b12-set-rev+rev2+b+a"].count("--model ") == 4
    # one search per candidate set serves the whole length-penalty grid
    assert "--length-penalty-grid 0,0.5,1,1.5,2,2.5,3,3.5,4" in \
        planned["val-b12-set-rev+rev2+b+a"]
    assert not any(k.startswith("val-b12-lp") for k in planned)
    assert "--length-penalty-grid 0 " in planned["test2016-b12"]
    # beam 50's penalty chosen again at beam 50 (one search), its searches named by it
    assert "--beam 50 --length-penalty ALPHA " in planned["val-b50-grid"] and \
        "--length-penalty-grid 0,0.5,1,1.5,2,2.5,3,3.5,4,4.5,5,5.5,6" in planned["val-b50-grid"]
    b50 = planned["test2016-b50-lpALPHA50-wrREWARD50"]
    assert "--length-penalty ALPHA50 " in b50 and "--word-reward REWARD50 " in b50
    assert "test2016-b50-lpALPHA50-wrREWARD50.nbest.gz" in planned["score-own-test2016"]
    # the right-to-left members search their own lists, joined to the ensemble's and Moses'
    assert planned["val-r2l-b50"].count("--model ") == 3 and "--output-nbest" in \
        planned["test2016-r2l-b50"]
    # every list is scored by both channel models and all three right-to-left ones
    assert "Channel1=" in planned["score-moses-val"] and "R2L2=" in planned["score-own-val"]
    assert planned["combine-bidir-val"].count("--nbest ") == 2
    assert planned["combine-union3-test2016"].count("--nbest ") == 3
    assert "Origin0" in planned["tune-bidir"] and "val.union3" in planned["tune-union3-mira"]
    assert "--method mert" in planned["tune-union3"] and "val.union3" in planned["tune-union3"]


def test_a_stopped_training_is_continued_and_a_finished_one_kept(multi30k: Path,
                                                                 tmp_path: Path) -> None:
    models = tmp_path / "w" / "models"
    for name in ("rev", "b"):
        (models / name).mkdir(parents=True)
        (models / name / "config.json").write_text("{}")  # written when training starts
        (models / name / "checkpoint.pt").write_bytes(b"")
    (models / "b" / "model.safetensors").write_bytes(b"")  # b finished, rev was stopped
    planned = stages(plan(tmp_path / "w"))
    assert planned["train-rev"].split()[3:] == ["--resume", "--no-progress", "--output",
                                                str(models / "rev"), "--threads", "1"]
    assert "train-b" not in planned and "--preset" in planned["train-rev2"]


def test_a_member_set_outside_the_members_is_one_error(multi30k: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    result = plan(tmp_path / "w", "--models", str(models), "--members", "x,y",
                  "--member-sets", "x;x,z")
    assert result.returncode == 2 and "x,z is not a subset of --members" in result.stderr
    assert "Traceback" not in result.stderr
    result = plan(tmp_path / "w", "--models", str(models))
    assert result.returncode == 2 and "--members" in result.stderr
