"""MERT and the grid search on small constructed lists."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rescore.feature_table import FeatureTable, corpus_bleu_of
from rescore.metrics import STATS_DIM, corpus_bleu_from_stats
from rescore.nbest import FeatureSchema, read_nbest
from rescore.rerank import rerank_block
from rescore.tune import (
    DEFAULT_GRID,
    TuneRequest,
    _envelope,
    envelope_scan,
    grid_search,
    line_search,
    mert,
    tune_weights,
)
from rescore.weights import Weights, load_weights


@pytest.mark.parametrize("seed", range(5))
def test_envelope_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(-5, 5, 30).astype(float)  # integers: ties and parallel lines happen
    b = rng.integers(-3, 3, 30).astype(float)
    lines, breaks = _envelope(a, b)
    assert (np.diff(breaks) > 0).all()
    for g in np.linspace(-20, 20, 801):
        if np.isclose(breaks, g).any():
            continue
        expected = int(np.argmax(a + g * b))  # first of equal maxima
        active = lines[np.searchsorted(breaks, g)]
        assert a[active] + g * b[active] == a[expected] + g * b[expected]


def random_table(seed: int, sentences: int = 30, hyps: int = 12, dim: int = 2) -> FeatureTable:
    rng = np.random.default_rng(seed)
    n = sentences * hyps
    stats = np.zeros((n, STATS_DIM), dtype=np.int64)
    ref_len = rng.integers(5, 15, sentences).repeat(hyps)
    sys_len = np.maximum(1, ref_len + rng.integers(-3, 4, n))
    stats[:, 0], stats[:, 1] = sys_len, ref_len
    for j in range(4):
        total = np.maximum(sys_len - j, 0)
        stats[:, 6 + j] = total
        stats[:, 2 + j] = rng.binomial(total, 0.6 - 0.1 * j)
    return FeatureTable(FeatureSchema(tuple(f"F{i}" for i in range(dim)), (1,) * dim),
                        np.arange(sentences).repeat(hyps), rng.normal(size=(n, dim)), stats,
                        np.zeros(n))


def test_line_search_is_exact() -> None:
    table = random_table(0)
    w, d = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    step, bleu = line_search(table, w, d)
    assert corpus_bleu_of(table, table.values @ (w + step * d)) == pytest.approx(bleu)
    for g in np.linspace(-10, 10, 401):
        assert corpus_bleu_of(table, table.values @ (w + g * d)) <= bleu + 1e-9


@pytest.mark.parametrize("seed", range(3))
def test_mert_finds_the_known_optimum(seed: int) -> None:
    """With two features only the direction of w matters: brute force over 7200 angles."""
    table = random_table(seed)
    angles = np.linspace(0, 2 * np.pi, 7200, endpoint=False)
    best = max(corpus_bleu_of(table, table.values @ np.array([np.cos(t), np.sin(t)]))
               for t in angles)
    _, bleu = mert(table, np.array([1.0, 0.0]), restarts=3, seed=seed)
    assert bleu == pytest.approx(best, abs=1e-9)


def test_mert_never_below_start() -> None:
    table = random_table(7, dim=4)
    start = np.array([0.3, -0.2, 0.1, 0.4])
    w, bleu = mert(table, start, restarts=0, iterations=2, random_directions=0)
    assert bleu >= corpus_bleu_of(table, table.values @ start) - 1e-12
    assert np.abs(w).sum() == pytest.approx(1.0)
    assert corpus_bleu_of(table, table.values @ w) == pytest.approx(bleu)


def test_grid_search() -> None:
    table = random_table(3)
    lam, bleu, curve = grid_search(table, np.array([1.0, 0.0]), 1)
    assert [g for g, _ in curve] == list(DEFAULT_GRID) and (lam, bleu) in curve
    assert DEFAULT_GRID[0] == 0.0 and DEFAULT_GRID[-1] == 1.0
    assert DEFAULT_GRID[1] == 0.005 and list(DEFAULT_GRID) == sorted(set(DEFAULT_GRID))
    assert bleu == max(b for _, b in curve)
    assert curve[0][1] == pytest.approx(corpus_bleu_of(table, table.values[:, 0]))


def test_corpus_bleu_of_picks_first_on_ties() -> None:
    table = random_table(1, sentences=2, hyps=3)
    picks_stats = table.stats[[0, 3]].sum(axis=0)
    assert corpus_bleu_of(table, np.zeros(6)) == pytest.approx(
        float(corpus_bleu_from_stats(picks_stats)))


@pytest.mark.parametrize("seed", range(6))
def test_envelopes_of_many_sentences_equal_the_scan(seed: int) -> None:
    """All sentences at once equal a scan of each, line for line (ties included: integer
    features repeat lines and slopes), with or without a precomputed order."""
    from rescore.tune import _envelopes

    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 300, 40)
    sent = np.arange(len(sizes)).repeat(sizes)
    n = len(sent)
    if seed % 2:
        a, b = rng.integers(-40, 5, n).astype(float), rng.integers(-6, 6, n).astype(float)
    else:
        a, b = rng.normal(-30, 8, n), rng.normal(0, 1, n) * 10 ** rng.uniform(-3, 3)
    lines, starts, first = _envelopes(sent, a, b)
    order = np.lexsort((np.arange(n), b, sent))
    again = _envelopes(sent, a, b, order)
    assert lines.tolist() == again[0].tolist()
    offset = 0
    for k, size in enumerate(sizes):
        expected, breaks = envelope_scan(a[offset:offset + size], b[offset:offset + size])
        mine = sent[lines] == k
        assert (lines[mine] - offset).tolist() == expected
        assert first[mine][0] and not first[mine][1:].any()
        np.testing.assert_allclose(starts[mine][1:], breaks, rtol=1e-12)
        offset += size


def test_axis_directions_search_as_any_other(tmp_path: Path) -> None:
    """The cached order along a coordinate axis gives what the general path gives."""
    table = random_table(4, dim=3)
    w = np.array([0.5, -0.2, 0.3])
    for j in range(3):
        axis = np.eye(3)[j]
        assert table.order_along(axis) is table.order_along(axis)  # kept
        step, bleu = line_search(table, w, axis)
        nudged = axis + np.array([1e-13, 0, 0]) * (j != 0)  # not an axis: no cached order
        assert line_search(table, w, nudged)[1] == pytest.approx(bleu)
        assert corpus_bleu_of(table, table.values @ (w + step * axis)) == pytest.approx(bleu)


def test_baseline_as_one_feature(tmp_path: Path) -> None:
    """Weights that treat the baseline's total as one feature rerank exactly as the full
    vector they expand to; tuning them never lowers dev BLEU."""
    rng = np.random.default_rng(4)
    words = ["a", "b", "c", "d", "e", "f"]
    refs, lines = [], []
    for k in range(30):
        ref = [str(w) for w in rng.choice(words, 5)]
        refs.append(" ".join(ref))
        for _ in range(6):
            hyp = [w if rng.random() < 0.6 else str(rng.choice(words)) for w in ref]
            good = sum(a == b for a, b in zip(hyp, ref, strict=True))
            lines.append(f"{k} ||| {' '.join(hyp)} ||| LM0= {rng.normal():.4f} TM0= "
                         f"{rng.normal():.4f} {rng.normal():.4f} New0= "
                         f"{good + rng.normal(0, 1):.4f} ||| 0\n")
    nbest = tmp_path / "dev.nbest"
    nbest.write_text("".join(lines))
    moses = Weights({"LM0": (0.3,), "TM0": (0.2, -0.1)})
    for method in ("mert", "grid"):
        result = tune_weights(TuneRequest(nbest=nbest, references=refs, method=method,
                                          init=moses, feature="New0", restarts=1,
                                          baseline_as_one_feature=True))
        assert result.dev_bleu >= result.dev_bleu_start
        assert result.report["features"] == ["Baseline0", "New0"]
        path = tmp_path / f"{method}.json"
        path.write_text(result.to_json())
        compact = load_weights(path)
        weight, _ = result.baseline  # type: ignore[misc]
        full = Weights({"LM0": (0.3 * weight,), "TM0": (0.2 * weight, -0.1 * weight),
                        "New0": compact.values["New0"]})
        assert '"baseline"' in path.read_text() and "LM0" not in json.loads(path.read_text())
        for block in read_nbest(nbest):
            a, b = rerank_block(block, compact), rerank_block(block, full)
            assert a.hypotheses == b.hypotheses
            np.testing.assert_allclose(a.totals, b.totals)


@pytest.mark.parametrize("folds", [2, 3, 7])
def test_cross_validation_reranks_each_fold_with_weights_that_never_saw_it(folds: int) -> None:
    from rescore.tune import _cross_validated, fold_of_sentences

    table = random_table(3, sentences=30, dim=3)
    request = TuneRequest(Path("dev.nbest"), [], method="mert", restarts=1, iterations=3,
                          folds=folds)
    result = _cross_validated(request, table)
    fold_results = result.report["fold_results"]
    assert isinstance(fold_results, list) and len(fold_results) == folds
    fold = fold_of_sentences(30, folds)
    assert sorted(set(fold.tolist())) == list(range(folds))
    assert sum(f["sentences"] for f in fold_results) == 30
    # independently: each sentence picked by its fold's weights, statistics summed
    fold_weights = [np.array(f["weights"]) for f in fold_results]
    stats = np.zeros(STATS_DIM)
    for s in range(30):
        rows = np.flatnonzero(table.sent == s)
        scores = table.values[rows] @ fold_weights[fold[s]]
        stats += table.stats[rows[int(np.argmax(scores))]]
    assert result.report["dev_bleu_cross_validated"] == pytest.approx(
        float(corpus_bleu_from_stats(stats)))
    # a fold's weights were tuned without its sentences: tuning on the others alone agrees
    held = table.sent >= 0
    held[np.isin(table.sent, np.flatnonzero(fold == 0))] = False
    alone = mert(table.subset(held), np.ones(3), restarts=1, iterations=3, seed=1)[0]
    np.testing.assert_allclose(fold_weights[0], alone)
    np.testing.assert_allclose(result.weights, np.mean(fold_weights, axis=0))
    assert result.dev_bleu == pytest.approx(corpus_bleu_of(table, table.values @ result.weights))


def test_cross_validation_needs_two_to_n_folds() -> None:
    from rescore.errors import RescoreError
    from rescore.tune import _cross_validated

    with pytest.raises(RescoreError, match="--folds 31: need 2 to 30"):
        _cross_validated(TuneRequest(Path("d"), [], folds=31), random_table(0))


@pytest.mark.parametrize("folds", [1, 3])
def test_replicas_keep_the_seed_best_on_dev_and_report_every_one(folds: int) -> None:
    from rescore.tune import _cross_validated, _replicated, _tune_once

    table = random_table(5, sentences=40, dim=6)
    tune = _cross_validated if folds > 1 else _tune_once
    request = TuneRequest(Path("dev.nbest"), [], method="mert", restarts=1, iterations=2,
                          folds=folds, seed=4, replicas=4)
    result = _replicated(request, table, tune)
    rows = result.report["replicas"]
    assert isinstance(rows, list) and [r["seed"] for r in rows] == [4, 5, 6, 7]
    key = "dev_bleu_cross_validated" if folds > 1 else "dev_bleu_tuned"
    scores = [r[key] for r in rows]
    kept = result.report["replica_kept_seed"]
    assert kept == rows[scores.index(max(scores))]["seed"]  # the first of the best on dev
    assert result.report["replicas_chosen_by"] == key
    assert result.report["replicas_score_mean"] == pytest.approx(np.mean(scores))
    # the kept weights are those of one tuning with that seed alone
    alone = tune(TuneRequest(Path("dev.nbest"), [], method="mert", restarts=1, iterations=2,
                             folds=folds, seed=kept), table)
    np.testing.assert_allclose(result.weights, alone.weights)
    assert len({round(float(s), 9) for s in scores}) > 1  # the seeds do differ here
