"""The deep LSTM encoder-decoder of Sutskever, Vinyals & Le (2014), with Luong, Pham & Manning
(2015)'s global attention as an option.

Two separate deep LSTMs: the encoder reads the source (reversed by default), and its final
(h, c) of every layer is the decoder's initial state; a linear generator and softmax over the
target vocabulary give P(y_t | y_<t, x). All parameters are initialised uniformly in
[-init_range, init_range]. Scores are natural-log probabilities.

With attention (``ModelConfig.attention`` dot, general or concat), the decoder's top-layer
output h_t also scores every encoder top-layer output h_s (the source's positions, padding
masked): dot h_t . h_s, general h_t . W_a h_s, concat v . tanh(W_q h_t + W_k h_s); the softmax
of the scores weights the h_s into a context c_t, and the attentional vector
h~_t = tanh(W_c [c_t; h_t]) goes to the generator instead of h_t. With input feeding, h~_{t-1}
joins the decoder's input at step t. The encoder and the decoder's initial state are the
paper's either way.

Callers never look inside a state: :meth:`Seq2Seq.encode` gives a :class:`DecoderState`,
:meth:`Seq2Seq.step` advances it, :meth:`Seq2Seq.select_state` reorders, drops or repeats its
rows and :meth:`Seq2Seq.cat_states` joins row blocks. A decoder state's rows point at rows of a
shared :class:`Memory` (the encoder outputs of each source, with the keys projected once per
source), so reordering beams or expanding a prefix trie never copies the encoder outputs.
The encoder's own step-by-step interface (:meth:`Seq2Seq.encoder_step`) serves prefix tries
of encoder inputs (noisy-channel scoring); :meth:`Seq2Seq.start_decoder` turns its final
states and outputs into a decoder state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rescore.config import ModelConfig
from rescore.corpus import Batch
from rescore.models.attention import GlobalAttention
from rescore.models.protocol import (
    Dropout,
    Embedding,
    length_mask,
    reverse_padded,
    summed_cross_entropy,
)
from rescore.vocab import PAD_ID

State = tuple[torch.Tensor, torch.Tensor]  # the encoder's (h, c), each (layers, batch, hidden)


@dataclass
class Memory:
    """What a decoder with attention attends over, one row per encoded source: ``values``
    ``(N, S, hidden)`` the encoder's top-layer outputs (in the source's reading order for a
    source read by :meth:`Seq2Seq.encode`), ``keys`` ``(N, S, hidden)`` the same projected
    for the score (once per source), ``mask`` ``(N, S)`` True at real positions."""

    values: torch.Tensor
    keys: torch.Tensor
    mask: torch.Tensor


@dataclass
class DecoderState:
    """A batch of decoder rows. ``h``, ``c``: ``(layers, B, hidden)``. With attention:
    ``memory`` (shared by all rows), ``rows`` ``(B,)`` the memory row each decoder row
    attends over, ``attn`` ``(B, S)`` the attention weights of the last step (zeros before the
    first) and, with input feeding, ``feed`` ``(B, hidden)`` the last attentional vector."""

    h: torch.Tensor
    c: torch.Tensor
    memory: Memory | None = None
    rows: torch.Tensor | None = None
    attn: torch.Tensor | None = None
    feed: torch.Tensor | None = None


class ResidualLSTM(nn.Module):
    """A stack of one-layer LSTMs with nn.LSTM's interface (``(input, (h, c)) -> (output,
    (h, c))``, padded or packed input, states ``(layers, B, hidden)``), where from the second
    layer up each layer's input is added to its output (Wu et al. 2016's residual
    connections), and dropout sits between layers as in nn.LSTM."""

    def __init__(self, input_size: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.LSTM(input_size if i == 0 else hidden, hidden, 1,
                                            batch_first=True) for i in range(layers))
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor | PackedSequence,
                state: State | None = None) -> tuple[torch.Tensor | PackedSequence, State]:
        hs, cs = [], []
        for i, layer in enumerate(self.layers):
            if i:  # dropout between layers, as nn.LSTM
                x = _map_data(x, self.dropout)
            layer_state = None if state is None else (state[0][i:i + 1], state[1][i:i + 1])
            out, (h, c) = layer(x, layer_state)
            if i:
                residual = _data(x)
                out = _map_data(out, lambda o, r=residual: o + r)
            x = out
            hs.append(h)
            cs.append(c)
        return x, (torch.cat(hs), torch.cat(cs))


def _data(x: torch.Tensor | PackedSequence) -> torch.Tensor:
    return x.data if isinstance(x, PackedSequence) else x


def _map_data(x: torch.Tensor | PackedSequence, fn: object) -> torch.Tensor | PackedSequence:
    """``fn`` applied to a tensor, or to a packed sequence's data (the packing kept)."""
    assert callable(fn)
    if isinstance(x, PackedSequence):
        return PackedSequence(fn(x.data), x.batch_sizes, x.sorted_indices, x.unsorted_indices)
    return fn(x)


class Seq2Seq(nn.Module):
    """LSTM encoder-decoder with the narrow interface beam search and scoring use:
    :meth:`encode` (source -> state), :meth:`step` (previous token, state -> next-token
    log-probabilities, state) and :meth:`select_state`; :meth:`forward` is teacher-forced
    training."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.src_embed = Embedding(c.src_vocab_size, c.embed_dim)
        between_layers = c.dropout if c.num_layers > 1 else 0.0
        self.encoder: nn.Module
        if c.bidirectional:
            self.encoder = nn.LSTM(c.embed_dim, c.hidden_dim // 2, c.num_layers,
                                   batch_first=True, dropout=between_layers, bidirectional=True)
        elif c.residual:
            self.encoder = ResidualLSTM(c.embed_dim, c.hidden_dim, c.num_layers, between_layers)
        else:
            self.encoder = nn.LSTM(c.embed_dim, c.hidden_dim, c.num_layers, batch_first=True,
                                   dropout=between_layers)
        self.tgt_embed = Embedding(c.tgt_vocab_size, c.embed_dim)
        feed = c.hidden_dim if c.input_feeding else 0
        self.decoder: nn.Module = (
            ResidualLSTM(c.embed_dim + feed, c.hidden_dim, c.num_layers, between_layers)
            if c.residual else
            nn.LSTM(c.embed_dim + feed, c.hidden_dim, c.num_layers, batch_first=True,
                    dropout=between_layers))
        self.attention = (GlobalAttention(c.attention, c.hidden_dim)
                          if c.attention != "none" else None)
        self.dropout = Dropout(c.dropout)  # identity in eval mode and when 0
        self.generator = nn.Linear(c.hidden_dim, c.tgt_vocab_size)
        if c.tie_embeddings:  # one matrix: target embeddings and output layer
            self.generator.weight = self.tgt_embed.weight
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform init in [-init_range, init_range] for every parameter (the paper's)."""
        for p in self.parameters():
            nn.init.uniform_(p, -self.config.init_range, self.config.init_range)

    @property
    def attends(self) -> bool:
        """The decoder attends over the encoder's outputs (a decoder state needs them)."""
        return self.attention is not None

    # -- the encoder ---------------------------------------------------------------------
    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> DecoderState:
        """Source ids ``(B, S)`` in reading order, lengths ``(B,)`` -> the decoder's initial
        state: the final (h, c) of every encoder layer, and with attention the encoder's
        top-layer outputs (back in reading order). Reverses the source if configured."""
        lengths = src_lengths.clamp(min=1)
        if self.config.reverse_source:
            src = reverse_padded(src, lengths)
        packed = pack_padded_sequence(self.dropout(self.src_embed(src)), lengths.cpu(),
                                      batch_first=True, enforce_sorted=False)
        outputs, state = self.encoder(packed)
        if self.config.bidirectional:  # each layer's two directions side by side
            state = tuple(self.bridge(s) for s in state)
        if not self.attends:
            return DecoderState(*state)
        values, _ = pad_packed_sequence(outputs, batch_first=True, total_length=src.shape[1])
        if self.config.reverse_source:
            values = reverse_padded(values, lengths)
        return self.start_decoder(state, values, lengths)

    def bridge(self, state: torch.Tensor) -> torch.Tensor:
        """A bidirectional encoder's final h (or c) ``(layers * 2, B, hidden / 2)`` as the
        decoder's initial one ``(layers, B, hidden)``: per layer, the forward direction's
        final state (after the last source word read) beside the backward one's (after the
        first): the rule of OpenNMT's ``brnn`` encoder."""
        layers, batch, half = self.config.num_layers, state.shape[1], state.shape[2]
        return state.view(layers, 2, batch, half).permute(0, 2, 1, 3).reshape(
            layers, batch, 2 * half)

    @property
    def steps_encoder(self) -> bool:
        """The encoder can be stepped one input token at a time (:meth:`encoder_step`, the
        channel scorer's prefix trie); a bidirectional one cannot: its backward direction
        needs the whole input."""
        return not self.config.bidirectional

    def initial_encoder_state(self, batch: int, device: torch.device) -> State:
        """Zero (h, c) for ``batch`` rows: where :meth:`encoder_step` starts."""
        c = self.config
        zeros = torch.zeros(c.num_layers, batch, c.hidden_dim, device=device)
        return zeros, zeros.clone()

    def encoder_step(self, tokens: torch.Tensor, state: State) -> State:
        """One encoder step for a batch of partial inputs: tokens ``(B,)`` (in the order the
        encoder reads them: already reversed for a reversed source) and the state after the
        tokens before them -> the state after these tokens. Stepping a whole input gives what
        :meth:`encode` gives; prefix tries of inputs use it to share steps."""
        _, state = self.encoder(self.dropout(self.src_embed(tokens)).unsqueeze(1), state)
        return state

    @staticmethod
    def select_encoder_state(state: State, index: torch.Tensor) -> State:
        """The encoder state of rows ``index``."""
        return state[0].index_select(1, index), state[1].index_select(1, index)

    @staticmethod
    def cat_encoder_states(states: list[State]) -> State:
        """Row blocks of encoder states joined in order."""
        return torch.cat([s[0] for s in states], 1), torch.cat([s[1] for s in states], 1)

    def encoder_output(self, state: State) -> torch.Tensor:
        """The encoder's top-layer output at the step that gave ``state``: ``(B, hidden)``
        (with residual connections the top layer's h plus its input, which is the layer
        below's output: the sum of every layer's h)."""
        return state[0].sum(0) if self.config.residual else state[0][-1]

    def start_decoder(self, final: State, outputs: torch.Tensor | None,
                      lengths: torch.Tensor) -> DecoderState:
        """The decoder's initial state from the encoder's final (h, c) ``(layers, B, hidden)``
        and, for a model with attention, its top-layer outputs ``(B, S, hidden)`` (any order
        of positions; the first ``lengths[i]`` of row i are real)."""
        h, c = final
        if not self.attends:
            return DecoderState(h, c)
        assert self.attention is not None and outputs is not None
        lengths = lengths.to(outputs.device)
        mask = length_mask(lengths, outputs.shape[1])
        memory = Memory(outputs, self.attention.keys(outputs), mask)
        rows = torch.arange(outputs.shape[0], device=outputs.device)
        attn = torch.zeros(mask.shape, device=outputs.device)
        feed = (torch.zeros(h.shape[1], h.shape[2], dtype=h.dtype, device=h.device)
                if self.config.input_feeding else None)
        return DecoderState(h, c, memory, rows, attn, feed)

    # -- the decoder ---------------------------------------------------------------------
    def decode(self, tgt_in: torch.Tensor,
               state: DecoderState) -> tuple[torch.Tensor, DecoderState]:
        """Teacher-forced decoder: inputs ``(B, T)`` -> logits ``(B, T, V)`` and the state
        after the last input (its ``attn`` the last step's weights)."""
        embedded = self.dropout(self.tgt_embed(tgt_in))
        if self.attention is None:
            output, (h, c) = self.decoder(embedded, (state.h, state.c))
            return self.generator(self.dropout(output)), replace(state, h=h, c=c)
        memory, rows = state.memory, state.rows
        assert memory is not None and rows is not None
        values, mask = memory.values[rows], memory.mask[rows]
        keys = values if memory.keys is memory.values else memory.keys[rows]  # dot: one gather
        hc = (state.h, state.c)
        feed = state.feed
        if feed is None:  # the whole sequence at once, then attention at every step
            output, hc = self.decoder(embedded, hc)
            attentional, weights = self.attention(output, keys, values, mask)
        else:  # input feeding: step by step
            vectors, all_weights = [], []
            for t in range(embedded.shape[1]):
                x = torch.cat([embedded[:, t:t + 1], feed.unsqueeze(1).to(embedded.dtype)], 2)
                output, hc = self.decoder(x, hc)
                vector, w = self.attention(output, keys, values, mask)
                feed = vector[:, 0]
                vectors.append(vector)
                all_weights.append(w)
            attentional, weights = torch.cat(vectors, 1), torch.cat(all_weights, 1)
        new = replace(state, h=hc[0], c=hc[1], attn=weights[:, -1], feed=feed)
        return self.generator(self.dropout(attentional)), new

    def step(self, prev: torch.Tensor, state: DecoderState) -> tuple[torch.Tensor, DecoderState]:
        """One decoder step: previous tokens ``(B,)`` -> log-probabilities ``(B, V)``."""
        logits, state = self.decode(prev.unsqueeze(1), state)
        return torch.log_softmax(logits.squeeze(1), dim=-1, dtype=torch.float32), state

    # -- states --------------------------------------------------------------------------
    @staticmethod
    def select_state(state: DecoderState, index: torch.Tensor) -> DecoderState:
        """The decoder state of batch rows ``index`` (reordered, dropped or repeated); the
        memory is shared, not copied."""
        return DecoderState(
            state.h.index_select(1, index), state.c.index_select(1, index), state.memory,
            None if state.rows is None else state.rows.index_select(0, index),
            None if state.attn is None else state.attn.index_select(0, index),
            None if state.feed is None else state.feed.index_select(0, index))

    @staticmethod
    def cat_states(states: list[DecoderState]) -> DecoderState:
        """Row blocks of one state (the same memory) joined in order."""
        first = states[0]

        def cat(name: str, dim: int) -> torch.Tensor | None:
            parts = [getattr(s, name) for s in states]
            return None if parts[0] is None else torch.cat(parts, dim)

        h, c = cat("h", 1), cat("c", 1)
        assert h is not None and c is not None
        return DecoderState(h, c, first.memory, cat("rows", 0), cat("attn", 0), cat("feed", 0))

    @staticmethod
    def attention_weights(state: DecoderState) -> torch.Tensor | None:
        """The last step's attention weights ``(B, S)`` over the source positions in reading
        order (for a state from :meth:`encode`); None for a model without attention."""
        return state.attn

    # -- training and plain scoring ------------------------------------------------------
    def forward(self, batch: Batch) -> torch.Tensor:
        """Logits ``(B, T+1, V)`` for ``batch.tgt_out`` given ``batch.tgt_in``."""
        state = self.encode(batch.src, batch.src_lengths)
        logits, _ = self.decode(batch.tgt_in, state)
        return logits

    def sentence_vector(self, src: torch.Tensor, src_lengths: torch.Tensor) -> torch.Tensor:
        """The encoder's final top-layer hidden state ``(B, hidden)`` (the paper's Figure 2)."""
        state = self.encode(src, src_lengths)
        return state.h[-1]

    def token_log_probs(self, batch: Batch) -> torch.Tensor:
        """Natural-log probability of each target token, </s> included: ``(B, T+1)``, 0 at
        padding. Row sums are log P(target | source)."""
        logits = self.forward(batch).float()
        logp = torch.log_softmax(logits, dim=-1)
        picked = logp.gather(2, batch.tgt_out.unsqueeze(2)).squeeze(2)
        return picked.masked_fill(batch.tgt_out == PAD_ID, 0.0)

    def loss(self, batch: Batch) -> torch.Tensor:
        """Summed cross-entropy (natural log) over the batch's target tokens, </s> included."""
        return summed_cross_entropy(self.forward(batch), batch.tgt_out)
