"""The Transformer encoder-decoder (Vaswani et al. 2017), pre-norm (the layer norm before each
sub-layer, a last norm after each stack: Wang et al. 2019's arrangement, stable without a long
warm-up), behind the same decoder-state protocol as the LSTM (:mod:`rescore.models.protocol`).

``num_layers`` encoder and as many decoder layers of width ``hidden_dim`` (= ``embed_dim``),
``heads`` attention heads, a feed-forward block of ``ff_dim`` with ReLU; embeddings scaled by
sqrt(width) plus sinusoidal (or learned) positions; dropout on the residual branches and the
embeddings (``dropout``), on the attention weights (``attention_dropout``) and after the
activation (``activation_dropout``). Optional: the output layer tied to the target embeddings
(``tie_embeddings``) and one embedding matrix for both sides (``share_embeddings``, with a
shared vocabulary). Attention is torch's ``scaled_dot_product_attention``.

Incremental decoding: a :class:`TransformerState` holds, per decoder layer, the keys and
values of the positions decoded so far, so :meth:`Transformer.step` runs only the new
position (one query against the cache) instead of the whole prefix; the encoder's outputs are
projected to each layer's cross-attention keys and values once per source (a shared
:class:`EncoderMemory`, rows pointing into it as the LSTM's memory does), so reordering beams
or expanding a prefix trie copies the self-attention caches only. ``init_range`` and the LSTM
options are not used; parameters are initialised as fairseq's Transformer (Xavier-uniform
projections, embeddings N(0, width^-1/2)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

from rescore.config import ModelConfig
from rescore.corpus import Batch
from rescore.errors import RescoreError
from rescore.models.attention import MultiHeadAttention
from rescore.models.protocol import (
    Dropout,
    Embedding,
    length_mask,
    picked_log_probs,
    reverse_padded,
    summed_cross_entropy,
)
from rescore.vocab import PAD_ID


def sinusoids(length: int, dim: int) -> torch.Tensor:
    """The sinusoidal position table ``(length, dim)`` of Vaswani et al. (2017): sines in the
    even dimensions, cosines in the odd ones, wavelengths from 2 pi to 10000 * 2 pi. Made on
    the CPU whatever the default device (a table of values, not a shape, also when the model
    is built on the meta device; moved with the model)."""
    cpu = torch.device("cpu")
    position = torch.arange(length, dtype=torch.float32, device=cpu).unsqueeze(1)
    rate = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32, device=cpu)
                     * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=cpu)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate[: dim // 2])
    return table


class FeedForward(nn.Module):
    def __init__(self, dim: int, inner: int, dropout: float) -> None:
        super().__init__()
        self.inner = nn.Linear(dim, inner)
        self.outer = nn.Linear(inner, dim)
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.outer(self.dropout(torch.relu(self.inner(x))))


class EncoderLayer(nn.Module):
    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        d = c.hidden_dim
        self.self_norm, self.ff_norm = nn.LayerNorm(d), nn.LayerNorm(d)
        self.self_attn = MultiHeadAttention(d, c.heads, c.attention_dropout)
        self.ff = FeedForward(d, c.ff_dim, c.activation_dropout)
        self.dropout = Dropout(c.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.self_norm(x)
        k, v = self.self_attn.project_kv(h)
        x = x + self.dropout(self.self_attn(h, k, v, mask))
        return x + self.dropout(self.ff(self.ff_norm(x)))


class DecoderLayer(nn.Module):
    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        d = c.hidden_dim
        self.self_norm, self.cross_norm, self.ff_norm = (nn.LayerNorm(d), nn.LayerNorm(d),
                                                         nn.LayerNorm(d))
        self.self_attn = MultiHeadAttention(d, c.heads, c.attention_dropout)
        self.cross_attn = MultiHeadAttention(d, c.heads, c.attention_dropout)
        self.ff = FeedForward(d, c.ff_dim, c.activation_dropout)
        self.dropout = Dropout(c.dropout)


@dataclass
class EncoderMemory:
    """What the decoder attends over, one row per encoded source: per decoder layer the
    cross-attention keys and values ``(N, heads, S, head_dim)``, projected once; ``mask``
    ``(N, S)`` True at real positions."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    mask: torch.Tensor


@dataclass
class TransformerState:
    """A batch of decoder rows: per layer the self-attention keys and values of the positions
    decoded so far ``(B, heads, t, head_dim)``; ``rows`` ``(B,)`` the memory row each decoder
    row attends over; ``query`` ``(B, heads, head_dim)`` the top layer's cross-attention query
    at the last step (None before the first), from which :meth:`Transformer.attention_weights`
    computes that step's weights only when asked."""

    self_keys: list[torch.Tensor]
    self_values: list[torch.Tensor]
    memory: EncoderMemory
    rows: torch.Tensor
    query: torch.Tensor | None = None

    @property
    def length(self) -> int:
        return int(self.self_keys[0].shape[2]) if self.self_keys else 0


@dataclass
class RowGroups:
    """How decoder rows map onto the memory rows they attend over, worked out once per decode
    call and shared by every layer: the rows of one source (a sentence's beams, a trie's
    nodes) form one padded group of queries. ``order`` sorts the rows by source (None: one
    decoder row per memory row, in order, no grouping needed); ``group`` and ``slot`` place
    each sorted row in its group; ``sources`` the memory rows read (None: every memory row,
    in order)."""

    order: torch.Tensor | None = None
    group: torch.Tensor | None = None
    slot: torch.Tensor | None = None
    sources: torch.Tensor | None = None
    count: int = 0
    width: int = 0

    @classmethod
    def of(cls, rows: torch.Tensor, memory_rows: int) -> RowGroups:
        b = rows.shape[0]
        if b == memory_rows and bool((rows == torch.arange(b, device=rows.device)).all()):
            return cls()
        order = torch.argsort(rows, stable=True)
        sources, counts = torch.unique_consecutive(rows[order], return_counts=True)
        group = torch.repeat_interleave(torch.arange(len(sources), device=rows.device), counts)
        slot = torch.arange(b, device=rows.device) - (torch.cumsum(counts, 0) - counts)[group]
        every = sources.shape[0] == memory_rows and bool(
            (sources == torch.arange(len(sources), device=rows.device)).all())
        return cls(order, group, slot, None if every else sources, len(sources),
                   int(counts.max()))


def grouped_cross_attention(attention: MultiHeadAttention, query: torch.Tensor,
                            memory_keys: torch.Tensor, memory_values: torch.Tensor,
                            memory_mask: torch.Tensor,
                            groups: RowGroups) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-attention of decoder rows ``query`` ``(B, T, dim)`` over the memory rows
    ``groups`` maps them to, without copying the memory per decoder row: each source's keys
    and values are read once, by its group of queries. Returns the attention output
    ``(B, T, dim)`` and the projected queries ``(B, heads, T, head_dim)``."""
    t = query.shape[1]
    q = attention.split(attention.q(query))  # (B, H, T, hd)
    if groups.order is None:
        out = attention.attend(q, memory_keys, memory_values, memory_mask[:, None, None, :])
        return attention.merge(out), q
    assert groups.group is not None and groups.slot is not None
    n, width, heads, hd = groups.count, groups.width, q.shape[1], q.shape[3]
    padded = q.new_zeros(n, width, heads, t, hd)
    padded[groups.group, groups.slot] = q[groups.order]
    grouped = padded.permute(0, 2, 1, 3, 4).reshape(n, heads, width * t, hd)
    keys, values, mask = memory_keys, memory_values, memory_mask
    if groups.sources is not None:
        keys, values, mask = keys[groups.sources], values[groups.sources], mask[groups.sources]
    out = attention.attend(grouped, keys, values, mask[:, None, None, :])  # (U, H, W * T, hd)
    out = out.view(n, heads, width, t, hd).permute(0, 2, 1, 3, 4)[groups.group, groups.slot]
    result = torch.empty_like(out)
    result[groups.order] = out
    return attention.merge(result), q


class Transformer(nn.Module):
    """The Transformer behind the decoder-state protocol (see the module's description)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = c = config
        d = c.hidden_dim
        self.scale = math.sqrt(d)
        self.src_embed = Embedding(c.src_vocab_size, d, padding_idx=PAD_ID)
        self.tgt_embed = (self.src_embed if c.share_embeddings
                          else Embedding(c.tgt_vocab_size, d, padding_idx=PAD_ID))
        if c.positions == "learned":
            self.src_positions: nn.Embedding | None = Embedding(c.max_positions, d)
            self.tgt_positions: nn.Embedding | None = Embedding(c.max_positions, d)
        else:
            self.src_positions = self.tgt_positions = None
        self.sinusoids: torch.Tensor
        self.register_buffer("sinusoids", sinusoids(c.max_positions, d)
                             if c.positions == "sinusoidal" else torch.zeros(0), persistent=False)
        self.encoder_layers = nn.ModuleList(EncoderLayer(c) for _ in range(c.num_layers))
        self.encoder_norm = nn.LayerNorm(d)
        self.decoder_layers = nn.ModuleList(DecoderLayer(c) for _ in range(c.num_layers))
        self.decoder_norm = nn.LayerNorm(d)
        self.dropout = Dropout(c.dropout)
        self.generator = nn.Linear(d, c.tgt_vocab_size)
        if c.tie_embeddings:
            self.generator.weight = self.tgt_embed.weight
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform projections, zero biases, embeddings N(0, width^-1/2) with a zero
        padding row (fairseq's Transformer initialisation); nothing on the meta device (see
        :class:`~rescore.models.protocol.Embedding`)."""
        if self.generator.weight.is_meta:
            return
        for name, p in self.named_parameters():
            if "embed" in name or "positions" in name:
                nn.init.normal_(p, 0.0, self.config.hidden_dim ** -0.5)
            elif "norm" in name:
                nn.init.ones_(p) if name.endswith("weight") else nn.init.zeros_(p)
            elif p.dim() > 1:
                nn.init.xavier_uniform_(p)
            else:
                nn.init.zeros_(p)
        with torch.no_grad():
            self.src_embed.weight[PAD_ID].zero_()
            self.tgt_embed.weight[PAD_ID].zero_()

    @property
    def attends(self) -> bool:
        return True

    @property
    def encoders(self) -> list[EncoderLayer]:
        return cast(list[EncoderLayer], list(self.encoder_layers))

    @property
    def decoders(self) -> list[DecoderLayer]:
        return cast(list[DecoderLayer], list(self.decoder_layers))

    @property
    def steps_encoder(self) -> bool:
        """Self-attention reads the whole input: the encoder cannot be stepped."""
        return False

    def _positions(self, table: nn.Embedding | None, start: int, length: int,
                   device: torch.device) -> torch.Tensor:
        if start + length > self.config.max_positions:
            raise RescoreError(f"a sequence of {start + length} positions is longer than this "
                               f"Transformer's {self.config.max_positions} (max_positions)")
        if table is None:
            return self.sinusoids[start:start + length]
        return table(torch.arange(start, start + length, device=device))

    def _embed(self, embed: nn.Embedding, table: nn.Embedding | None, tokens: torch.Tensor,
               start: int = 0) -> torch.Tensor:
        x = embed(tokens) * self.scale + self._positions(table, start, tokens.shape[1],
                                                         tokens.device)
        return self.dropout(x)

    # -- the encoder ---------------------------------------------------------------------
    def encode_outputs(self, src: torch.Tensor,
                       src_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Source ids ``(B, S)`` -> the encoder's outputs ``(B, S, dim)`` and the mask
        ``(B, S)`` of real positions (the source is read in its order: ``reverse_source``
        reverses it first, as the LSTM does)."""
        lengths = src_lengths.clamp(min=1).to(src.device)
        if self.config.reverse_source:
            src = reverse_padded(src, lengths)
        mask = length_mask(lengths, src.shape[1])
        x = self._embed(self.src_embed, self.src_positions, src)
        attend = mask[:, None, None, :]
        for layer in self.encoders:
            x = layer(x, attend)
        x = self.encoder_norm(x)
        if self.config.reverse_source:  # back in reading order, as the attention weights
            x = reverse_padded(x, lengths)
        return x, mask

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> TransformerState:
        """The decoder's initial state: an empty cache per layer and the encoder's outputs
        projected to every layer's cross-attention keys and values."""
        outputs, mask = self.encode_outputs(src, src_lengths)
        keys, values = [], []
        for layer in self.decoders:
            k, v = layer.cross_attn.project_kv(outputs)
            keys.append(k)
            values.append(v)
        memory = EncoderMemory(keys, values, mask)
        n, heads = outputs.shape[0], self.config.heads
        empty = outputs.new_zeros(n, heads, 0, self.config.hidden_dim // heads)
        layers = len(self.decoder_layers)
        return TransformerState([empty] * layers, [empty] * layers, memory,
                                torch.arange(n, device=outputs.device))

    def sentence_vector(self, src: torch.Tensor, src_lengths: torch.Tensor) -> torch.Tensor:
        """The mean of the encoder's outputs over the real positions ``(B, dim)``."""
        outputs, mask = self.encode_outputs(src, src_lengths)
        weights = mask.unsqueeze(2).to(outputs.dtype)
        return (outputs * weights).sum(1) / weights.sum(1)

    # -- the decoder ---------------------------------------------------------------------
    def decode(self, tgt_in: torch.Tensor,
               state: TransformerState) -> tuple[torch.Tensor, TransformerState]:
        """Decoder inputs ``(B, T)`` after the positions already in ``state`` -> logits
        ``(B, T, V)`` and the state with the T positions added to every layer's cache."""
        start = state.length
        x = self._embed(self.tgt_embed, self.tgt_positions, tgt_in, start)
        causal = None  # new positions see the cache and each other up to themselves
        t = tgt_in.shape[1]
        if t > 1 and start:
            causal = torch.ones(t, start + t, dtype=torch.bool, device=x.device).tril(start)
        new_keys, new_values = [], []
        memory, query = state.memory, state.query
        groups = RowGroups.of(state.rows, memory.mask.shape[0])
        for i, layer in enumerate(self.decoders):
            h = layer.self_norm(x)
            k, v = layer.self_attn.project_kv(h)
            if start:
                k = torch.cat([state.self_keys[i].to(k.dtype), k], 2)
                v = torch.cat([state.self_values[i].to(v.dtype), v], 2)
            new_keys.append(k)
            new_values.append(v)
            x = x + layer.dropout(layer.self_attn(h, k, v, causal, causal=t > 1 and not start))
            out, q = grouped_cross_attention(layer.cross_attn, layer.cross_norm(x),
                                             memory.keys[i], memory.values[i], memory.mask,
                                             groups)
            x = x + layer.dropout(out)
            query = q[:, :, -1]
            x = x + layer.dropout(layer.ff(layer.ff_norm(x)))
        logits = self.generator(self.dropout(self.decoder_norm(x)))
        return logits, TransformerState(new_keys, new_values, memory, state.rows, query)

    def step(self, prev: torch.Tensor,
             state: TransformerState) -> tuple[torch.Tensor, TransformerState]:
        """One position for every row, from the cache: log-probabilities ``(B, V)``."""
        logits, state = self.decode(prev.unsqueeze(1), state)
        return torch.log_softmax(logits.squeeze(1), dim=-1, dtype=torch.float32), state

    # -- states --------------------------------------------------------------------------
    @staticmethod
    def select_state(state: TransformerState, index: torch.Tensor) -> TransformerState:
        return TransformerState([k.index_select(0, index) for k in state.self_keys],
                                [v.index_select(0, index) for v in state.self_values],
                                state.memory, state.rows.index_select(0, index),
                                None if state.query is None
                                else state.query.index_select(0, index))

    @staticmethod
    def cat_states(states: list[TransformerState]) -> TransformerState:
        first = states[0]
        layers = range(len(first.self_keys))
        return TransformerState([torch.cat([s.self_keys[i] for s in states]) for i in layers],
                                [torch.cat([s.self_values[i] for s in states]) for i in layers],
                                first.memory, torch.cat([s.rows for s in states]),
                                None if first.query is None
                                else torch.cat([s.query for s in states if s.query is not None]))

    @staticmethod
    def attention_weights(state: TransformerState) -> torch.Tensor | None:
        """The top decoder layer's cross-attention weights at the last step, the mean over its
        heads ``(B, S)``, over the source in reading order (zeros before the first step),
        computed from the query the step kept."""
        memory = state.memory
        if state.query is None:
            return torch.zeros(state.rows.shape[0], memory.mask.shape[1],
                               device=memory.mask.device)
        keys = memory.keys[-1][state.rows].float()  # (B, H, S, hd)
        q = state.query.float().unsqueeze(2)  # (B, H, 1, hd)
        scores = torch.matmul(q, keys.transpose(-1, -2))[:, :, 0] / math.sqrt(q.shape[-1])
        scores = scores.masked_fill(~memory.mask[state.rows][:, None, :], float("-inf"))
        return torch.softmax(scores, dim=-1).mean(1)

    # -- training and plain scoring ------------------------------------------------------
    def forward(self, batch: Batch) -> torch.Tensor:
        """Teacher-forced logits ``(B, T+1, V)``: the whole target at once under a causal
        mask."""
        logits, _ = self.decode(batch.tgt_in, self.encode(batch.src, batch.src_lengths))
        return logits

    def token_log_probs(self, batch: Batch) -> torch.Tensor:
        return picked_log_probs(self.forward(batch), batch.tgt_out)

    def loss(self, batch: Batch) -> torch.Tensor:
        return summed_cross_entropy(self.forward(batch), batch.tgt_out)
