"""The training recipe's parts: learning-rate schedule, clipping rule, bucketing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rescore.config import PRESETS
from rescore.corpus import epoch_batches
from rescore.train import clip_gradient_norm, lr_at

PAPER = PRESETS["sutskever2014"].train


@pytest.mark.parametrize(("epoch", "lr"), [
    (0.0, 0.7), (2.5, 0.7), (4.99, 0.7), (5.0, 0.35), (5.49, 0.35), (5.5, 0.175),
    (6.0, 0.0875), (6.5, 0.04375), (7.0, 0.021875), (7.49, 0.021875),
])
def test_paper_lr_schedule(epoch: float, lr: float) -> None:
    steps_per_epoch = 1000
    assert lr_at(round(epoch * steps_per_epoch), steps_per_epoch, PAPER) == pytest.approx(lr)


def test_paper_recipe_defaults() -> None:
    assert (PAPER.lr, PAPER.epochs, PAPER.decay_start_epoch, PAPER.decay_every_epochs,
            PAPER.decay_factor, PAPER.batch_size, PAPER.clip_norm) == (
        0.7, 7.5, 5.0, 0.5, 0.5, 128, 5.0)


def grads(*values: list[float]) -> list[torch.nn.Parameter]:
    params = []
    for v in values:
        p = torch.nn.Parameter(torch.zeros(len(v)))
        p.grad = torch.tensor(v)
        params.append(p)
    return params


def test_clipping_scales_the_global_norm_to_the_threshold() -> None:
    params = grads([3.0, 4.0], [12.0])  # global L2 norm 13, over both tensors together
    assert clip_gradient_norm(params, 5.0) == pytest.approx(13.0)
    new = torch.cat([p.grad for p in params])
    assert float(new.norm()) == pytest.approx(5.0)
    np.testing.assert_allclose(new.numpy(), np.array([3, 4, 12]) * 5 / 13, rtol=1e-6)


def test_clipping_leaves_small_gradients_alone() -> None:
    params = grads([3.0, 4.0])  # norm 5: not above the threshold
    assert clip_gradient_norm(params, 5.0) == pytest.approx(5.0)
    assert params[0].grad.tolist() == [3.0, 4.0]


def test_bucketing_groups_similar_lengths_and_covers_every_pair_once() -> None:
    rng = np.random.default_rng(0)
    src = rng.integers(1, 50, 1000).astype(np.int32)
    tgt = rng.integers(1, 50, 1000).astype(np.int32)
    batches = epoch_batches(src, tgt, 32, seed=7, epoch=0)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    assert all(len(b) == 32 for b in batches[:-1] if len(b) != 1000 % 32)
    spread = np.mean([np.ptp(tgt[b]) for b in batches])
    random_spread = np.mean([np.ptp(tgt[rng.permutation(1000)[:32]]) for _ in range(30)])
    assert spread <= 2 and random_spread > 30
    # the bucket order is shuffled, not sorted by length
    means = [float(tgt[b].mean()) for b in batches]
    assert means != sorted(means)


def test_bucketing_is_a_pure_function_of_seed_and_epoch() -> None:
    lengths = np.arange(1, 101, dtype=np.int32)
    a = epoch_batches(lengths, lengths, 10, seed=1, epoch=3)
    b = epoch_batches(lengths, lengths, 10, seed=1, epoch=3)
    c = epoch_batches(lengths, lengths, 10, seed=1, epoch=4)
    assert all((x == y).all() for x, y in zip(a, b, strict=True))
    assert any((x != y).any() for x, y in zip(a, c, strict=True))


def test_warm_up_and_the_plateau_schedule() -> None:
    from dataclasses import replace

    warm = replace(PAPER, warmup_steps=10, lr=1.0)
    assert [lr_at(s, 100, warm) for s in (0, 4, 9, 50)] == pytest.approx([0.1, 0.5, 1.0, 1.0])
    plateau = replace(PAPER, lr_schedule="plateau", lr=0.002)
    assert lr_at(10_000, 100, plateau) == pytest.approx(0.002)  # no epoch-based halving
    assert lr_at(5, 100, plateau, scale=0.25) == pytest.approx(0.0005)


def test_label_smoothing_is_the_mixture_of_the_two_targets() -> None:
    from rescore.model import summed_cross_entropy

    torch.manual_seed(0)
    logits = torch.randn(2, 3, 7)
    target = torch.tensor([[4, 5, 0], [6, 1, 2]])  # 0: padding, not scored
    logp = torch.log_softmax(logits, -1)
    mask = target != 0
    nll = -logp.gather(2, target.unsqueeze(2)).squeeze(2)[mask].sum()
    uniform = -logp.mean(-1)[mask].sum()
    got = summed_cross_entropy(logits, target, 0.1)
    assert float(got) == pytest.approx(float(0.9 * nll + 0.1 * uniform), rel=1e-5)
    assert float(summed_cross_entropy(logits, target)) == pytest.approx(float(nll), rel=1e-5)


def test_recipe_options_are_checked() -> None:
    from dataclasses import replace

    from rescore.config import ModelConfig
    from rescore.errors import RescoreError

    with pytest.raises(RescoreError, match="unknown optimizer 'rmsprop'"):
        replace(PAPER, optimizer="rmsprop")
    with pytest.raises(RescoreError, match="label smoothing must be in"):
        replace(PAPER, label_smoothing=1.0)
    with pytest.raises(RescoreError, match="tied embeddings need"):
        ModelConfig(embed_dim=8, hidden_dim=16, tie_embeddings=True)
