"""The recipe options of rescore-train (Adam, warm-up, the plateau schedule, label smoothing,
early stopping, tied embeddings, kept checkpoints) on a tiny corpus, in-process: an interrupted
run resumes to exactly the weights of an uninterrupted one, patience stops training, and
rescore-model average writes the element-wise mean of the chosen checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rescore import model_dir
from rescore.tensor_files import load_tensors
from rescore.train import TrainRequest, train_model
from tests.helpers import run_cli

MODEL = {"src_vocab_size": 40, "tgt_vocab_size": 40, "embed_dim": 16, "hidden_dim": 16,
         "num_layers": 1, "attention": "dot"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("corpus")
    words = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"]
    src = [" ".join(words[(i + k) % 12] for k in range(3 + i % 4)) for i in range(96)]
    tgt = [" ".join(reversed(s.split())) for s in src]
    paths = {}
    for name, lines in (("src", src), ("tgt", tgt), ("vsrc", src[:16]), ("vtgt", tgt[:16])):
        paths[name] = root / f"{name}.txt"
        paths[name].write_text("".join(ln + "\n" for ln in lines))
    return paths


def request(corpus: dict[str, Path], out: Path, **train: object) -> TrainRequest:
    options = {"batch_size": 16, "epochs": 3.0, "optimizer": "adam", "lr": 0.01,
               "warmup_steps": 4, "lr_schedule": "plateau", "label_smoothing": 0.1,
               "checkpoint_every": 1000, **train}
    return TrainRequest(out, preset="cpu-tiny", src_train=corpus["src"], tgt_train=corpus["tgt"],
                        src_valid=corpus["vsrc"], tgt_valid=corpus["vtgt"],
                        model_overrides={**MODEL, "tie_embeddings": True},
                        train_overrides=options, keep_checkpoints=3)


def test_an_interrupted_adam_run_resumes_exactly(corpus: dict[str, Path],
                                                 tmp_path: Path) -> None:
    whole = train_model(request(corpus, tmp_path / "whole"))
    assert whole.finished and whole.total_steps == 18
    part = request(corpus, tmp_path / "cut")
    part.max_steps = 7  # mid-epoch, after the warm-up, with Adam's moments built up
    assert not train_model(part).finished
    resumed = train_model(TrainRequest(tmp_path / "cut", resume=True))
    assert resumed.finished
    a = model_dir.read_state(tmp_path / "whole")[1]
    b = model_dir.read_state(tmp_path / "cut")[1]
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=0, rtol=0)
    config = json.loads((tmp_path / "cut" / model_dir.CONFIG).read_text())
    assert config["train"]["optimizer"] == "adam" and config["model"]["tie_embeddings"]
    assert config["keep_checkpoints"] == 3


def test_patience_stops_a_run_that_no_longer_improves(corpus: dict[str, Path],
                                                      tmp_path: Path) -> None:
    """With a learning rate of 0 nothing changes: the first validation is the best, the next
    two are not better, and patience 2 stops the run there (3 validations of 6)."""
    result = train_model(request(corpus, tmp_path / "m", lr=0.0, patience=2))
    assert result.finished and result.progress.stopped_early
    assert result.progress.step == 9 and result.total_steps == 18
    valid = [json.loads(ln) for ln in (tmp_path / "m" / model_dir.LOG).read_text().splitlines()
             if '"valid"' in ln]
    assert len(valid) == 3 and (tmp_path / "m" / model_dir.MODEL).exists()


def test_average_is_the_mean_of_the_chosen_checkpoints(corpus: dict[str, Path],
                                                       tmp_path: Path) -> None:
    train_model(request(corpus, tmp_path / "m"))
    kept = model_dir.kept_checkpoints(tmp_path / "m")
    # the last 3 and the best 3 validations are kept, the others deleted
    assert 3 <= len(kept) <= 6 and kept[-1][0] == 18
    result = run_cli("rescore-model", "average", tmp_path / "m", "--last", "3", "--output",
                     tmp_path / "avg")
    assert result.returncode == 0, result.stderr
    assert "validation perplexity" in result.stdout
    states = [load_tensors(tmp_path / "m" / name) for _, _, name in kept[-3:]]
    averaged = model_dir.read_state(tmp_path / "avg")[1]
    for name, tensor in averaged.items():
        torch.testing.assert_close(tensor, sum(s[name] for s in states) / 3, atol=1e-6, rtol=0)
    record = json.loads((tmp_path / "avg" / model_dir.CONFIG).read_text())["weights"]["from"]
    assert [c["step"] for c in record["checkpoints"]] == [k[0] for k in kept[-3:]]
    best = sorted(sorted(kept, key=lambda k: k[1])[:2])
    model_dir.average(tmp_path / "m", tmp_path / "best", 2, "best")
    record = json.loads((tmp_path / "best" / model_dir.CONFIG).read_text())["weights"]["from"]
    assert [c["step"] for c in record["checkpoints"]] == [k[0] for k in best]
    model_dir.load(tmp_path / "best")  # a whole model directory
    too_many = run_cli("rescore-model", "average", tmp_path / "m", "--last", "9", "--output",
                       tmp_path / "x")
    assert too_many.returncode == 2 and "cannot average 9" in too_many.stderr
    assert not (tmp_path / "x").exists()
