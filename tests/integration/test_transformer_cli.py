"""rescore-train --arch transformer through every path, on a toy corpus: recorded in
config.json, an interrupted run resumes to the same weights bit for bit, kept checkpoints
average, bf16 autocast trains; rescore-nbest scores with it as a direct, right-to-left and
channel model (the prefix trie against plain passes), rescore-translate searches with it
alone and beside an LSTM (--unk replace, --plot-attention), and subword vocabularies work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rescore import model_dir, scoring
from rescore.models.transformer import Transformer
from rescore.train import TrainRequest, train_model
from tests.helpers import run_cli

WORDS = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"]
TINY = {"src_vocab_size": 40, "tgt_vocab_size": 40, "embed_dim": 16, "hidden_dim": 16,
        "num_layers": 2, "arch": "transformer", "heads": 2, "ff_dim": 32,
        "tie_embeddings": True}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("corpus")
    src = [" ".join(WORDS[(i + k) % 12] for k in range(3 + i % 4)) for i in range(96)]
    tgt = [" ".join(w.upper() for w in reversed(s.split())) for s in src]
    paths = {}
    for name, lines in (("src", src), ("tgt", tgt), ("vsrc", src[:16]), ("vtgt", tgt[:16])):
        paths[name] = root / f"{name}.txt"
        paths[name].write_text("".join(ln + "\n" for ln in lines))
    nbest = []
    for i, s in enumerate(src[:3]):
        words = [w.upper() for w in reversed(s.split())]
        for j in range(4):
            hyp = words[: len(words) - j] if j < 3 else [*words[:-1], "ZZ"]
            nbest.append(f"{i} ||| {' '.join(hyp)} ||| LM0= -{j + 1} ||| -{j + 1}\n")
    paths["nbest"] = root / "list.nbest"
    paths["nbest"].write_text("".join(nbest))
    paths["src3"] = root / "src3.txt"
    paths["src3"].write_text("".join(s + "\n" for s in src[:3]))
    return paths


def request(corpus: dict[str, Path], out: Path, reverse: bool = False,
            **model: object) -> TrainRequest:
    src, tgt = ("tgt", "src") if reverse else ("src", "tgt")
    return TrainRequest(out, preset="cpu-tiny", src_train=corpus[src], tgt_train=corpus[tgt],
                        src_valid=corpus["v" + src], tgt_valid=corpus["v" + tgt],
                        src_lang="fr" if reverse else "en", tgt_lang="en" if reverse else "fr",
                        model_overrides={**TINY, **model},
                        train_overrides={"batch_size": 16, "epochs": 3.0, "optimizer": "adam",
                                         "lr": 0.01, "warmup_steps": 6,
                                         "lr_schedule": "inverse-sqrt", "label_smoothing": 0.1,
                                         "checkpoint_every": 1000},
                        keep_checkpoints=3)


@pytest.fixture(scope="module")
def models(corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    out = {"direct": root / "direct", "r2l": root / "r2l", "channel": root / "channel",
           "lstm": root / "lstm"}
    train_model(request(corpus, out["direct"]))
    train_model(request(corpus, out["r2l"], reverse_target=True))
    train_model(request(corpus, out["channel"], reverse=True))
    lstm = request(corpus, out["lstm"])
    lstm.model_overrides = {k: v for k, v in TINY.items()
                            if k not in ("arch", "heads", "ff_dim")} | {"attention": "dot"}
    train_model(lstm)
    return out


def test_the_config_records_the_architecture_and_resumes_exactly(
        corpus: dict[str, Path], models: dict[str, Path], tmp_path: Path) -> None:
    config = json.loads((models["direct"] / model_dir.CONFIG).read_text())
    assert config["model"]["arch"] == "transformer" and config["model"]["heads"] == 2
    assert config["train"]["lr_schedule"] == "inverse-sqrt"
    assert isinstance(model_dir.load(models["direct"]).model, Transformer)
    part = request(corpus, tmp_path / "cut")
    part.max_steps = 7  # mid-epoch, Adam's moments and the schedule under way
    assert not train_model(part).finished
    assert train_model(TrainRequest(tmp_path / "cut", resume=True)).finished
    a = model_dir.read_state(models["direct"])[1]
    b = model_dir.read_state(tmp_path / "cut")[1]
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=0, rtol=0)


def test_kept_checkpoints_average(models: dict[str, Path], tmp_path: Path) -> None:
    result = run_cli("rescore-model", "average", models["direct"], "--last", "2", "--output",
                     tmp_path / "avg")
    assert result.returncode == 0, result.stderr
    assert isinstance(model_dir.load(tmp_path / "avg").model, Transformer)
    info = run_cli("rescore-model", "info", tmp_path / "avg")
    assert info.returncode == 0 and "Transformer" in json.loads(info.stdout)["shape"]


def test_bf16_autocast_trains(corpus: dict[str, Path], tmp_path: Path) -> None:
    if not scoring.cpu_has_bf16():
        pytest.skip("this CPU has no native bf16")
    req = request(corpus, tmp_path / "bf16")
    req.precision, req.max_steps = "bf16", 6
    result = train_model(req)
    assert result.progress.step == 6
    state = model_dir.read_state(tmp_path / "bf16")[1]
    assert all(bool(torch.isfinite(t).all()) for t in state.values())


def scores_of(path: Path, feature: str) -> list[float]:
    out = []
    for line in path.read_text().splitlines():
        fields = line.split("|||")[2].split()
        out.append(float(fields[fields.index(f"{feature}=") + 1]))
    return out


def test_nbest_scores_as_direct_right_to_left_and_channel_model(
        corpus: dict[str, Path], models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "scored.nbest"
    result = run_cli("rescore-nbest", "--nbest", corpus["nbest"], "--source", corpus["src3"],
                     "--model", f"T={models['direct']}", "--model", f"R={models['r2l']}",
                     "--model", f"L={models['lstm']}", "--channel-model",
                     f"C={models['channel']}", "--output-nbest", out)
    assert result.returncode == 0, result.stderr
    sources = [s.split() for s in corpus["src3"].read_text().splitlines()]
    lines = corpus["nbest"].read_text().splitlines()
    hyps = [ln.split("|||")[1].split() for ln in lines]
    srcs = [sources[int(ln.split("|||")[0])] for ln in lines]
    for name, key, swap, rtl in (("T", "direct", False, False), ("R", "r2l", False, True),
                                 ("C", "channel", True, False)):
        loaded = model_dir.load(models[key])
        a, b = (hyps, srcs) if swap else (srcs, hyps)
        plain = scoring.score_pairs(loaded.model, loaded.src_vocab, loaded.tgt_vocab, a, b,
                                    reverse_target=rtl)
        np.testing.assert_allclose(scores_of(out, name), plain.totals, atol=2e-4, rtol=0)


def test_translate_alone_and_in_a_mixed_ensemble(corpus: dict[str, Path],
                                                 models: dict[str, Path],
                                                 tmp_path: Path) -> None:
    for name, extra in (("alone", []), ("mixed", ["--model", models["lstm"]])):
        out = tmp_path / f"{name}.txt"
        result = run_cli("rescore-translate", "--model", models["direct"], *extra, "--input",
                         corpus["src3"], "--output", out, "--output-nbest",
                         tmp_path / f"{name}.nbest", "--beam", "3", "--unk", "replace",
                         "--plot-attention", tmp_path / f"plots-{name}")
        assert result.returncode == 0, result.stderr
        assert len(out.read_text().splitlines()) == 3
        assert sorted(p.name for p in (tmp_path / f"plots-{name}").iterdir()) == \
            ["1.png", "2.png", "3.png"]
    # the toy task is learnable: the Transformer alone gets some words right
    got = (tmp_path / "alone.txt").read_text().split()
    assert {w for w in got} & {w.upper() for w in WORDS}


def test_subword_vocabularies(multi30k: Path, tmp_path: Path) -> None:
    import gzip

    paths = {}
    for side in ("en", "fr"):
        with gzip.open(multi30k / f"train.{side}.gz", "rt", encoding="utf-8") as f:
            paths[side] = tmp_path / f"train.{side}"
            paths[side].write_text("".join(next(f) for _ in range(300)))
    out = tmp_path / "model"
    args = ["--preset", "cpu-tiny", "--arch", "transformer", "--heads", "2", "--ff-dim", "32",
            "--src-train", paths["en"], "--tgt-train", paths["fr"], "--subwords", "bpe",
            "--max-steps", "5", "--output", out, "--no-progress"]
    # too few pieces for the text's characters: one line from sentencepiece's own check
    small = run_cli("rescore-train", *args, "--src-vocab-size", "300", "--tgt-vocab-size",
                    "300")
    assert small.returncode == 2 and "give a larger vocabulary size" in small.stderr, \
        small.stderr
    assert not out.exists()
    result = run_cli("rescore-train", *args, "--src-vocab-size", "600", "--tgt-vocab-size",
                     "600")
    assert result.returncode == 0, result.stderr
    source = tmp_path / "src.txt"
    source.write_text("a man is riding a bicycle .\n")
    translated = run_cli("rescore-translate", "--model", out, "--input", source, "--output",
                         tmp_path / "o.txt", "--beam", "2", "--max-len-b", "4")
    assert translated.returncode == 0, translated.stderr
    assert "\u2581" not in (tmp_path / "o.txt").read_text()  # words, not pieces


def test_shared_embeddings_get_one_vocabulary(multi30k: Path, tmp_path: Path) -> None:
    """--share-embeddings builds one vocabulary from both sides (words, or one sentencepiece
    model trained on both), so a shared row means one token on both sides; two different
    given models are refused in one line."""
    import gzip

    paths = {}
    for side in ("en", "fr"):
        with gzip.open(multi30k / f"train.{side}.gz", "rt", encoding="utf-8") as f:
            paths[side] = tmp_path / f"train.{side}"
            paths[side].write_text("".join(next(f) for _ in range(300)))
    base = ["--preset", "cpu-tiny", "--arch", "transformer", "--heads", "2", "--ff-dim", "32",
            "--src-train", paths["en"], "--tgt-train", paths["fr"], "--max-steps", "2",
            "--share-embeddings", "--src-vocab-size", "700", "--tgt-vocab-size", "700",
            "--no-progress"]
    words = tmp_path / "words"
    result = run_cli("rescore-train", *base, "--output", words)
    assert result.returncode == 0, result.stderr
    vocab = (words / "src.vocab").read_text()
    assert vocab == (words / "tgt.vocab").read_text()
    assert {"man", "homme"} <= set(vocab.split())  # the words of both languages
    pieces = tmp_path / "pieces"
    result = run_cli("rescore-train", *base, "--subwords", "bpe", "--output", pieces)
    assert result.returncode == 0, result.stderr
    assert (pieces / "src.spm").read_bytes() == (pieces / "tgt.spm").read_bytes()
    assert (pieces / "src.vocab").read_text() == (pieces / "tgt.vocab").read_text()
    # separate models (each side's own) are refused with shared embeddings
    separate = tmp_path / "separate"
    result = run_cli("rescore-train", *base[:-6], "--subwords", "bpe", "--src-vocab-size",
                     "700", "--tgt-vocab-size", "700", "--no-progress", "--output", separate)
    assert result.returncode == 0, result.stderr
    refused = run_cli("rescore-train", *base, "--src-spm", separate / "src.spm", "--tgt-spm",
                      separate / "tgt.spm", "--output", tmp_path / "refused")
    assert refused.returncode != 0 and "differ" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    assert not (tmp_path / "refused").exists()
