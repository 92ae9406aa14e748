"""The LSTM sequence-to-sequence feature: ln P(hypothesis | source) under a trained model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from rescore.features.model_feature import ModelFeature
from rescore.scoring import TrieStats, score_prefix_shared
from rescore.vocab import UNK_ID


class LSTMFeature(ModelFeature):
    """NATURAL-log probability of the hypothesis given the source, summed over its tokens with
    ``</s>`` included (not length-normalised), from a model directory of rescore-train.

    Both sides are split on spaces (the list and the source must be tokenized as the model's
    training data); words outside the vocabulary are scored as ``<unk>`` and counted in
    ``unknown_hypotheses``. Each source is encoded once and the hypotheses share the decoder
    steps of their common prefixes (:func:`rescore.scoring.score_prefix_shared`). A
    right-to-left model (``rescore-train --target-right-to-left``) scores each hypothesis in
    its own order, reversed: its trie then shares the hypotheses' common suffixes. The value
    is ln P(hypothesis | source) either way.
    """

    group_size = 16

    def __init__(self, directory: str | Path, name: str = "LSTM0",
                 device: torch.device | None = None, max_tokens: int = 500) -> None:
        super().__init__(directory, name, device, max_tokens)
        self.stats = TrieStats()

    def score_many(self, hypotheses: Sequence[Sequence[str]],
                   sources: Sequence[str | None]) -> list[np.ndarray]:
        """One prefix-shared pass over several sentences (more decoder work per step)."""
        loaded = self.loaded
        src = [loaded.src_vocab.encode(s.split()) for s in self.require_sources(sources)]
        rtl = loaded.right_to_left
        hyps = [[loaded.tgt_vocab.encode(h.split(), reverse=rtl) for h in hs]
                for hs in hypotheses]
        self.unknown_hypotheses += sum(int((h == UNK_ID).any()) for hs in hyps for h in hs)
        return self.finite(score_prefix_shared(loaded.model, src, hyps, loaded.device,
                                               stats=self.stats))

    def summary(self) -> str:
        return (f"{self.name} ({self.directory}): {self.unknown_hypotheses} distinct hypotheses "
                f"with words outside its vocabulary (scored as <unk>); "
                f"{self.stats.decoder_steps} decoder steps for {self.stats.tokens} target tokens")
