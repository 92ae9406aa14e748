"""Training's own operations. The loss: rescore's blockwise label-smoothed cross-entropy
equals torch's ``F.cross_entropy`` (summed, padding ignored), value and gradient, in fp32 and
from bf16 logits, with and without smoothing, in one block or many. Dropout: rescore's CPU
mask drops the requested fraction, keeps the expectation, is seeded by torch's generator and
is the identity in eval mode."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rescore.models import protocol, summed_cross_entropy
from rescore.models.protocol import Dropout, dropout_mask
from rescore.vocab import PAD_ID


def reference(logits: torch.Tensor, tgt: torch.Tensor, e: float) -> torch.Tensor:
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                       tgt.reshape(-1), ignore_index=PAD_ID, reduction="sum",
                                       label_smoothing=e)


def batch(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    logits = (torch.randn(5, 9, 37, generator=g) * 3).to(dtype)
    tgt = torch.randint(1, 37, (5, 9), generator=g)
    tgt[1, 6:] = PAD_ID  # shorter sentences: padding at their ends
    tgt[3, 2:] = PAD_ID
    return logits, tgt


@pytest.mark.parametrize("block", [None, 37 * 4])
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_value_and_gradient_equal_torchs_cross_entropy(smoothing: float, dtype: torch.dtype,
                                                       block: int | None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    if block is not None:  # 4 rows a block: 45 rows in 12 blocks, the last one short
        monkeypatch.setattr(protocol, "LOSS_CHUNK_ELEMENTS", block)
        assert len(protocol._row_blocks(torch.empty(45, 37))) == 12
    logits, tgt = batch(dtype)
    original = logits.clone()
    mine = logits.clone().requires_grad_()
    ref = logits.clone().requires_grad_()
    ours = summed_cross_entropy(mine, tgt, smoothing)
    theirs = reference(ref, tgt, smoothing)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-4)
    (ours * 0.37).backward()
    (theirs * 0.37).backward()
    assert mine.grad is not None and ref.grad is not None
    assert mine.grad.dtype == dtype
    tol = 1e-6 if dtype == torch.float32 else 1e-2
    torch.testing.assert_close(mine.grad.float(), ref.grad.float(), rtol=tol, atol=tol)
    assert not mine.grad[3, 2:].any()  # nothing flows into padding positions
    assert torch.equal(mine.detach(), original)  # the logits are not overwritten


def test_under_autocast_and_without_gradients() -> None:
    logits, tgt = batch(torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = summed_cross_entropy(logits, tgt, 0.1)
    with torch.no_grad():
        plain = summed_cross_entropy(logits, tgt)
    torch.testing.assert_close(inside, reference(logits, tgt, 0.1), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(plain, reference(logits, tgt, 0.0), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("p", [0.1, 0.3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dropout_drops_p_and_keeps_the_expectation(p: float, dtype: torch.dtype) -> None:
    torch.manual_seed(3)
    mask = dropout_mask(torch.empty(1001, 999, dtype=dtype), p)
    assert mask.shape == (1001, 999) and mask.dtype == dtype
    dropped = float((mask == 0).float().mean())
    assert abs(dropped - p) < 0.002  # 1M draws: the standard error is below 0.0005
    values = mask.unique().tolist()
    assert values == [0.0, pytest.approx(1 / (1 - p), rel=1e-2)]
    assert abs(float(mask.float().mean()) - 1.0) < 0.005
    lanes = (mask == 0).float().reshape(-1)[:999_996].reshape(-1, 4).mean(0)
    assert (lanes - p).abs().max() < 0.004  # each 16-bit lane of a 64-bit draw alike


def test_dropout_is_seeded_and_the_identity_in_eval_mode() -> None:
    layer = Dropout(0.2)
    x = torch.randn(6, 50, requires_grad=True)
    torch.manual_seed(1)
    first = layer(x)
    torch.manual_seed(1)
    assert torch.equal(layer(x), first)
    assert not torch.equal(layer(x), first)  # the generator moved on
    first.sum().backward()
    assert x.grad is not None
    kept = first.detach() != 0
    assert x.grad.unique().tolist() == [0.0, pytest.approx(1.25, rel=1e-4)]
    assert torch.equal(x.grad != 0, kept)
    layer.eval()
    assert layer(x) is x
    assert Dropout(0.0).train()(x) is x
