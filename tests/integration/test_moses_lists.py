"""The reader checked against Moses itself on the real Multi30k lists (../shared/data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rescore.nbest import read_nbest
from rescore.weights import load_weights

FLOAT32_EPS = float(np.finfo(np.float32).eps)


def print_precision(x: np.ndarray) -> np.ndarray:
    """Half a unit in the 6th significant digit: how far Moses' printed value can be off."""
    mag = np.floor(np.log10(np.maximum(np.abs(x), 1e-300)))
    return np.where(x == 0, 0.0, 0.5 * 10.0 ** (mag - 5))


@pytest.mark.system  # every line of the real lists
def test_totals_are_features_times_tuned_weights_plus_unprinted_penalty(multi30k: Path) -> None:
    """Every line of test2016.1000best: total = features . weights + k * (-100), k >= 0 the
    same for every hypothesis of the sentence (Moses' unprinted UnknownWordPenalty0)."""
    weights = load_weights(multi30k / "moses.ini.tuned")
    lines = sentences = with_penalty = 0
    worst = 0.0
    for block in read_nbest(multi30k / "nbest" / "test2016.1000best.gz"):
        w = weights.vector(block.schema)
        dot = block.values @ w
        residual = block.totals - dot
        k = np.round(residual / -100.0)
        # totals, features and the ini's weights are printed to 6 significant digits, and
        # Moses sums in float32 (summation error bound: terms x eps x magnitude)
        tolerance = (print_precision(block.totals) + print_precision(block.values) @ np.abs(w)
                     + np.abs(block.values) @ print_precision(w)
                     + FLOAT32_EPS * (len(w) + 1)
                     * (np.abs(block.totals) + np.abs(block.values) @ np.abs(w)))
        error = np.abs(residual + 100.0 * k)
        bad = block.first_line + int(np.argmax(error - tolerance))
        assert (error <= tolerance + 1e-9).all(), f"line {bad}"
        assert (k >= 0).all() and (k == k[0]).all(), f"sentence {block.sent_id}"
        worst = max(worst, float(error.max()))
        lines += len(block)
        sentences += 1
        with_penalty += int(k[0] > 0)
    assert (lines, sentences) == (1_000_000, 1000)
    assert 0 < with_penalty < sentences  # the data has OOV sentences, and most have none
    assert worst < 1e-3


def test_fields_5_and_aligned_list(multi30k: Path) -> None:
    blocks = read_nbest(multi30k / "nbest" / "test2016.100best-align.gz")
    first = next(blocks)
    assert len(first) == 100 and len(first.fields[0]) == 5
    assert first.fields[0][4].strip().startswith("0-0 ")


def test_old_colon_format_lists(moses_formats: Path) -> None:
    for name in ("mert-example.nbest", "promix-test.nbest", "regression-run1.nbest.gz"):
        blocks = list(read_nbest(moses_formats / name))
        assert blocks, name
        names = set(blocks[0].schema.names)
        assert {"d", "lm", "tm", "w"} <= names, name
        assert all(np.isfinite(b.values).all() for b in blocks)


@pytest.mark.parametrize("name", ["mert-example.nbest", "promix-test.nbest"])
def test_old_format_values_match_text(moses_formats: Path, name: str) -> None:
    path = moses_formats / name
    block = next(read_nbest(path))
    line = path.read_text(encoding="utf-8").splitlines()[0]
    numbers = [float(t) for t in line.split("|||")[2].split() if not t.endswith(":")]
    np.testing.assert_array_equal(block.values[0], numbers)
