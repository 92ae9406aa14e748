"""Figure 3's bins: whole-number ranges that never overlap (from a user's report: bins 6-8,
8-10, 10-12 with float edges), of about equal size; Figure 2 and 3 plots render."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from rescore.figures import bleu_by_bins, integer_bins, pca_2d, plot_bins, plot_pca


@pytest.mark.parametrize("seed", range(5))
def test_integer_bins_do_not_overlap_and_cover_every_sentence(seed: int) -> None:
    rng = np.random.default_rng(seed)
    keys = rng.integers(3, 30, size=500).astype(float) + rng.uniform(-0.4, 0.4, size=500)
    bins = integer_bins(keys, 7)
    rounded = np.rint(keys).astype(int)
    assert sorted(np.concatenate(bins).tolist()) == list(range(500))
    ranges = [(rounded[b].min(), rounded[b].max()) for b in bins]
    assert all(hi < lo for (_, hi), (lo, _) in itertools.pairwise(ranges))
    sizes = [len(b) for b in bins]
    assert len(bins) <= 7 and max(sizes) < 3 * 500 / 7


def test_one_value_everywhere_is_one_bin() -> None:
    assert [len(b) for b in integer_bins([5.0] * 20, 4)] == [20]


def test_bleu_by_bins_table_and_plots() -> None:
    refs = [" ".join(["w"] * n) for n in range(1, 31)]
    table = bleu_by_bins(refs, [("base", refs), ("short", [r[:-2] for r in refs])],
                         [len(r.split()) for r in refs], bins=4)
    assert table["low"].dtype.kind == "i" and table["sentences"].sum() == 30
    assert (table["low"].to_numpy()[1:] > table["high"].to_numpy()[:-1]).all()
    assert plot_bins(table, {"T": ["short"]}, "base", "words", "BLEU")[:4] == b"\x89PNG"
    assert plot_bins(table, {"T": ["base", "short"]}, None, "words", "BLEU")[:4] == b"\x89PNG"
    coords, explained = pca_2d(np.random.default_rng(0).normal(size=(6, 5)))
    png = plot_pca(coords, [f"phrase number {i} " * 3 for i in range(6)], explained)
    assert png[:4] == b"\x89PNG" and isinstance(table, pd.DataFrame)
