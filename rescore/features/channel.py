"""The noisy-channel feature: ln P(source | hypothesis) under a model trained in the other
direction (target language -> source language)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from rescore.features.model_feature import ModelFeature
from rescore.scoring import ChannelStats, score_channel
from rescore.vocab import UNK_ID


class ChannelFeature(ModelFeature):
    """NATURAL-log probability of the SOURCE sentence given the hypothesis, summed over the
    source's tokens with ``</s>`` included (not length-normalised), from a model directory of
    rescore-train trained on target -> source pairs (a right-to-left one scores the source in
    reverse, by itself).

    The hypotheses are the model's inputs: every distinct hypothesis is encoded once, and
    hypotheses that end alike (with the paper's reversed input) share encoder steps; the
    source is then scored under each (:func:`rescore.scoring.score_channel`). Words outside
    the model's vocabularies are scored as ``<unk>``.
    """

    group_size = 8

    def __init__(self, directory: str | Path, name: str = "Channel0",
                 device: torch.device | None = None, max_tokens: int = 500) -> None:
        super().__init__(directory, name, device, max_tokens)
        self.stats = ChannelStats()

    def score_many(self, hypotheses: Sequence[Sequence[str]],
                   sources: Sequence[str | None]) -> list[np.ndarray]:
        loaded = self.loaded
        outputs = [loaded.tgt_vocab.encode(s.split(), reverse=loaded.right_to_left)
                   for s in self.require_sources(sources)]
        inputs = [[loaded.src_vocab.encode(h.split()) for h in hs] for hs in hypotheses]
        self.unknown_hypotheses += sum(int((h == UNK_ID).any()) for hs in inputs for h in hs)
        return self.finite(score_channel(loaded.model, inputs, outputs, loaded.device,
                                         stats=self.stats))

    def summary(self) -> str:
        s = self.stats
        return (f"{self.name} ({self.directory}): channel model; {self.unknown_hypotheses} "
                f"distinct hypotheses with words outside its vocabulary; {s.encoder_steps} "
                f"encoder steps for {s.input_tokens} hypothesis tokens, {s.decoder_steps} "
                "decoder steps")
