"""rescore-train --subwords end to end: the sentencepiece models land in the model directory,
every command applies them without being told (rescore-nbest scores word hypotheses,
rescore-translate writes words, --detokenize works), and a model can reuse another's
sentencepiece models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rescore import model_dir
from rescore.vocab import SubwordVocab
from tests.helpers import head_of_list, run_cli


@pytest.fixture(scope="module")
def trained(multi30k: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import gzip

    root = tmp_path_factory.mktemp("subwords")
    paths = {}
    for side in ("en", "fr"):
        with gzip.open(multi30k / f"train.{side}.gz", "rt", encoding="utf-8") as f:
            lines = [next(f) for _ in range(400)]
        paths[side] = root / f"train.{side}"
        paths[side].write_text("".join(lines))
    out = root / "model"
    result = run_cli("rescore-train", "--preset", "cpu-tiny", "--src-train", paths["en"],
                     "--tgt-train", paths["fr"], "--src-valid", multi30k / "val.en",
                     "--tgt-valid", multi30k / "val.fr", "--subwords", "unigram",
                     "--src-vocab-size", "600", "--tgt-vocab-size", "600", "--attention",
                     "dot", "--max-steps", "20", "--output", out, "--no-progress")
    assert result.returncode == 0, result.stderr
    paths["model"] = out
    return paths


def test_the_model_directory_holds_and_applies_its_segmentation(trained: dict[str, Path],
                                                                multi30k: Path,
                                                                tmp_path: Path) -> None:
    model = trained["model"]
    assert (model / "src.spm").exists() and (model / "tgt.spm").exists()
    config = json.loads((model / model_dir.CONFIG).read_text())
    assert config["subwords"]["type"] == "unigram" and config["model"]["tgt_vocab_size"] <= 600
    loaded = model_dir.load(model)
    assert isinstance(loaded.src_vocab, SubwordVocab)
    record = [json.loads(ln) for ln in (model / model_dir.LOG).read_text().splitlines()
              if '"valid"' in ln][-1]
    assert record["ppl_word"] > record["ppl"]  # more pieces than words: per word is larger
    nbest = tmp_path / "l.nbest"
    nbest.write_text("".join(head_of_list(multi30k / "nbest/val.1000best.gz", 2)))
    val = tmp_path / "val.en"
    val.write_text("".join((multi30k / "val.en").read_text().splitlines(True)[:2]))
    result = run_cli("rescore-nbest", "--nbest", nbest, "--source", val,
                     "--model", model, "--output-nbest", tmp_path / "out.nbest")
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "out.nbest").read_text().splitlines()
    assert len(lines) == 2000 and all(" LSTM0= -" in ln for ln in lines)
    source = tmp_path / "src.en"
    source.write_text("a man in a blue shirt is playing the guitar .\n\ntwo dogs run .\n")
    result = run_cli("rescore-translate", "--model", model, "--input", source, "--output",
                     tmp_path / "out.txt", "--beam", "3", "--unk", "replace", "--detokenize",
                     "--plot-attention", tmp_path / "att")
    assert result.returncode == 0, result.stderr
    out = (tmp_path / "out.txt").read_text().splitlines()
    assert len(out) == 3 and out[1] == ""
    assert "\u2581" not in "".join(out)  # words, not pieces
    assert (tmp_path / "att" / "1.png").exists()


def test_a_model_reuses_given_sentencepiece_models(trained: dict[str, Path],
                                                   multi30k: Path, tmp_path: Path) -> None:
    model = trained["model"]
    out = tmp_path / "again"
    result = run_cli("rescore-train", "--preset", "cpu-tiny", "--src-train", trained["en"],
                     "--tgt-train", trained["fr"], "--src-spm", model / "src.spm",
                     "--tgt-spm", model / "tgt.spm", "--max-steps", "2", "--output", out,
                     "--no-progress")
    assert result.returncode == 0, result.stderr
    assert model_dir.load(out).tgt_vocab.fingerprint() == \
        model_dir.load(model).tgt_vocab.fingerprint()  # members of one ensemble
    bad = tmp_path / "bad.spm"
    bad.write_text("not a model")
    result = run_cli("rescore-train", "--preset", "cpu-tiny", "--src-train", trained["en"],
                     "--tgt-train", trained["fr"], "--src-spm", bad, "--tgt-spm", bad,
                     "--output", tmp_path / "x", "--no-progress")
    assert result.returncode == 2 and "not a sentencepiece model" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "x").exists()
