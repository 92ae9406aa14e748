"""A target-side n-gram language model feature through the ``kenlm`` package."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rescore.errors import RescoreError
from rescore.features.base import FeatureScorer

LN10 = math.log(10.0)


class KenLMFeature(FeatureScorer):
    """log P(hypothesis) under a KenLM model (ARPA, ``.arpa.gz`` or binary), NATURAL log.

    KenLM returns log10; this feature multiplies by ln(10) so that it has the unit of Moses'
    own ``LM0`` feature (Moses converts KenLM scores to natural log too) and of the LSTM
    feature. The sentence is scored with ``<s>`` as context (not scored itself) and with
    ``</s>`` scored at the end (``bos=True, eos=True``). Unknown words get KenLM's ``<unk>``
    probability; there is no separate OOV count.
    """

    def __init__(self, path: str | Path, name: str = "KenLM0") -> None:
        super().__init__(name)
        import kenlm  # imported here: only this feature needs the compiled extension

        try:
            self.model = kenlm.Model(str(path))
        except (OSError, RuntimeError) as err:
            raise RescoreError(f"{path}: cannot load KenLM model: {err}") from err
        self.order = self.model.order

    def score_distinct(self, hypotheses: Sequence[str], source: str | None) -> np.ndarray:
        score = self.model.score
        return np.array([score(h, bos=True, eos=True) for h in hypotheses]) * LN10
