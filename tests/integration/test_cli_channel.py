"""rescore-nbest with every kind of evidence at once (direct, right-to-left, channel models,
their ensembles, KenLM) on real lists; the models' directions are checked."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rescore.nbest import read_nbest
from tests.helpers import head_of_list, run_cli, write_tiny_model

SENTENCES = 6


@pytest.fixture(scope="module")
def setup(multi30k: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("channel")
    lines = head_of_list(multi30k / "nbest" / "test2016.100best-align.gz", SENTENCES)
    (root / "list.nbest").write_text("".join(lines), encoding="utf-8")
    src = (multi30k / "test2016.en").read_text(encoding="utf-8").splitlines()[:SENTENCES]
    (root / "src.en").write_text("\n".join(src) + "\n", encoding="utf-8")
    from rescore.vocab import Vocab

    en = Vocab.build(Counter(w for s in src for w in s.split()), 60)
    fr = Vocab.build(Counter(w for ln in lines for w in ln.split("|||")[1].split()), 80)
    return {"nbest": root / "list.nbest", "src": root / "src.en",
            # models with attention beside models without: in one ensemble each
            "direct": write_tiny_model(root / "direct", en, fr, 0, languages=("en", "fr"),
                                       attention="general"),
            "r2l": write_tiny_model(root / "r2l", en, fr, 1, languages=("en", "fr"),
                                    right_to_left=True),
            "ch0": write_tiny_model(root / "ch0", fr, en, 2, languages=("fr", "en")),
            "ch1": write_tiny_model(root / "ch1", fr, en, 3, languages=("fr", "en"),
                                    attention="concat"),
            "lm": multi30k / "lm" / "train.fr.5g.arpa.gz"}


def every_feature(setup: dict[str, Path]) -> list[str]:
    return [str(a) for a in (
        "--nbest", setup["nbest"], "--source", setup["src"], "--model", setup["direct"],
        "--model", f"LSTMR2L0={setup['r2l']}", "--ensemble", "--channel-model", setup["ch0"],
        "--channel-model", setup["ch1"], "--channel-ensemble", "--lm", setup["lm"])]


def test_every_feature_at_once(setup: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "all.nbest"
    result = run_cli("rescore-nbest", *every_feature(setup), "--output-nbest", out)
    assert result.returncode == 0, result.stderr
    blocks = list(read_nbest(out))
    assert len(blocks) == SENTENCES
    names = blocks[0].schema.names
    assert names[-7:] == ("LSTM0", "LSTMR2L0", "Channel0", "Channel1", "KenLM0",
                          "LSTMEnsemble0", "ChannelEnsemble0")
    b = blocks[0]
    np.testing.assert_allclose(b.feature("ChannelEnsemble0")[:, 0],
                               (b.feature("Channel0")[:, 0] + b.feature("Channel1")[:, 0]) / 2,
                               atol=1e-4)  # 6 digits printed
    assert (b.feature("Channel0") < 0).all() and "channel model" in result.stderr
    # the models with attention: equal to a plain forward pass, pair by pair
    from rescore import model_dir
    from rescore.scoring import score_pairs

    src = setup["src"].read_text(encoding="utf-8").splitlines()
    direct, channel = model_dir.load(setup["direct"]), model_dir.load(setup["ch1"])
    for k, block in enumerate(blocks[:3]):
        hyps = [h.split() for h in block.hypotheses]
        plain = score_pairs(direct.model, direct.src_vocab, direct.tgt_vocab,
                            [src[k].split()] * len(hyps), hyps).totals
        np.testing.assert_allclose(block.feature("LSTM0")[:, 0], plain, atol=1e-4)
        plain = score_pairs(channel.model, channel.src_vocab, channel.tgt_vocab, hyps,
                            [src[k].split()] * len(hyps)).totals
        np.testing.assert_allclose(block.feature("Channel1")[:, 0], plain, atol=1e-4)


@pytest.mark.parametrize(("extra", "message"), [
    (["--channel-model", "DIRECT"], "a model from en to fr, but --channel-model takes models "
     "from fr to en"),
    (["--model", "CH0"], "a model from fr to en, but --model takes models from en to fr"),
    (["--model", "DIRECT", "--src-lang", "de"], "a model from en to fr"),
    (["--channel-model", "CH0", "--channel-ensemble"], "needs at least two --channel-model"),
])
def test_directions_are_checked(setup: dict[str, Path], tmp_path: Path, extra: list[str],
                                message: str) -> None:
    names = {"DIRECT": setup["direct"], "CH0": setup["ch0"]}
    out = tmp_path / "o.nbest"
    result = run_cli("rescore-nbest", "--nbest", setup["nbest"], "--source", setup["src"],
                     *[str(names.get(a, a)) for a in extra], "--output-nbest", out)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not out.exists()


def test_search_refuses_mixed_directions(setup: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "t.txt"
    result = run_cli("rescore-translate", "--model", setup["direct"], "--model", setup["r2l"],
                     "--input", setup["src"], "--output", out)
    assert result.returncode == 2 and "cannot search together" in result.stderr
    alone = run_cli("rescore-translate", "--model", setup["r2l"], "--input", setup["src"],
                    "--output", out, "--beam", "2")
    assert alone.returncode == 0, alone.stderr


@pytest.mark.system  # DDP: two processes under torchrun
def test_two_processes_write_what_one_writes(setup: dict[str, Path], tmp_path: Path) -> None:
    """Right-to-left and channel models (and their ensembles) go through the same sharded
    driver as the direct models: two processes write byte for byte what one writes."""
    args = [*every_feature(setup), "--combine", "average"]
    one = run_cli("rescore-nbest", *args, "--output-nbest", tmp_path / "one.nbest",
                  "--output-1best", tmp_path / "one.1best")
    assert one.returncode == 0, one.stderr
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "rescore.cli.nbest", *args, "--output-nbest", str(tmp_path / "two.nbest"),
         "--output-1best", str(tmp_path / "two.1best")],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
        check=False, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    for name in ("nbest", "1best"):
        assert (tmp_path / f"one.{name}").read_bytes() == (tmp_path / f"two.{name}").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "one.1best", "one.nbest", "two.1best", "two.nbest"]  # shards removed
    names = next(iter(read_nbest(tmp_path / "two.nbest"))).schema.names
    assert names[-7:] == ("LSTM0", "LSTMR2L0", "Channel0", "Channel1", "KenLM0",
                          "LSTMEnsemble0", "ChannelEnsemble0")


def test_word_count_feature(setup: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "wc.nbest"
    result = run_cli("rescore-nbest", "--nbest", setup["nbest"], "--word-count",
                     "--output-nbest", out)
    assert result.returncode == 0, result.stderr
    for block in read_nbest(out):
        assert block.schema.names[-1] == "WordCount0"
        assert list(block.feature("WordCount0")[:, 0]) == [len(h.split())
                                                           for h in block.hypotheses]


def test_per_word_feature_divides_by_tokens_plus_end_of_sentence(setup: dict[str, Path],
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "pw.nbest"
    result = run_cli("rescore-nbest", "--nbest", setup["nbest"], "--word-count",
                     "--per-word", "LM0,WordCount0", "--output-nbest", out)
    assert result.returncode == 0, result.stderr
    for block in read_nbest(out):
        assert block.schema.names[-3:] == ("WordCount0", "PerWordLM0", "PerWordWordCount0")
        lengths = np.array([len(h.split()) + 1 for h in block.hypotheses])
        assert np.allclose(block.feature("PerWordLM0")[:, 0] * lengths,
                           block.feature("LM0")[:, 0], atol=1e-3)
        assert np.allclose(block.feature("PerWordWordCount0")[:, 0], (lengths - 1) / lengths,
                           atol=1e-5)
    bad = run_cli("rescore-nbest", "--nbest", setup["nbest"], "--per-word", "Nope0",
                  "--output-nbest", tmp_path / "bad.nbest")
    assert bad.returncode != 0 and "no feature Nope0" in bad.stderr
    assert not (tmp_path / "bad.nbest").exists()
