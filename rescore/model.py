"""The LSTM encoder-decoder under its name before rescore.models: kept importable for code
written against it (``from rescore.model import Seq2Seq``)."""

from rescore.models.attention import GlobalAttention
from rescore.models.lstm import (
    DecoderState,
    Memory,
    ResidualLSTM,
    Seq2Seq,
    State,
    reverse_padded,
)
from rescore.models.protocol import count_parameters, length_mask, summed_cross_entropy

__all__ = ["DecoderState", "GlobalAttention", "Memory", "ResidualLSTM", "Seq2Seq", "State",
           "count_parameters", "length_mask", "reverse_padded", "summed_cross_entropy"]
