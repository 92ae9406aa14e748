"""The commands' work as library calls that return result objects (no subprocess): what a
notebook or another tool would call."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch

from rescore.errors import InputError, RescoreError
from rescore.files import read_lines
from rescore.nbest import read_nbest
from rescore.nbest_run import NbestRequest, run_nbest
from rescore.oracle import run_oracle
from rescore.train import TrainRequest, train_model
from rescore.tune import TuneRequest, tune_weights
from rescore.vocab import Vocab
from tests.helpers import head_of_list, write_tiny_model

SENTENCES = 8


@pytest.fixture(scope="module")
def sliced(multi30k: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lib")
    lines = head_of_list(multi30k / "nbest" / "val.1000best.gz", SENTENCES)
    (root / "val.nbest").write_text("".join(lines), encoding="utf-8")
    for name in ("val.en", "val.fr"):
        text = read_lines(multi30k / name)[:SENTENCES]
        (root / name).write_text("\n".join(text) + "\n", encoding="utf-8")
    src = read_lines(root / "val.en")
    vocab = Vocab.build(Counter(w for s in src for w in s.split()), 50)
    tgt = Vocab.build(Counter(w for ln in lines for w in ln.split("|||")[1].split()), 60)
    return {"nbest": root / "val.nbest", "src": root / "val.en", "ref": root / "val.fr",
            "model": write_tiny_model(root / "m", vocab, tgt, seed=0),
            "weights": multi30k / "moses.ini.tuned"}


def test_run_nbest_returns_its_statistics(sliced: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.nbest"
    result = run_nbest(NbestRequest(nbest=sliced["nbest"], source=sliced["src"],
                                    models=[f"Mine={sliced['model']}"], output_nbest=out,
                                    device=torch.device("cpu")))
    assert result.main and result.stats.sentences == SENTENCES and not result.stats.missing
    assert result.stats.changed_1best == 0  # annotated only: order kept
    assert result.summaries and result.summaries[0].startswith("Mine (")
    block = next(read_nbest(out))
    assert block.schema.names[-1] == "Mine"
    with pytest.raises(RescoreError, match="nothing to write"):
        run_nbest(NbestRequest(nbest=sliced["nbest"]))


def test_tune_weights_and_oracle(sliced: dict[str, Path], tmp_path: Path) -> None:
    annotated = tmp_path / "val.lstm.nbest"
    run_nbest(NbestRequest(nbest=sliced["nbest"], source=sliced["src"],
                           models=[str(sliced["model"])], output_nbest=annotated))
    refs = read_lines(sliced["ref"])
    from rescore.weights import load_weights

    result = tune_weights(TuneRequest(nbest=annotated, references=refs, method="grid",
                                      init=load_weights(sliced["weights"]),
                                      grid=(0.0, 0.1, 0.5)))
    assert result.dev_bleu >= result.dev_bleu_start
    assert result.report["method"] == "grid" and result.report["lambda"] in (0.0, 0.1, 0.5)
    oracle = run_oracle(sliced["nbest"], refs)
    report = oracle.report
    assert report["oracle_bleu"] >= report["baseline_1best_bleu"]  # type: ignore[operator]
    assert len(oracle.texts) == SENTENCES
    with pytest.raises(InputError, match="no hypotheses for 2 of the 10 reference lines"):
        run_oracle(sliced["nbest"], [*refs, "a", "b"], ref_name="refs")


def test_oracle_reports_only_depths_the_list_has(tmp_path: Path) -> None:
    nbest = tmp_path / "l.nbest"
    nbest.write_text("".join(f"0 ||| w{i} ||| F= 1 ||| 1\n" for i in range(12)))
    report = run_oracle(nbest, ["w3"]).report
    assert list(report["oracle_bleu_at_k"]) == ["1", "10"]  # type: ignore[call-overload]


def test_train_model_and_a_failed_start_leaves_no_folder(tmp_path: Path) -> None:
    src, tgt = tmp_path / "s", tmp_path / "t"
    src.write_text("a b c\nb c d\n" * 50)
    tgt.write_text("x y\ny z\n" * 50)
    result = train_model(TrainRequest(output=tmp_path / "m", preset="cpu-tiny", src_train=src,
                                      tgt_train=tgt, max_steps=2))
    assert result.progress.step == 2 and not result.finished and result.parameters > 0
    assert (tmp_path / "m" / "model.safetensors").exists()
    with pytest.raises(RescoreError, match="cannot open"):
        train_model(TrainRequest(output=tmp_path / "bad", preset="cpu-tiny",
                                 src_train=tmp_path / "nowhere", tgt_train=tgt))
    assert not (tmp_path / "bad").exists()
