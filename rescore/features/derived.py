"""Derived features: values computed from a hypothesis and the features it already has (no
model, no source), applied by the same driver as every other feature."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rescore.errors import InputError
from rescore.features.base import FeatureScorer
from rescore.nbest import NbestBlock


class MeanFeature(FeatureScorer):
    """The mean of other one-value features of the same hypothesis (the ensemble of LSTM
    models: the mean of their natural-log probabilities)."""

    def __init__(self, name: str, of: Sequence[str]) -> None:
        super().__init__(name)
        self.of = tuple(of)

    def score_distinct(self, hypotheses: Sequence[str], source: str | None) -> np.ndarray:
        raise TypeError("MeanFeature is computed from a block's features (score_blocks)")

    def values(self, block: NbestBlock) -> np.ndarray:
        missing = [n for n in self.of if n not in block.schema.names]
        if missing:
            raise InputError(block.path, block.first_line, f"no feature {', '.join(missing)} "
                             f"to average into {self.name}")
        return np.mean([block.feature(n)[:, 0] for n in self.of], axis=0)

    def score_blocks(self, blocks: Sequence[NbestBlock],
                     sources: Sequence[str | None]) -> list[np.ndarray]:
        return [self.values(b)[:, None] for b in blocks]


class WordCountFeature(FeatureScorer):
    """The number of tokens of the hypothesis (``</s>`` not counted): the length term of
    noisy-channel reranking, which balances the log-probabilities' preference for short
    outputs (Moses lists carry it already as -WordPenalty0)."""

    def __init__(self, name: str = "WordCount0") -> None:
        super().__init__(name)

    def score_distinct(self, hypotheses: Sequence[str], source: str | None) -> np.ndarray:
        return np.array([[len(h.split())] for h in hypotheses], dtype=np.float64)


class PerWordFeature(FeatureScorer):
    """Another one-value feature of the same hypothesis divided by the hypothesis' tokens plus
    one (its ``</s>``, which the log-probabilities include): a length-normalised score (the
    average log-probability per target word), which does not prefer short hypotheses as a
    sum of log-probabilities does. Named ``PerWord<feature>`` (``PerWordLSTMEnsemble0``)."""

    def __init__(self, of: str) -> None:
        super().__init__(f"PerWord{of}")
        self.of = of

    def score_distinct(self, hypotheses: Sequence[str], source: str | None) -> np.ndarray:
        raise TypeError("PerWordFeature is computed from a block's features (score_blocks)")

    def values(self, block: NbestBlock) -> np.ndarray:
        if self.of not in block.schema.names:
            raise InputError(block.path, block.first_line, f"no feature {self.of} to divide "
                             f"by the length into {self.name}")
        lengths = np.array([len(h.split()) + 1 for h in block.hypotheses], dtype=np.float64)
        return block.feature(self.of)[:, 0] / lengths

    def score_blocks(self, blocks: Sequence[NbestBlock],
                     sources: Sequence[str | None]) -> list[np.ndarray]:
        return [self.values(b)[:, None] for b in blocks]
