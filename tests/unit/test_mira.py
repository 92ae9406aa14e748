"""Batch MIRA: one update computed by hand; never below the start; a clear error for a list
with one feature."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from rescore.errors import RescoreError
from rescore.feature_table import FeatureTable, corpus_bleu_of
from rescore.mira import background_gain, mira
from rescore.nbest import FeatureSchema
from rescore.tune import TuneRequest, tune_weights

# one sentence, reference of 4 words; the bad hypothesis (one word right) is listed first
BAD = [4, 4, 1, 0, 0, 0, 4, 3, 2, 1]
GOOD = [4, 4, 4, 3, 2, 1, 4, 3, 2, 1]


def one_sentence() -> FeatureTable:
    return FeatureTable(FeatureSchema(("A", "B"), (1, 1)), np.array([0, 0]),
                        np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([BAD, GOOD]),
                        np.zeros(2))


def test_one_update_by_hand() -> None:
    # background = ones: GOOD + 1 gives precisions 5/5, 4/4, 3/3, 2/2 and no brevity
    # penalty: gain 1 x |B|_ref (1); BAD + 1 gives 2/5, 1/4, 1/3, 1/2
    bad_gain = math.exp((math.log(2 / 5) + math.log(1 / 4) + math.log(1 / 3)
                         + math.log(1 / 2)) / 4)
    np.testing.assert_allclose(background_gain(np.array([BAD, GOOD]), np.ones(10)),
                               [bad_gain, 1.0])
    # w = 0: hope = GOOD (gain), fear = BAD; violation = 1 - bad_gain; ||f_hope - f_fear||^2 = 2
    eta = (1 - bad_gain) / 2
    w, bleu = mira(one_sentence(), np.zeros(2), passes=1, c=1.0)
    np.testing.assert_allclose(w, [-eta, eta])
    assert bleu == pytest.approx(corpus_bleu_of(one_sentence(), np.array([0.0, 1.0])))
    w, _ = mira(one_sentence(), np.zeros(2), passes=1, c=0.01)  # the step is capped at C
    np.testing.assert_allclose(w, [-0.01, 0.01])


@pytest.mark.parametrize("seed", range(3))
def test_never_below_the_start(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sents, values, stats = [], [], []
    for k in range(20):
        for _ in range(5):
            ref_len = 6
            match = rng.integers(0, 6)
            row = [6, ref_len, match, max(match - 1, 0), max(match - 2, 0), max(match - 3, 0),
                   6, 5, 4, 3]
            sents.append(k)
            stats.append(row)
            values.append([match + rng.normal(0, 2), rng.normal(0, 3), rng.normal()])
    table = FeatureTable(FeatureSchema(("A", "B", "C"), (1, 1, 1)), np.array(sents),
                         np.array(values), np.array(stats), np.zeros(len(sents)))
    start = rng.normal(size=3)
    w, bleu = mira(table, start, passes=5, seed=seed)
    assert bleu >= corpus_bleu_of(table, table.values @ start) - 1e-9
    assert bleu == pytest.approx(corpus_bleu_of(table, table.values @ w))


def test_mira_needs_two_feature_values(tmp_path: Path) -> None:
    nbest = tmp_path / "l.nbest"
    nbest.write_text("0 ||| a b ||| F= 1 ||| 1\n0 ||| a c ||| F= 2 ||| 2\n")
    with pytest.raises(RescoreError, match="mira needs at least two feature values"):
        tune_weights(TuneRequest(nbest=nbest, references=["a b"], method="mira"))
