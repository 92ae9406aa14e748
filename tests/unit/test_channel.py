"""Channel and right-to-left scores equal a plain forward pass, one pair at a time."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from rescore.config import ModelConfig, TrainConfig
from rescore.features import ChannelFeature, LSTMFeature
from rescore.model import Seq2Seq
from rescore.model_dir import SRC_VOCAB, TGT_VOCAB, save_config, save_weights
from rescore.nbest import read_nbest
from rescore.scoring import ChannelStats, score_channel, score_pairs
from rescore.vocab import SPECIALS, Vocab

WORDS = [f"w{i}" for i in range(12)]
VOCAB = Vocab([*SPECIALS, *WORDS])


def tiny(seed: int, **config: bool) -> Seq2Seq:
    torch.manual_seed(seed)
    cfg = ModelConfig(src_vocab_size=len(VOCAB), tgt_vocab_size=len(VOCAB), embed_dim=8,
                      hidden_dim=10, num_layers=2, **config)
    return Seq2Seq(cfg).eval()


def hypotheses(rng: np.random.Generator, n: int) -> list[list[str]]:
    """Hypotheses that end alike and repeat (some empty, some out of the vocabulary)."""
    tail = [str(w) for w in rng.choice(WORDS, 4)]
    return [[str(w) for w in rng.choice([*WORDS, "oov"], int(rng.integers(0, 3)))]
            + tail[int(rng.integers(0, 5)):] for _ in range(n)]


@pytest.mark.parametrize(("seed", "reverse_source"), [(0, True), (1, False), (2, True)])
def test_channel_scores_equal_one_pair_at_a_time(seed: int, reverse_source: bool) -> None:
    model = tiny(seed, reverse_source=reverse_source)
    rng = np.random.default_rng(seed)
    sources = [[str(w) for w in rng.choice(WORDS, int(rng.integers(1, 7)))] for _ in range(3)]
    hyps = [hypotheses(rng, 25) for _ in sources]
    stats = ChannelStats()
    got = score_channel(model, [[VOCAB.encode(h) for h in hs] for hs in hyps],
                        [VOCAB.encode(s) for s in sources], chunk=7, stats=stats)
    for src, hs, scores in zip(sources, hyps, got, strict=True):
        # the hypothesis is the model's input, the source its output
        expected = score_pairs(model, VOCAB, VOCAB, hs, [src] * len(hs), batch_size=1).totals
        np.testing.assert_allclose(scores, expected, atol=1e-4)
    reading = [tuple(VOCAB.encode(h).tolist()[::-1 if reverse_source else 1]) or (3,)
               for hs in hyps for h in hs]
    prefixes = {r[:t] for r in reading for t in range(1, len(r) + 1)}
    assert stats.encoder_steps == len(prefixes)  # one step per distinct prefix, all sentences
    assert stats.input_tokens == sum(len(r) for r in reading)


def write_model(directory: Path, model: Seq2Seq, languages: tuple[str, str]) -> Path:
    directory.mkdir()
    save_config(directory, model.config, TrainConfig(),
                {"languages": {"source": languages[0], "target": languages[1]}})
    VOCAB.save(directory / SRC_VOCAB)
    VOCAB.save(directory / TGT_VOCAB)
    save_weights(model, directory)
    return directory


def test_features_of_channel_and_right_to_left_models(tmp_path: Path) -> None:
    nbest = tmp_path / "l.nbest"
    nbest.write_text("0 ||| w1 w2 w3 ||| LM0= -1 ||| -4\n0 ||| w5 w2 w3 ||| LM0= -2 ||| -3\n"
                     "0 ||| w1 w2 w3 ||| LM0= -1.5 ||| -5\n0 ||| ||| LM0= -9 ||| -9\n")
    block = next(read_nbest(nbest))
    src = ["w4", "w5", "w6"]
    hyps = [h.split() for h in block.hypotheses]
    channel = tiny(3)
    feature = ChannelFeature(write_model(tmp_path / "fr-en", channel, ("fr", "en")))
    values = feature.score_block(block, " ".join(src))[:, 0]
    plain = score_pairs(channel, VOCAB, VOCAB, hyps, [src] * 4, batch_size=1).totals
    np.testing.assert_allclose(values, plain, atol=1e-4)
    assert values[0] == values[2]  # a repeated hypothesis is scored once
    r2l = tiny(4, reverse_target=True)
    lstm = LSTMFeature(write_model(tmp_path / "r2l", r2l, ("en", "fr")))
    values = lstm.score_block(block, " ".join(src))[:, 0]
    # the model's probability of the hypothesis read right to left
    plain = score_pairs(r2l, VOCAB, VOCAB, [src] * 4, [h[::-1] for h in hyps],
                        batch_size=1).totals
    np.testing.assert_allclose(values, plain, atol=1e-4)
    same_weights = Seq2Seq(dataclasses.replace(r2l.config, reverse_target=False)).eval()
    same_weights.load_state_dict(r2l.state_dict())
    left_to_right = score_pairs(same_weights, VOCAB, VOCAB, [src] * 4, hyps).totals
    assert not np.allclose(values[:3], left_to_right[:3])  # the order is the model's own
