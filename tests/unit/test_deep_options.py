"""Residual connections and a bidirectional encoder (with and without attention) go through
every path: prefix-trie scoring and channel scoring equal a plain forward pass (a
bidirectional channel model without the encoder trie), beam search reports the scores of
forced decoding, the parameter count is right, and a residual stack's layers add their input
to their output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rescore.beam import Ensemble, SearchConfig, beam_search
from rescore.config import ModelConfig
from rescore.errors import RescoreError
from rescore.model import ResidualLSTM, Seq2Seq, count_parameters
from rescore.model_dir import parameter_count
from rescore.scoring import ChannelStats, score_channel, score_pairs, score_prefix_shared
from rescore.vocab import SPECIALS, Vocab

VOCAB = Vocab([*SPECIALS, *(f"w{i}" for i in range(10))])
OPTIONS = [{"residual": True}, {"bidirectional": True},
           {"residual": True, "bidirectional": True, "attention": "dot"},
           {"bidirectional": True, "attention": "general", "input_feeding": True},
           {"residual": True, "attention": "concat"}]


def tiny(seed: int, **options: object) -> Seq2Seq:
    torch.manual_seed(seed)
    cfg = ModelConfig(src_vocab_size=len(VOCAB), tgt_vocab_size=len(VOCAB), embed_dim=8,
                      hidden_dim=12, num_layers=3, init_range=0.5,
                      **options)  # type: ignore[arg-type]
    return Seq2Seq(cfg).eval()


def words(rng: np.random.Generator, low: int, high: int) -> list[str]:
    return [f"w{i}" for i in rng.integers(0, 10, int(rng.integers(low, high)))]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "+".join(o))
def test_every_scorer_equals_a_plain_pass(options: dict[str, object]) -> None:
    model = tiny(1, **options)
    assert count_parameters(model) == parameter_count(model.config)
    rng = np.random.default_rng(0)
    src = words(rng, 1, 6)
    hyps = [words(rng, 0, 6) for _ in range(12)]
    hyps += [[*h[:2], "w1"] for h in hyps[:4]]  # shared prefixes
    plain = score_pairs(model, VOCAB, VOCAB, [src] * len(hyps), hyps, batch_size=1).totals
    (trie,) = score_prefix_shared(model, [VOCAB.encode(src)],
                                  [[VOCAB.encode(h) for h in hyps]])
    np.testing.assert_allclose(trie, plain, atol=1e-4)
    stats = ChannelStats()
    (channel,) = score_channel(model, [[VOCAB.encode(h) for h in hyps]], [VOCAB.encode(src)],
                               chunk=5, stats=stats)
    expected = score_pairs(model, VOCAB, VOCAB, hyps, [src] * len(hyps), batch_size=1).totals
    np.testing.assert_allclose(channel, expected, atol=1e-4)
    if options.get("bidirectional"):  # no encoder trie: one step per input token
        assert stats.encoder_steps == sum(max(1, len(h)) for h in hyps)
    sources = [VOCAB.encode(words(rng, 1, 7)) for _ in range(4)]
    found = beam_search(Ensemble([model]), sources, SearchConfig(beam=3, nbest=2))
    pairs = [(s, h) for s, hs in zip(sources, found, strict=True) for h in hs]
    forced = score_pairs(model, VOCAB, VOCAB, [VOCAB.decode(s.tolist()) for s, _ in pairs],
                         [VOCAB.decode(h.tokens) for _, h in pairs]).totals
    assert [h.score for _, h in pairs] == pytest.approx(forced.tolist(), abs=1e-4)


def test_a_bidirectional_decoder_starts_from_both_directions() -> None:
    model = tiny(2, bidirectional=True)
    src = torch.tensor([[4, 5, 6, 7]])
    state = model.encode(src, torch.tensor([4]))
    _, (h, _) = model.encoder(model.src_embed(src.flip(1)))  # the source reversed, as read
    assert state.h.shape == (3, 1, 12)
    torch.testing.assert_close(state.h[-1, 0, :6], h[-2, 0])  # top layer, forward
    torch.testing.assert_close(state.h[-1, 0, 6:], h[-1, 0])  # top layer, backward
    with pytest.raises(RescoreError, match="even --hidden-dim"):
        ModelConfig(hidden_dim=11, bidirectional=True)


def test_residual_layers_add_their_input() -> None:
    torch.manual_seed(0)
    stack = ResidualLSTM(4, 4, 2, dropout=0.0).eval()
    x = torch.randn(2, 3, 4)
    out, _ = stack(x)
    first, _ = stack.layers[0](x)
    second, _ = stack.layers[1](first)
    torch.testing.assert_close(out, second + first)
