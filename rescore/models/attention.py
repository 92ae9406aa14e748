"""Attention layers: Luong et al. (2015)'s global attention for the LSTM decoder, and the
multi-head attention of the Transformer (Vaswani et al. 2017) on torch's
``scaled_dot_product_attention``."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class GlobalAttention(nn.Module):
    """Luong et al. (2015)'s global attention: scores of a query ``h_t`` against every encoder
    output ``h_s``, their softmax over the real positions, the context ``c_t`` and the
    attentional vector ``tanh(W_c [c_t; h_t])``."""

    def __init__(self, kind: str, hidden: int) -> None:
        super().__init__()
        self.kind = kind
        if kind == "general":
            self.w_a = nn.Linear(hidden, hidden, bias=False)
        elif kind == "concat":  # v . tanh(W_a [h_t; h_s]) with W_a = [W_q W_k]
            self.w_q = nn.Linear(hidden, hidden, bias=False)
            self.w_k = nn.Linear(hidden, hidden, bias=False)
            self.v = nn.Linear(hidden, 1, bias=False)
        self.w_c = nn.Linear(2 * hidden, hidden, bias=False)

    def keys(self, values: torch.Tensor) -> torch.Tensor:
        """Encoder outputs ``(N, S, H)`` -> what the scores read of them, ``(N, S, H)``."""
        if self.kind == "general":
            return self.w_a(values)
        if self.kind == "concat":
            return self.w_k(values)
        return values

    def forward(self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Queries ``(B, T, H)`` over keys and values ``(B, S, H)``, mask ``(B, S)`` ->
        attentional vectors ``(B, T, H)`` and attention weights ``(B, T, S)`` (rows sum to 1
        over the real positions, 0 at padding)."""
        if self.kind == "concat":
            scores = self.v(torch.tanh(self.w_q(query).unsqueeze(2) + keys.unsqueeze(1)))
            scores = scores.squeeze(3)
        else:
            scores = torch.bmm(query, keys.transpose(1, 2))
        scores = scores.float().masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        context = torch.bmm(weights.to(values.dtype), values)
        return torch.tanh(self.w_c(torch.cat([context, query], dim=-1))), weights


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention: queries, keys and values projected to
    ``heads`` heads of ``dim / heads``, attended with :func:`F.scaled_dot_product_attention`
    and projected back. Keys and values can be projected once (:meth:`project_kv`) and
    reused: the decoder's cache of its own past positions, and the encoder's outputs for
    every step."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.dropout = dropout
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, dim) -> (B, heads, T, head_dim)``."""
        return x.view(x.shape[0], x.shape[1], self.heads, self.head_dim).transpose(1, 2)

    def project_kv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of ``x`` ``(B, S, dim)``, each ``(B, heads, S, head_dim)``."""
        return self.split(self.k(x)), self.split(self.v(x))

    def forward(self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                mask: torch.Tensor | None = None, causal: bool = False) -> torch.Tensor:
        """Queries ``(B, T, dim)`` over projected keys and values ``(B, heads, S, hd)``;
        ``mask`` broadcastable to ``(B, heads, T, S)``, True where a query may look."""
        return self.merge(self.attend(self.split(self.q(query)), keys, values, mask, causal))

    def attend(self, q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
               mask: torch.Tensor | None = None, causal: bool = False) -> torch.Tensor:
        """Projected queries ``(B, heads, T, hd)`` over keys and values -> ``(B, heads, T,
        hd)`` (torch's scaled_dot_product_attention)."""
        return F.scaled_dot_product_attention(
            q, keys.to(q.dtype), values.to(q.dtype), attn_mask=mask,
            is_causal=causal and mask is None, dropout_p=self.dropout if self.training else 0.0)

    def merge(self, heads: torch.Tensor) -> torch.Tensor:
        """``(B, heads, T, hd)`` -> the output projection of the joined heads ``(B, T, dim)``."""
        b, _, t, _ = heads.shape
        return self.out(heads.transpose(1, 2).reshape(b, t, -1))
