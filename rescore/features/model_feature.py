"""What the features of trained models share: loading the model directory, the longest
hypothesis they score, and the count of hypotheses with words outside its vocabulary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from rescore import model_dir
from rescore.errors import RescoreError
from rescore.features.base import FeatureScorer


class ModelFeature(FeatureScorer):
    """A feature scored by a model directory of rescore-train; subclasses fill in
    :meth:`score_many` (several sentences' distinct hypotheses at once)."""

    needs_source = True

    def __init__(self, directory: str | Path, name: str, device: torch.device | None = None,
                 max_tokens: int = 500) -> None:
        super().__init__(name)
        if max_tokens < 1:
            raise RescoreError(f"the longest hypothesis to score must be >= 1, not {max_tokens}")
        self.max_tokens = max_tokens
        self.loaded = model_dir.load(directory, device)
        self.directory = Path(directory)
        self.unknown_hypotheses = 0

    def score_distinct(self, hypotheses: Sequence[str], source: str | None) -> np.ndarray:
        return self.score_many([hypotheses], [source])[0]

    def finite(self, scores: list[np.ndarray]) -> list[np.ndarray]:
        """``scores`` if every one is a number: a NaN from a broken model is one error naming
        it, never a ``nan`` written into a list (which rescore's own reader refuses)."""
        if any(bool(np.isnan(s).any()) for s in scores):
            raise RescoreError(f"{self.directory}: the model gives NaN scores ({self.name}): "
                               "its weights or its input are broken")
        return scores

    def require_sources(self, sources: Sequence[str | None]) -> list[str]:
        if any(s is None for s in sources):
            raise RescoreError(f"the feature {self.name} needs the source sentences (--source)")
        return [str(s) for s in sources]
