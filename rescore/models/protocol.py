"""The decoder-state protocol: what every architecture offers scoring, prefix tries,
channel scoring, ensembles and beam search, and all those need from it.

Callers never look inside a state. A model turns sources into a decoder state
(:meth:`DecoderModel.encode`), advances it one target token at a time
(:meth:`DecoderModel.step`, next-token log-probabilities), reorders, drops or repeats its rows
(:meth:`DecoderModel.select_state`) and joins row blocks (:meth:`DecoderModel.cat_states`).
Teacher-forced passes (:meth:`DecoderModel.forward`, :meth:`DecoderModel.token_log_probs`)
serve training and the plain scorer. A model whose encoder can be fed one input token at a
time says so (``steps_encoder``) and offers the encoder-side methods of
:class:`SteppedEncoder`, which the noisy-channel scorer's input trie uses; others are scored
by whole batches. A third architecture is one new module that implements this protocol and
one entry in :data:`rescore.models.ARCHITECTURES`.
"""

from __future__ import annotations

from typing import Any, Protocol, cast, runtime_checkable

import torch
from torch import nn

from rescore.config import ModelConfig
from rescore.corpus import Batch
from rescore.vocab import PAD_ID


@runtime_checkable
class DecoderModel(Protocol):
    """An encoder-decoder as the search and scoring code drive it. ``state`` is opaque; its
    rows follow the batch (after :meth:`encode`, row i is source i)."""

    config: ModelConfig
    training: bool

    def parameters(self) -> Any: ...

    def train(self, mode: bool = True) -> Any: ...

    def eval(self) -> Any: ...

    @property
    def attends(self) -> bool:
        """The decoder attends over the source: :meth:`attention_weights` gives weights."""
        ...

    @property
    def steps_encoder(self) -> bool:
        """The encoder can be stepped one input token at a time (:class:`SteppedEncoder`)."""
        ...

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> Any:
        """Source ids ``(B, S)`` in reading order, lengths ``(B,)`` -> the decoder's initial
        state, one row per source."""
        ...

    def step(self, prev: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """Previous tokens ``(B,)`` -> next-token natural-log probabilities ``(B, V)`` (fp32),
        the state after them."""
        ...

    @staticmethod
    def select_state(state: Any, index: torch.Tensor) -> Any:
        """The state of rows ``index`` (reordered, dropped or repeated)."""
        ...

    @staticmethod
    def cat_states(states: list[Any]) -> Any:
        """Row blocks of one state (from one :meth:`encode`) joined in order."""
        ...

    @staticmethod
    def attention_weights(state: Any) -> torch.Tensor | None:
        """The last step's attention weights ``(B, S)`` over the source positions in reading
        order, or None (a model without attention)."""
        ...

    def forward(self, batch: Batch) -> torch.Tensor:
        """Teacher-forced logits ``(B, T+1, V)`` for ``batch.tgt_out``."""
        ...

    def token_log_probs(self, batch: Batch) -> torch.Tensor:
        """ln P of each target token, ``</s>`` included: ``(B, T+1)``, 0 at padding."""
        ...

    def loss(self, batch: Batch) -> torch.Tensor:
        """Summed cross-entropy over the batch's target tokens, ``</s>`` included."""
        ...

    def sentence_vector(self, src: torch.Tensor, src_lengths: torch.Tensor) -> torch.Tensor:
        """One vector per source ``(B, d)``: what the paper's Figure 2 projects."""
        ...


class SteppedEncoder(Protocol):
    """The encoder-side steps of a model whose ``steps_encoder`` is true: the channel scorer
    builds a trie of its inputs with them (each trie node one batched encoder step)."""

    def initial_encoder_state(self, batch: int, device: torch.device) -> Any: ...

    def encoder_step(self, tokens: torch.Tensor, state: Any) -> Any: ...

    @staticmethod
    def select_encoder_state(state: Any, index: torch.Tensor) -> Any: ...

    @staticmethod
    def cat_encoder_states(states: list[Any]) -> Any: ...

    def encoder_output(self, state: Any) -> torch.Tensor: ...

    def start_decoder(self, final: Any, outputs: torch.Tensor | None,
                      lengths: torch.Tensor) -> Any: ...

    def decode(self, tgt_in: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]: ...


def reverse_padded(tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first ``lengths[i]`` positions, leaving the padding after them:
    ``(B, S) -> (B, S)`` or ``(B, S, H) -> (B, S, H)``."""
    positions = torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0)
    lens = lengths.to(tokens.device).unsqueeze(1)
    index = torch.where(positions < lens, lens - 1 - positions, positions)
    if tokens.dim() == 3:
        index = index.unsqueeze(2).expand(-1, -1, tokens.shape[2])
    return tokens.gather(1, index)


def length_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """``(B,) -> (B, width)``: True at the first ``lengths[i]`` positions of row i."""
    return torch.arange(width, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def picked_log_probs(logits: torch.Tensor, tgt_out: torch.Tensor) -> torch.Tensor:
    """ln P of each ``tgt_out`` token under ``logits`` ``(B, T, V)``: ``(B, T)``, 0 at
    padding (in fp32 whatever the logits' dtype)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    picked = logp.gather(2, tgt_out.unsqueeze(2)).squeeze(2)
    return picked.masked_fill(tgt_out == PAD_ID, 0.0)


LOSS_CHUNK_ELEMENTS = 1 << 17
"""On a CPU the loss works through the logits in blocks of about this many (512 KB of fp32):
each block's fp32 copy, log-sum-exp and gradient stay in the core's cache, and the logits
are read once from memory forward and once backward. A GPU takes them in one block."""


def _row_blocks(logits: torch.Tensor) -> range:
    rows = logits.shape[0]
    step = rows if logits.is_cuda else max(1, LOSS_CHUNK_ELEMENTS // max(1, logits.shape[1]))
    return range(0, rows, max(1, step))


class _SmoothedCrossEntropy(torch.autograd.Function):
    """The label-smoothed cross-entropy summed over the rows of ``logits`` ``(N, V)`` whose
    target is not padding, in fp32 whatever the logits' dtype, its gradient returned in
    theirs. It keeps nothing of size ``N x V`` but the logits themselves: forward takes each
    block of rows (:data:`LOSS_CHUNK_ELEMENTS`) to fp32 for its log-sum-exp and the
    reference's logit; backward builds ``softmax - target distribution`` block by block in
    place. ``F.cross_entropy`` materialises an fp32 copy, log-softmax, a zeroed gradient, the
    smoothing term's gradient and their sum over the whole batch: on a CPU, with an
    8,000-word vocabulary, that was about half of a Transformer update
    (benchmarks/bench_train.py --ops-ratio)."""

    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, target: torch.Tensor,
                smoothing: float) -> torch.Tensor:
        with torch.autocast(logits.device.type, enabled=False):
            keep = (target != PAD_ID).float()
            lse = torch.empty(logits.shape[0], dtype=torch.float32, device=logits.device)
            total = torch.zeros((), dtype=torch.float32, device=logits.device)
            blocks = _row_blocks(logits)
            step = blocks.step
            for s in blocks:
                z = logits[s:s + step].float()
                lse[s:s + step] = block = torch.logsumexp(z, dim=1)
                rows = block - (1.0 - smoothing) * z.gather(
                    1, target[s:s + step].unsqueeze(1)).squeeze(1)
                if smoothing:
                    rows = rows - smoothing / z.shape[1] * z.sum(dim=1)
                total += (rows * keep[s:s + step]).sum()
            ctx.save_for_backward(logits, lse, target, keep)
            ctx.smoothing = smoothing
            return total

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        logits, lse, target, keep = ctx.saved_tensors
        e = ctx.smoothing
        out = torch.empty_like(logits)
        with torch.autocast(logits.device.type, enabled=False):
            coef = (grad * keep).unsqueeze(1)  # (N, 1): 0 on padding rows
            blocks = _row_blocks(logits)
            step = blocks.step
            for s in blocks:
                z = logits[s:s + step].to(torch.float32, copy=True)
                z.sub_(lse[s:s + step].unsqueeze(1)).exp_()  # softmax
                if e:
                    z.sub_(e / z.shape[1])
                c = coef[s:s + step]
                z.mul_(c)
                z.scatter_add_(1, target[s:s + step].unsqueeze(1), c * -(1.0 - e))
                out[s:s + step] = z
        return out, None, None


def summed_cross_entropy(logits: torch.Tensor, tgt_out: torch.Tensor,
                         label_smoothing: float = 0.0) -> torch.Tensor:
    """-sum log P(tgt_out) over non-padding positions; logits ``(B, T, V)``, tgt ``(B, T)``.
    With ``label_smoothing`` e, the target distribution puts 1 - e on the reference and e
    spread evenly over the vocabulary (a training loss; not a log-probability). Equal to
    ``F.cross_entropy(..., ignore_index=PAD_ID, reduction="sum")`` with its gradient
    (tests/unit/test_training_ops.py), at a fraction of its cost and memory
    (:class:`_SmoothedCrossEntropy`)."""
    loss = _SmoothedCrossEntropy.apply(logits.reshape(-1, logits.shape[-1]),
                                       tgt_out.reshape(-1), float(label_smoothing))
    return cast(torch.Tensor, loss)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def dropout_mask(x: torch.Tensor, p: float) -> torch.Tensor:
    """A dropout mask for ``x`` (its shape and dtype): 0 with probability ``p`` (rounded to
    a multiple of 2^-15), else ``1 / (1 - p)``, from the default generator. Four masks come
    from each 64-bit draw of ``random_`` (15 uniform bits each), where ``bernoulli_``
    draws per element: on a CPU a fifth of ``F.dropout``'s time (benchmarks/bench_train.py
    --ops-ratio)."""
    n = x.numel()
    threshold = min(round(p * 32768), 32767)
    bits = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device).random_()
    keep = bits.view(torch.int16)[:n].bitwise_and_(0x7FFF).ge_(threshold)
    return keep.view(x.shape).to(x.dtype).mul_(32768 / (32768 - threshold))


class Dropout(nn.Dropout):
    """``nn.Dropout`` with :func:`dropout_mask` on a CPU (torch's own elsewhere, and in
    place or at ``p`` = 1); identity in eval mode and at ``p`` = 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu" or self.inplace or self.p >= 1 or x.numel() == 0:
            return super().forward(x)
        return x * dropout_mask(x, self.p)


class Embedding(nn.Embedding):
    """``nn.Embedding`` that skips its initialisation on torch's meta device, where only
    shapes exist (rescore.model_dir builds a model there to check a weights file's shapes):
    torch's ``normal_`` on a meta tensor runs a Python decomposition that imports
    ``torch._dynamo``, seconds of every command's start-up."""

    def reset_parameters(self) -> None:
        if not self.weight.is_meta:
            super().reset_parameters()
