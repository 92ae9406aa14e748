"""Feature scorers: each adds one named feature (one or more values) to every hypothesis."""

from rescore.features.base import FeatureScorer
from rescore.features.lstm import LSTMFeature
from rescore.features.ngram_lm import KenLMFeature

__all__ = ["FeatureScorer", "KenLMFeature", "LSTMFeature"]
