"""The LSTM encoder-decoder: init, reversal, the encode/step interface, scoring."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from rescore.config import PRESETS, ModelConfig
from rescore.corpus import make_batch
from rescore.model import Seq2Seq, reverse_padded
from rescore.scoring import score_pairs
from rescore.vocab import BOS_ID, EOS_ID, SPECIALS, Vocab

TINY = ModelConfig(src_vocab_size=30, tgt_vocab_size=25, embed_dim=8, hidden_dim=12,
                   num_layers=2)


def model(reverse: bool = True, seed: int = 0) -> Seq2Seq:
    torch.manual_seed(seed)
    return Seq2Seq(dataclasses.replace(TINY, reverse_source=reverse)).eval()


def test_uniform_init_range() -> None:
    params = torch.cat([p.detach().flatten() for p in model().parameters()])
    assert params.abs().max() <= 0.08
    assert params.min() < -0.07 and params.max() > 0.07  # fills the range, not a narrow init
    assert abs(float(params.mean())) < 0.01


def test_paper_preset_shapes() -> None:
    m = PRESETS["sutskever2014"].model
    assert (m.num_layers, m.hidden_dim, m.embed_dim, m.src_vocab_size, m.tgt_vocab_size) == (
        4, 1000, 1000, 160_000, 80_000)
    assert m.reverse_source and m.init_range == 0.08


def test_reverse_padded_keeps_padding_in_place() -> None:
    tokens = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])
    out = reverse_padded(tokens, torch.tensor([3, 2]))
    assert out.tolist() == [[7, 6, 5, 0], [9, 8, 0, 0]]


def test_reversed_model_reads_the_reversed_source() -> None:
    """A reversed model on x equals the forward model (same weights) on reversed(x)."""
    fwd, rev = model(reverse=False), model(reverse=True)
    rev.load_state_dict(fwd.state_dict())
    src = torch.tensor([[5, 6, 7, 8]])
    lengths = torch.tensor([4])
    s1, s2 = rev.encode(src, lengths), fwd.encode(src.flip(1), lengths)
    torch.testing.assert_close(s1.h, s2.h)
    torch.testing.assert_close(s1.c, s2.c)
    assert not torch.allclose(s1.h, fwd.encode(src, lengths).h)


def test_padding_does_not_change_the_encoding() -> None:
    m = model()
    alone = m.encode(torch.tensor([[5, 6, 7]]), torch.tensor([3]))
    padded = m.encode(torch.tensor([[5, 6, 7, 0, 0], [9, 9, 9, 9, 9]]), torch.tensor([3, 5]))
    torch.testing.assert_close(alone.h[:, 0], padded.h[:, 0])


@torch.no_grad()
def test_step_by_step_equals_teacher_forcing() -> None:
    m = model()
    batch = make_batch([np.array([5, 6, 7])], [np.array([4, 9, 11])])
    teacher = m.token_log_probs(batch)[0]
    state = m.encode(batch.src, batch.src_lengths)
    prev = torch.tensor([BOS_ID])
    stepped = []
    for target in [4, 9, 11, EOS_ID]:
        logp, state = m.step(prev, state)
        stepped.append(float(logp[0, target]))
        prev = torch.tensor([target])
    np.testing.assert_allclose(teacher.numpy(), stepped, atol=1e-6)
    assert float(-m.loss(batch)) == pytest.approx(sum(stepped), abs=1e-5)


def test_batched_scoring_equals_unbatched() -> None:
    words = [f"w{i}" for i in range(20)]
    vocab = Vocab([*SPECIALS, *words])
    m = Seq2Seq(dataclasses.replace(TINY, src_vocab_size=len(vocab), tgt_vocab_size=len(vocab)))
    rng = np.random.default_rng(0)
    sources = [[str(w) for w in rng.choice(words, rng.integers(0, 9))] for _ in range(40)]
    targets = [[str(w) for w in rng.choice([*words, "OOV"], rng.integers(0, 9))]
               for _ in range(40)]
    batched = score_pairs(m, vocab, vocab, sources, targets, batch_size=16)
    single = score_pairs(m, vocab, vocab, sources, targets, batch_size=1)
    np.testing.assert_allclose(batched.totals, single.totals, atol=1e-5)
    for a, b, t in zip(batched.tokens, single.tokens, targets, strict=True):
        assert len(a) == len(t) + 1  # </s> counted
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(batched.totals, [t.sum() for t in batched.tokens])
    assert (batched.totals < 0).all()
    assert batched.unknown.tolist() == [t.count("OOV") for t in targets]


def test_dropout_acts_in_training_only() -> None:
    """Dropout (an option; the paper uses none) changes training outputs, never scores: in
    eval mode a model with dropout equals the same weights without it."""
    torch.manual_seed(0)
    drop = Seq2Seq(dataclasses.replace(TINY, dropout=0.5))
    plain = Seq2Seq(TINY)
    plain.load_state_dict(drop.state_dict())  # same parameter names: checkpoints interchange
    batch = make_batch([np.array([5, 6, 7])], [np.array([4, 9, 11])])
    drop.eval(), plain.eval()
    torch.testing.assert_close(drop.token_log_probs(batch), plain.token_log_probs(batch))
    drop.train()
    torch.manual_seed(1)
    first = drop.forward(batch)
    torch.manual_seed(2)
    assert not torch.allclose(first, drop.forward(batch))
    assert drop.encoder.dropout == 0.5 and plain.encoder.dropout == 0.0
