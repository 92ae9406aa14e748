"""rescore: rerank machine-translation n-best lists with neural and n-gram feature scores."""

from rescore.errors import InputError, RescoreError
from rescore.nbest import FeatureSchema, NbestBlock, iter_sentences, read_nbest
from rescore.weights import Weights, load_weights

__version__ = "0.3.0.dev0"

__all__ = [
    "FeatureSchema",
    "InputError",
    "NbestBlock",
    "RescoreError",
    "Weights",
    "__version__",
    "iter_sentences",
    "load_weights",
    "read_nbest",
]
