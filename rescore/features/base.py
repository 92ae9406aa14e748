"""The feature-scorer interface: score one sentence's distinct hypotheses."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from rescore.errors import InputError
from rescore.nbest import NbestBlock, check_feature_name, distinct


class FeatureScorer(ABC):
    """Adds feature ``name`` with ``num_values`` values to each hypothesis.

    Subclasses fill in :meth:`score_distinct`; :meth:`score_block` scores each distinct
    hypothesis string once (Moses lists that are not distinct repeat strings many times) and
    spreads the results back over the listed entries.
    """

    num_values: int = 1
    group_size: int = 1  # sentences worth scoring together (see score_blocks)
    max_tokens: int | None = None  # a longer hypothesis is an input error (file:line)
    needs_source: bool = False  # scores depend on the source sentence (--source required)

    def __init__(self, name: str) -> None:
        self.name = check_feature_name(name)

    @abstractmethod
    def score_distinct(self, hypotheses: Sequence[str], source: str | None) -> np.ndarray:
        """Scores of distinct hypothesis strings: ``(len(hypotheses), num_values)``."""

    def score_many(self, hypotheses: Sequence[Sequence[str]],
                   sources: Sequence[str | None]) -> list[np.ndarray]:
        """:meth:`score_distinct` for several sentences at once; override to batch them."""
        return [np.asarray(self.score_distinct(h, s)) for h, s in
                zip(hypotheses, sources, strict=True)]

    def score_block(self, block: NbestBlock, source: str | None = None) -> np.ndarray:
        """Scores of every listed hypothesis of ``block``: ``(len(block), num_values)``."""
        return self.score_blocks([block], [source])[0]

    def score_blocks(self, blocks: Sequence[NbestBlock],
                     sources: Sequence[str | None]) -> list[np.ndarray]:
        """Scores of several sentences' listed hypotheses, each distinct string scored once."""
        texts, inverses = [], []
        for block in blocks:
            unique, inverse = distinct(block.hypotheses)
            texts.append(unique)
            inverses.append(inverse)
            if self.max_tokens is not None:
                self._check_lengths(block, unique)
        scores = self.score_many(texts, sources)
        return [np.asarray(s, dtype=np.float64).reshape(len(d), self.num_values)[inv]
                for s, d, inv in zip(scores, texts, inverses, strict=True)]

    def summary(self) -> str | None:
        """A line on the work done, for the command's report (None: nothing to say)."""
        return None

    def _check_lengths(self, block: NbestBlock, distinct: Sequence[str]) -> None:
        limit = self.max_tokens
        assert limit is not None
        for hyp in distinct:
            if hyp.count(" ") >= limit and len(hyp.split()) > limit:  # cheap test first
                line = block.line_number(block.hypotheses.index(hyp))
                raise InputError(block.path, line, f"hypothesis of {len(hyp.split())} tokens: "
                                 f"longer than {limit}, the most {self.name} scores "
                                 "(--max-hyp-tokens)")
