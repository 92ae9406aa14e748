"""The models rescore trains and drives, one module per architecture behind one protocol
(:mod:`rescore.models.protocol`): the LSTM of Sutskever et al. (2014) with Luong et al.
(2015)'s attention (:mod:`rescore.models.lstm`) and the Transformer of Vaswani et al. (2017)
(:mod:`rescore.models.transformer`). Scoring, tries, channel scoring, ensembles and beam
search see only the protocol; :func:`build_model` picks the class from ``config.arch``."""

from __future__ import annotations

from torch import nn

from rescore.config import ModelConfig
from rescore.models.lstm import Seq2Seq
from rescore.models.protocol import (
    DecoderModel,
    SteppedEncoder,
    count_parameters,
    summed_cross_entropy,
)
from rescore.models.transformer import Transformer

ARCHITECTURES: dict[str, type[nn.Module]] = {"lstm": Seq2Seq, "transformer": Transformer}


def build_model(config: ModelConfig) -> nn.Module:
    """A freshly initialised network of ``config.arch``."""
    return ARCHITECTURES[config.arch](config)


__all__ = ["ARCHITECTURES", "DecoderModel", "SteppedEncoder", "build_model", "count_parameters",
           "summed_cross_entropy"]
