"""Prefix-shared LSTM scoring equals a plain forward pass, one hypothesis at a time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rescore.config import ModelConfig, TrainConfig
from rescore.features import MeanFeature
from rescore.features.lstm import LSTMFeature
from rescore.model import Seq2Seq
from rescore.model_dir import SRC_VOCAB, TGT_VOCAB, save_config, save_weights
from rescore.nbest import read_nbest
from rescore.rerank import AverageCombiner, rerank_block
from rescore.scoring import TrieStats, score_pairs, score_prefix_shared
from rescore.vocab import SPECIALS, Vocab

WORDS = [f"w{i}" for i in range(12)]


def tiny_model(seed: int = 0) -> tuple[Seq2Seq, Vocab]:
    vocab = Vocab([*SPECIALS, *WORDS])
    torch.manual_seed(seed)
    cfg = ModelConfig(src_vocab_size=len(vocab), tgt_vocab_size=len(vocab), embed_dim=8,
                      hidden_dim=10, num_layers=2)
    return Seq2Seq(cfg).eval(), vocab


def nbest_like(rng: np.random.Generator, n: int) -> list[list[str]]:
    """Hypotheses sharing prefixes and repeating, as n-best lists do (some empty, some OOV)."""
    stem = [str(w) for w in rng.choice(WORDS, 5)]
    out = []
    for _ in range(n):
        cut = int(rng.integers(0, 6))
        tail = [str(w) for w in rng.choice([*WORDS, "oov"], int(rng.integers(0, 3)))]
        out.append(stem[:cut] + tail)
    return out


@pytest.mark.parametrize("seed", range(3))
def test_prefix_sharing_equals_one_at_a_time(seed: int) -> None:
    model, vocab = tiny_model(seed)
    rng = np.random.default_rng(seed)
    sources = [[str(w) for w in rng.choice(WORDS, int(rng.integers(0, 7)))] for _ in range(4)]
    hyps = [nbest_like(rng, 30) for _ in sources]
    stats = TrieStats()
    shared = score_prefix_shared(model, [vocab.encode(s) for s in sources],
                                 [[vocab.encode(h) for h in hs] for hs in hyps], stats=stats,
                                 node_batch=7)
    for src, hs, got in zip(sources, hyps, shared, strict=True):
        expected = score_pairs(model, vocab, vocab, [src] * len(hs), hs, batch_size=1).totals
        np.testing.assert_allclose(got, expected, atol=1e-4)
    distinct_prefixes = {(k, tuple(h[:t])) for k, hs in enumerate(hyps) for h in hs
                         for t in range(len(h) + 1)}
    assert stats.decoder_steps == len(distinct_prefixes)  # one step per distinct prefix
    assert stats.tokens == sum(len(h) + 1 for hs in hyps for h in hs)


def test_lstm_feature_in_a_list(tmp_path: Path) -> None:
    model, vocab = tiny_model()
    directory = tmp_path / "model"
    directory.mkdir()
    save_config(directory, model.config, TrainConfig(), {})
    vocab.save(directory / SRC_VOCAB)
    vocab.save(directory / TGT_VOCAB)
    save_weights(model, directory)
    nbest = tmp_path / "l.nbest"
    nbest.write_text("0 ||| w1 w2 ||| LM0= -1 ||| -4\n0 ||| w1 w3 ||| LM0= -2 ||| -3\n"
                     "0 ||| w1 w2 ||| LM0= -1.5 ||| -5\n")
    block = next(read_nbest(nbest))
    feature = LSTMFeature(directory)
    values = feature.score_block(block, "w4 w5")
    expected = score_pairs(model, vocab, vocab, [["w4", "w5"]] * 3,
                           [h.split() for h in block.hypotheses]).totals
    np.testing.assert_allclose(values[:, 0], expected, atol=1e-5)
    assert values[0, 0] == values[2, 0]  # the repeated string scored once
    with_lstm = block.with_feature("LSTM0", values).with_feature("LSTM1", values + 1.0)
    ensemble = MeanFeature("LSTMEnsemble0", ("LSTM0", "LSTM1"))
    mean = ensemble.values(with_lstm)
    np.testing.assert_allclose(mean, values[:, 0] + 0.5)
    ranked = rerank_block(with_lstm, AverageCombiner("LSTM0"))
    np.testing.assert_allclose(sorted(ranked.totals, reverse=True), ranked.totals)
    np.testing.assert_allclose(
        sorted(ranked.totals), sorted(0.5 * block.totals + 0.5 * values[:, 0]))
