"""The deep LSTM encoder-decoder of Sutskever, Vinyals & Le (2014).

Two separate deep LSTMs: the encoder reads the source (reversed by default), and its final
(h, c) of every layer is the decoder's initial state; a linear generator and softmax over the
target vocabulary give P(y_t | y_<t, x). All parameters are initialised uniformly in
[-init_range, init_range]. Scores are natural-log probabilities.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from rescore.config import ModelConfig
from rescore.corpus import Batch
from rescore.vocab import PAD_ID

State = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (layers, batch, hidden)


def reverse_padded(tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first ``lengths[i]`` tokens, leaving the padding after them:
    ``(B, S) -> (B, S)``."""
    positions = torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0)
    lens = lengths.to(tokens.device).unsqueeze(1)
    index = torch.where(positions < lens, lens - 1 - positions, positions)
    return tokens.gather(1, index)


class Seq2Seq(nn.Module):
    """LSTM encoder-decoder with the narrow interface beam search and scoring use:
    :meth:`encode` (source -> state) and :meth:`step` (previous token, state -> next-token
    log-probabilities, state); :meth:`forward` is teacher-forced training."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.src_embed = nn.Embedding(c.src_vocab_size, c.embed_dim)
        between_layers = c.dropout if c.num_layers > 1 else 0.0
        self.encoder = nn.LSTM(c.embed_dim, c.hidden_dim, c.num_layers, batch_first=True,
                               dropout=between_layers)
        self.tgt_embed = nn.Embedding(c.tgt_vocab_size, c.embed_dim)
        self.decoder = nn.LSTM(c.embed_dim, c.hidden_dim, c.num_layers, batch_first=True,
                               dropout=between_layers)
        self.dropout = nn.Dropout(c.dropout)  # identity in eval mode and when 0
        self.generator = nn.Linear(c.hidden_dim, c.tgt_vocab_size)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform init in [-init_range, init_range] for every parameter (the paper's)."""
        for p in self.parameters():
            nn.init.uniform_(p, -self.config.init_range, self.config.init_range)

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> State:
        """Source ids ``(B, S)`` in reading order, lengths ``(B,)`` -> final (h, c) of every
        encoder layer, each ``(layers, B, hidden)``. Reverses the source if configured."""
        if self.config.reverse_source:
            src = reverse_padded(src, src_lengths)
        packed = pack_padded_sequence(self.dropout(self.src_embed(src)),
                                      src_lengths.cpu().clamp(min=1),
                                      batch_first=True, enforce_sorted=False)
        _, state = self.encoder(packed)
        return state

    def encoder_step(self, tokens: torch.Tensor, state: State) -> State:
        """One encoder step for a batch of partial inputs: tokens ``(B,)`` (in the order the
        encoder reads them: already reversed for a reversed source) and the state after the
        tokens before them -> the state after these tokens. Stepping a whole input gives what
        :meth:`encode` gives; prefix tries of inputs use it to share steps."""
        _, state = self.encoder(self.dropout(self.src_embed(tokens)).unsqueeze(1), state)
        return state

    def initial_encoder_state(self, batch: int, device: torch.device) -> State:
        c = self.config
        zeros = torch.zeros(c.num_layers, batch, c.hidden_dim, device=device)
        return zeros, zeros.clone()

    def decode(self, tgt_in: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Teacher-forced decoder: inputs ``(B, T)`` -> logits ``(B, T, V)`` and final state."""
        output, state = self.decoder(self.dropout(self.tgt_embed(tgt_in)), state)
        return self.generator(self.dropout(output)), state

    def step(self, prev: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One decoder step: previous tokens ``(B,)`` -> log-probabilities ``(B, V)``."""
        logits, state = self.decode(prev.unsqueeze(1), state)
        return torch.log_softmax(logits.squeeze(1).float(), dim=-1), state

    def select_state(self, state: State, index: torch.Tensor) -> State:
        """The decoder state of batch rows ``index`` (reordered, dropped or repeated)."""
        h, c = state
        return h.index_select(1, index), c.index_select(1, index)

    def forward(self, batch: Batch) -> torch.Tensor:
        """Logits ``(B, T+1, V)`` for ``batch.tgt_out`` given ``batch.tgt_in``."""
        state = self.encode(batch.src, batch.src_lengths)
        logits, _ = self.decode(batch.tgt_in, state)
        return logits

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


def summed_cross_entropy(logits: torch.Tensor, tgt_out: torch.Tensor) -> torch.Tensor:
    """-sum log P(tgt_out) over non-padding positions; logits ``(B, T, V)``, tgt ``(B, T)``."""
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),
                                       tgt_out.reshape(-1), ignore_index=PAD_ID, reduction="sum")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
