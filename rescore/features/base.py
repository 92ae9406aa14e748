"""The feature-scorer interface: score one sentence's distinct hypotheses."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from rescore.nbest import NbestBlock, check_feature_name


class FeatureScorer(ABC):
    """Adds feature ``name`` with ``num_values`` values to each hypothesis.

    Subclasses fill in :meth:`score_distinct`; :meth:`score_block` scores each distinct
    hypothesis string once (Moses lists that are not distinct repeat strings many times) and
    spreads the results back over the listed entries.
    """

    num_values: int = 1

    def __init__(self, name: str) -> None:
        self.name = check_feature_name(name)

    @abstractmethod
    def score_distinct(self, hypotheses: Sequence[str], source: str | None) -> np.ndarray:
        """Scores of distinct hypothesis strings: ``(len(hypotheses), num_values)``."""

    def score_block(self, block: NbestBlock, source: str | None = None) -> np.ndarray:
        """Scores of every listed hypothesis of ``block``: ``(len(block), num_values)``."""
        index: dict[str, int] = {}
        inverse = np.fromiter((index.setdefault(h, len(index)) for h in block.hypotheses),
                              dtype=np.int64, count=len(block))
        distinct = np.asarray(self.score_distinct(list(index), source), dtype=np.float64)
        return distinct.reshape(len(index), self.num_values)[inverse]
