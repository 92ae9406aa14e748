"""Feature scorers: each adds one named feature (one or more values) to every hypothesis.

:func:`rescore.rerank.annotate` applies a list of them, in order, to each sentence of a list;
a scorer sees the features added before it (derived features such as :class:`MeanFeature`
use that)."""

from rescore.features.base import FeatureScorer
from rescore.features.channel import ChannelFeature
from rescore.features.derived import MeanFeature, PerWordFeature, WordCountFeature
from rescore.features.lstm import LSTMFeature
from rescore.features.ngram_lm import KenLMFeature

__all__ = ["ChannelFeature", "FeatureScorer", "KenLMFeature", "LSTMFeature", "MeanFeature",
           "PerWordFeature", "WordCountFeature"]
