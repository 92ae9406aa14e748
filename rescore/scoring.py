"""Scoring sentence pairs with a trained model: natural-log log P(target | source).

The score of a target is the sum over its tokens of ln P(y_t | y_<t, x), </s> included; per-
token log-probabilities are available. Words outside the vocabulary are scored as <unk>.
Batching (pairs sorted by length, padded) gives the same numbers as scoring one pair at a
time: the encoder is packed and the decoder is left-to-right, so padding never leaks in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rescore.config import load_config
from rescore.corpus import make_batch
from rescore.model import Seq2Seq
from rescore.train import load_model
from rescore.vocab import EOS_ID, UNK_ID, Vocab


@dataclass
class PairScores:
    """``totals (n,)``: ln P(target | source) with </s>; ``tokens[i]``: the per-token terms
    of pair i (length len(target) + 1); ``unknown (n,)``: target words scored as <unk>."""

    totals: np.ndarray
    tokens: list[np.ndarray]
    unknown: np.ndarray


class Scorer:
    """A model with its vocabularies, ready to score tokenized sentence pairs."""

    def __init__(self, model: Seq2Seq, src_vocab: Vocab, tgt_vocab: Vocab,
                 device: torch.device | None = None, batch_size: int = 64) -> None:
        self.device = device or torch.device("cpu")
        self.model = model.to(self.device).eval()
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab
        self.batch_size = batch_size

    @classmethod
    def from_directory(cls, directory: str | Path, device: torch.device | None = None,
                       batch_size: int = 64) -> Scorer:
        path = Path(directory)
        model_cfg, _, _ = load_config(path / "config.json")
        return cls(load_model(path, model_cfg), Vocab.load(path / "src.vocab"),
                   Vocab.load(path / "tgt.vocab"), device, batch_size)

    def score(self, sources: Sequence[Sequence[str]],
              targets: Sequence[Sequence[str]]) -> PairScores:
        """Score pair i = (sources[i], targets[i]); token lists, already tokenized. An empty
        source is read as a lone </s>."""
        src_ids = [self.src_vocab.encode(s) if len(s) else np.array([EOS_ID], np.int32)
                   for s in sources]
        tgt_ids = [self.tgt_vocab.encode(t) for t in targets]
        order = sorted(range(len(tgt_ids)), key=lambda i: (len(tgt_ids[i]), len(src_ids[i])))
        tokens: list[np.ndarray] = [np.empty(0)] * len(tgt_ids)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                rows = order[start:start + self.batch_size]
                batch = make_batch([src_ids[i] for i in rows], [tgt_ids[i] for i in rows])
                logp = self.model.token_log_probs(batch.to(self.device)).double().cpu().numpy()
                for j, i in enumerate(rows):
                    tokens[i] = logp[j, : len(tgt_ids[i]) + 1]
        totals = np.array([t.sum() for t in tokens])
        unknown = np.array([int((t == UNK_ID).sum()) for t in tgt_ids])
        return PairScores(totals, tokens, unknown)
