"""The longer-trained Table 2 pipeline: its dry run lists the stages and their commands, with
training only when no trained models are given."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rescore.vocab import SPECIALS, Vocab
from tests.helpers import write_tiny_model

ROOT = Path(__file__).resolve().parents[2]


def dry_run(work: Path, *extra: str) -> list[str]:
    result = subprocess.run([sys.executable, str(ROOT / "pipelines/multi30k_longer.py"),
                             "--dry-run", "--workdir", str(work), *extra],
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    return (result.stdout + result.stderr).splitlines()


def test_dry_run_lists_training_scoring_tuning_and_report(multi30k: Path,
                                                          tmp_path: Path) -> None:
    lines = dry_run(tmp_path / "w")
    names = [ln.split()[2].rstrip(":") for ln in lines if ln.startswith("[run ]")]
    assert names[:4] == ["train-rev-long", "train-rev-drop", "score-val", "score-test2016"]
    assert {"tune-grid-LSTMR0", "tune-grid-LSTMEnsemble0", "tune-mert-LSTMR0",
            "rerank-mert-LSTMR0", "average-LSTMD0", "oracle", "translate-rev-long",
            "translate-ensemble"} <= set(names)
    assert names[-1] == "report"
    commands = [ln.strip() for ln in lines if not ln.startswith("[")]
    drop = next(c for c in commands if "models/rev-drop" in c and "rescore.cli.train" in c)
    long = next(c for c in commands if "models/rev-long" in c and "rescore.cli.train" in c)
    assert "--dropout 0.2" in drop and "--dropout" not in long
    assert "--epochs 14 --decay-start-epoch 11.5" in long


def test_given_models_are_not_trained(multi30k: Path, tmp_path: Path) -> None:
    vocab = Vocab([*SPECIALS, "a"])
    for name in ("rev-long", "rev-drop"):
        write_tiny_model(tmp_path / "models" / name, vocab, vocab, seed=0)
    lines = dry_run(tmp_path / "w", "--models", str(tmp_path / "models"))
    assert not [ln for ln in lines if "rescore.cli.train" in ln]
    score = next(ln for ln in lines if "--model LSTMR0=" in ln)
    assert f"LSTMR0={tmp_path / 'models' / 'rev-long'}" in score
    assert "--ensemble LSTMR0,LSTMD0" in score


def test_missing_models_are_an_error_before_any_stage(multi30k: Path, tmp_path: Path) -> None:
    """From a user's report: --models DIR without DIR/rev-long failed only at the first
    stage that needed it, after the others had run; now the dry run already says so."""
    result = subprocess.run([sys.executable, str(ROOT / "pipelines/multi30k_longer.py"),
                             "--dry-run", "--workdir", str(tmp_path / "w"), "--models",
                             str(tmp_path / "nowhere")],
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 2 and "no trained model in" in result.stderr
    assert "nowhere/rev-long" in result.stderr and not (tmp_path / "w").exists()


def test_unfinished_models_are_an_error_before_any_stage(tmp_path: Path) -> None:
    """A model folder with only a checkpoint is a training run still going: a pipeline given
    it would report a half-trained model, so it is refused, naming the folder."""
    from pipelines.engine.stages import check_models
    from rescore.errors import RescoreError

    vocab = Vocab([*SPECIALS, "a"])
    done = write_tiny_model(tmp_path / "done", vocab, vocab, seed=0)
    going = write_tiny_model(tmp_path / "going", vocab, vocab, seed=0)
    (going / "model.safetensors").rename(going / "checkpoint.pt")
    check_models([done])
    with pytest.raises(RescoreError, match=r"training has not finished in .*going"):
        check_models([done, going])
    with pytest.raises(RescoreError, match=r"no trained model in .*nowhere.*; training has not"):
        check_models([tmp_path / "nowhere", going])
