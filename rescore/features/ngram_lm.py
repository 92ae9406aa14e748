"""A target-side n-gram language model feature through the ``kenlm`` package."""

from __future__ import annotations

import contextlib
import math
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
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
            with _quiet_stderr() as banner:
                self.model = kenlm.Model(str(path))
        except (OSError, RuntimeError) as err:
            raise RescoreError(f"{path}: cannot load KenLM model: "
                               f"{str(err).strip() or ' '.join(banner[-1:])}") from err
        self.order = self.model.order

    def score_distinct(self, hypotheses: Sequence[str], source: str | None) -> np.ndarray:
        score = self.model.score
        return np.array([score(h, bos=True, eos=True) for h in hypotheses]) * LN10


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[list[str]]:
    """Send file descriptor 2 to a temporary file while KenLM loads: its C++ code prints a
    banner and a progress bar there ("Loading the LM will be faster if you build a binary
    file", a row of stars) that a user of rescore-nbest does not need. Yields a list that
    holds the captured lines afterwards, so an error can quote them."""
    captured: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            captured += capture.read().decode("utf-8", "replace").splitlines()
