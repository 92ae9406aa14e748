"""Tuning feature weights for corpus BLEU of the reranked dev list.

``mert``: Och's minimum error rate training. Along a direction d from weights w, each
hypothesis' score is a line a + g b in the step g; the upper envelope of a sentence's lines
says which hypothesis wins on each interval of g; sweeping the breakpoints of all sentences
gives corpus BLEU exactly as a function of g, and the best interval's midpoint is the step.
Directions: every coordinate axis plus random ones; restarts from random perturbations of the
best weights so far (iterated local search); the weights are L1-normalised. A move is taken
only if it raises dev BLEU, so the result is never worse than the start.

``grid``: one interpolation weight for a single feature (the LSTM log-probability) on top of
fixed baseline weights: score = (1 - lam) * baseline + lam * feature, lam on a grid.

``mira``: batch MIRA (:mod:`rescore.mira`). All three read the dev list's feature table
(:mod:`rescore.feature_table`) and go through one dispatch (:func:`_search`), with the
features as they are or with the baseline's total as one feature; ``--folds`` wraps either in
k-fold cross-validation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from rescore.errors import RescoreError, unknown_choice
from rescore.feature_table import (
    FeatureTable,
    corpus_bleu_of,
    load_table,
    picked_stats,
    references_digest,
)
from rescore.files import format_seconds
from rescore.metrics import DEFAULT_TOKENIZE, STATS_DIM, corpus_bleu_from_stats
from rescore.mira import mira
from rescore.nbest import FeatureSchema
from rescore.weights import Weights, baseline_json

logger = logging.getLogger(__name__)


def _envelopes(sent: np.ndarray, a: np.ndarray, b: np.ndarray,
               order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upper envelopes of the lines a_i + g b_i of every sentence at once, over g in
    (-inf, inf): ``(lines, starts, first)``, the winning lines sentence by sentence in order
    of g, the g from which each wins (-inf for a sentence's first) and whether it is its
    sentence's first. Ties: the earlier listed line. ``order``: the lines sorted by
    (sentence, slope, index), when the caller has it.

    Vectorised over all sentences: of lines with equal slope only the best intercept can
    win; the others, sorted by slope, form the envelope once no line lies on or under the
    crossing of its neighbours (the dual of an upper convex hull), so such lines are dropped
    in passes over every sentence together until none is left."""
    n = len(a)
    if order is None:
        order = np.lexsort((np.arange(n), b, sent))
    s, bs, as_ = sent[order], b[order], a[order]
    new = np.ones(n, dtype=bool)
    new[1:] = (s[1:] != s[:-1]) | (bs[1:] != bs[:-1])
    starts = np.flatnonzero(new)
    top = np.maximum.reduceat(as_, starts)
    pos = np.where(as_ == top[np.cumsum(new) - 1], np.arange(n), n)
    alive = order[np.minimum.reduceat(pos, starts)]  # best intercept of each slope, first listed
    s, bs, as_ = sent[alive], b[alive], a[alive]
    while len(alive) >= 3:
        # the middle line never wins if it takes over from the left one no earlier than the
        # right one takes over from it
        drop = (s[:-2] == s[1:-1]) & (s[1:-1] == s[2:]) & (
            (as_[:-2] - as_[1:-1]) * (bs[2:] - bs[1:-1])
            >= (as_[1:-1] - as_[2:]) * (bs[1:-1] - bs[:-2]))
        if not drop.any():
            break
        keep = np.ones(len(alive), dtype=bool)
        keep[1:-1] = ~drop
        alive, s, bs, as_ = alive[keep], s[keep], bs[keep], as_[keep]
    first = np.ones(len(alive), dtype=bool)
    first[1:] = s[1:] != s[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = (as_[:-1] - as_[1:]) / (bs[1:] - bs[:-1])
    starts_g = np.concatenate([[-np.inf], cross])
    starts_g[first] = -np.inf
    return alive, starts_g, first


def envelope_scan(a: np.ndarray, b: np.ndarray) -> tuple[list[int], list[float]]:
    """One sentence's envelope by the textbook scan (a Python loop over the lines sorted by
    slope, best intercept and then first listed first): the reference the vectorised
    :func:`_envelopes` is tested and benchmarked against."""
    order = np.lexsort((np.arange(len(a)), -a, b))
    lines: list[int] = []
    starts: list[float] = []
    for i in order.tolist():
        if lines and b[lines[-1]] == b[i]:
            continue
        while lines:
            j = lines[-1]
            if (a[j] - a[i]) / (b[i] - b[j]) <= starts[-1]:
                lines.pop()
                starts.pop()
            else:
                break
        starts.append(-np.inf if not lines else (a[lines[-1]] - a[i]) / (b[i] - b[lines[-1]]))
        lines.append(i)
    return lines, starts[1:]


def _envelope(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The upper envelope of one sentence's lines: winning lines in order of g and the
    breakpoints between them (one fewer); see :func:`_envelopes`."""
    lines, starts, _ = _envelopes(np.zeros(len(a), dtype=np.int64), a, b)
    return lines, starts[1:]


def line_search(table: FeatureTable, w: np.ndarray, d: np.ndarray) -> tuple[float, float]:
    """The step g maximising corpus BLEU of w + g d, and that BLEU (exact, by sweeping the
    breakpoints of every sentence's upper envelope)."""
    a_all, b_all = table.values @ w, table.values @ d
    lines, starts, first = _envelopes(table.sent, a_all, b_all, table.order_along(d))
    st = table.stats[lines]
    base = st[first].sum(axis=0)
    if first.all():
        return 0.0, float(corpus_bleu_from_stats(base))
    later = np.flatnonzero(~first)
    g = starts[later]
    delta = st[later] - st[later - 1]
    order = np.argsort(g, kind="stable")
    g, delta = g[order], delta[order]
    # BLEU on each interval: before the first breakpoint, then after each one
    cumulative = base + np.vstack([np.zeros(STATS_DIM), np.cumsum(delta, axis=0)])
    scores = corpus_bleu_from_stats(cumulative)
    # several breakpoints at the same g: only the state after the last of them is reachable
    valid = np.ones(len(scores), dtype=bool)
    valid[1:-1] = g[1:] != g[:-1]
    scores = np.where(valid, scores, -np.inf)
    best = int(np.argmax(scores))
    edges = np.concatenate([[g[0] - 1.0], g, [g[-1] + 1.0]])
    if best == 0:
        step = g[0] - max(1.0, abs(g[0]) * 0.1) if np.isfinite(g[0]) else 0.0
    elif best == len(g):
        step = g[-1] + max(1.0, abs(g[-1]) * 0.1)
    else:
        step = 0.5 * (edges[best] + edges[best + 1])
    return float(step), float(scores[best])


def mert(table: FeatureTable, start: np.ndarray, *, restarts: int = 10,
         random_directions: int = 5, iterations: int = 10, seed: int = 1,
         log: bool = False, free: np.ndarray | None = None,
         perturbation: float = 0.1) -> tuple[np.ndarray, float]:
    """Och's MERT from ``start``, then ``restarts`` more searches, each from a random
    perturbation of the best weights so far (iterated local search: each coordinate moves by
    ``perturbation`` x the mean absolute weight x a standard normal draw); returns the best
    L1-normalised weights and their dev BLEU. Never returns weights worse than ``start``.
    ``free`` (a boolean mask) limits tuning to some weights; the others keep their values.

    On the Multi30k val 1000-best list with Moses' 14 features, from equal weights
    (``benchmarks/bench_mert.py``): restarts drawn uniformly from [-1, 1] (Moses' ``mert -n``)
    never beat the first search (56.87 with 19 of them); perturbations of the best point
    reach 57.25-57.30 (seeds 1-3; scale 0.3: 57.02-57.26, 1.0: 56.86-57.15), above Moses'
    own ``mert -n 20`` (57.05) and Moses' tuned weights (57.12)."""
    rng = np.random.default_rng(seed)
    dim = table.values.shape[1]
    mask = np.ones(dim, dtype=bool) if free is None else np.asarray(free, dtype=bool)
    best_w = _normalise(start.astype(np.float64))
    best_bleu = corpus_bleu_of(table, table.values @ best_w)
    clock = time.perf_counter()
    done, budget = 0, (restarts + 1) * iterations  # iterations run, at most in all
    for r in range(restarts + 1):
        w = best_w.copy()
        if r > 0:
            spread = float(np.abs(best_w[mask]).mean()) or 1.0
            w = _normalise(np.where(mask, w + perturbation * spread * rng.normal(size=dim), w))
        bleu = corpus_bleu_of(table, table.values @ w)
        for it in range(iterations):
            improved = False
            directions = [np.eye(dim)[j] for j in range(dim) if mask[j]]
            directions += [rng.normal(size=dim) * mask for _ in range(random_directions)]
            for d in directions:
                step, new = line_search(table, w, d)
                if new > bleu + 1e-9:
                    w = _normalise(np.asarray(w + step * d))
                    bleu = corpus_bleu_of(table, table.values @ w)  # recheck, exact
                    improved = True
            done += 1
            if log:
                left = (budget - done) * (time.perf_counter() - clock) / done
                logger.info("mert: start %d/%d iteration %d/%d: dev BLEU %.2f (best so far "
                            "%.2f), at most %s left", r + 1, restarts + 1, it + 1, iterations,
                            bleu, max(bleu, best_bleu), format_seconds(left))
            if not improved:
                budget -= iterations - it - 1  # this start has converged
                break
        if bleu > best_bleu + 1e-9:
            best_w, best_bleu = w, bleu
    return best_w, best_bleu


# lam: fine where it matters (an LSTM log-probability is tens of nats, a Moses total a few
# units, so the best lam is small), coarse above: 0.005 steps to 0.1, 0.02 to 0.2, 0.05 to 1
DEFAULT_GRID = tuple(float(x) for x in np.round(np.concatenate([
    np.arange(0, 0.1, 0.005), np.arange(0.1, 0.2, 0.02), np.arange(0.2, 1.0001, 0.05)]), 3))


def grid_search(table: FeatureTable, baseline: np.ndarray, feature: int,
                grid: Sequence[float] = DEFAULT_GRID
                ) -> tuple[float, float, list[tuple[float, float]]]:
    """Best ``lam`` for score = (1 - lam) * (values @ baseline) + lam * values[:, feature]:
    ``(lam, dev BLEU, [(lam, BLEU) for the whole grid])``. ``baseline`` has weight 0 on
    ``feature``."""
    base = table.values @ baseline
    other = table.values[:, feature]
    curve = [(float(lam), corpus_bleu_of(table, (1 - lam) * base + lam * other)) for lam in grid]
    lam, bleu = max(curve, key=lambda t: t[1])  # first of equal maxima: smallest lam
    return lam, bleu, curve


def _normalise(w: np.ndarray) -> np.ndarray:
    norm = np.abs(w).sum()
    return w / norm if norm > 0 else w


def vector_to_weights(vec: np.ndarray, schema: FeatureSchema, source: str) -> Weights:
    out: dict[str, tuple[float, ...]] = {}
    for name, size in zip(schema.names, schema.sizes, strict=True):
        start = schema.offsets[name]
        out[name] = tuple(float(x) for x in vec[start:start + size])
    return Weights(out, source)


# -- a whole tuning run, as rescore-tune asks for it --------------------------------------

TUNE_METHODS = ("mert", "grid", "mira")


@dataclass
class TuneRequest:
    """``rescore-tune``'s options: the dev list and references, the method and its settings.
    ``init``: starting weights (mert; features they lack start at 0) or the baseline weights
    (grid, required); ``tune_features``: mert tunes only these (None: all)."""

    nbest: Path
    references: Sequence[str]
    method: str = "mert"
    init: Weights | None = None
    feature: str = "LSTM0"
    grid: Sequence[float] = DEFAULT_GRID
    tune_features: Sequence[str] | None = None
    restarts: int = 10
    iterations: int = 10
    seed: int = 1
    tokenize: str = DEFAULT_TOKENIZE
    cache: Path | None = None
    ref_name: str = "the reference"
    baseline_as_one_feature: bool = False  # ``init``'s total is one feature (its weights kept)
    folds: int = 1  # > 1: k-fold cross-validation over the dev sentences (see tune_weights)
    replicas: int = 1  # > 1: tuned again with seeds seed+1, ... (see tune_weights)


@dataclass
class TuneResult:
    """Tuned weights and how they were found (``report``: method, features, dev BLEU before
    and after, and the grid's curve for grid)."""

    weights: np.ndarray
    schema: FeatureSchema
    dev_bleu_start: float
    dev_bleu: float
    report: dict[str, object]
    baseline: tuple[float, Weights] | None = None  # (its weight, its own weights)
    start: np.ndarray | None = None  # the full weight vector tuning started from

    def to_weights(self, source: str) -> Weights:
        return vector_to_weights(self.weights, self.schema, source)

    def to_json(self) -> str:
        """The weights file: with a baseline feature, in the compact form (its weight and its
        own weights, which load_weights expands), else one weight per feature value."""
        if self.baseline is None:
            return self.to_weights("").to_json()
        weight, inner = self.baseline
        others = {n: w for n, w in self.to_weights("").values.items() if n not in inner.values}
        return baseline_json(weight, inner, others)


def feature_mask(schema: FeatureSchema, names: Sequence[str]) -> np.ndarray:
    """Boolean ``(schema.dim,)`` mask of the columns of the features ``names``."""
    unknown = [n for n in names if n not in schema.names]
    if unknown:
        raise RescoreError(f"--tune-features: {', '.join(unknown)} not in the list "
                           f"({', '.join(schema.names)})")
    mask = np.zeros(schema.dim, dtype=bool)
    for n in names:
        off = schema.offsets[n]
        mask[off:off + schema.sizes[schema.names.index(n)]] = True
    return mask


def baseline_table(table: FeatureTable, baseline: Weights,
                   new: Sequence[str]) -> tuple[FeatureTable, np.ndarray]:
    """The table with the baseline system's total as ONE column (``Baseline0``: the values of
    the features ``baseline`` weights, times those weights) followed by the ``new``
    features' columns; and the ``(2 + ...)`` map back: full weights = map.T @ reduced."""
    schema = table.schema
    mask = feature_mask(schema, new)  # checks the names
    new = [n for n in schema.names if n in set(new)]  # in the list's column order
    inner = baseline.vector(schema, default=0.0)
    for name in new:
        off = schema.offsets[name]
        inner[off:off + schema.sizes[schema.names.index(name)]] = 0.0
    cols = np.flatnonzero(mask)
    back = np.zeros((1 + len(cols), schema.dim))
    back[0] = inner
    back[np.arange(1, 1 + len(cols)), cols] = 1.0
    reduced_schema = FeatureSchema(("Baseline0", *new),
                                   (1, *(schema.sizes[schema.names.index(n)] for n in new)))
    reduced = FeatureTable(reduced_schema, table.sent, table.values @ back.T, table.stats,
                           table.totals)
    return reduced, back


def tune_weights(request: TuneRequest) -> TuneResult:
    """Read (or load the cached) feature table of the dev list and tune on it."""
    if request.method not in TUNE_METHODS:
        raise unknown_choice("tuning method", request.method, TUNE_METHODS)
    table = load_table(request.nbest, request.references, request.cache, request.tokenize,
                       request.ref_name)
    tune = _cross_validated if request.folds > 1 else _tune_once
    result = _replicated(request, table, tune) if request.replicas > 1 else tune(request, table)
    result.report |= {  # how the weights were made, to reproduce them
        "nbest": str(request.nbest), "references": request.ref_name,
        "references_sha256": references_digest(request.references),
        "tokenize": request.tokenize, "seed": request.seed, "restarts": request.restarts,
        "iterations": request.iterations,
        "init_weights": request.init.source if request.init is not None else None}
    return result


def _replicated(request: TuneRequest, table: FeatureTable,
                tune: Callable[[TuneRequest, FeatureTable], TuneResult]) -> TuneResult:
    """Optimizer instability (Clark et al. 2011): the same tuning ``replicas`` times, with
    seeds ``seed``, ``seed + 1``, ...; kept: the replica with the best cross-validated dev
    BLEU (in-sample dev BLEU without ``--folds``; the first seed on a tie), so the choice
    is made on dev alone. The report lists every replica and their mean and spread."""
    by = "dev_bleu_cross_validated" if request.folds > 1 else "dev_bleu_tuned"
    results, scores = [], []
    for k in range(request.replicas):
        results.append(tune(replace(request, seed=request.seed + k), table))
        scores.append(float(results[-1].report[by]) if request.folds > 1  # type: ignore[arg-type]
                      else results[-1].dev_bleu)
        logger.info("replica %d/%d (seed %d): %s %.2f", k + 1, request.replicas,
                    request.seed + k, by.replace("_", " "), scores[-1])
    best = int(np.argmax(scores))  # the first of the best
    kept = results[best]
    rows = [{"seed": request.seed + k, "dev_bleu_tuned": r.dev_bleu,
             "dev_bleu_cross_validated": r.report.get("dev_bleu_cross_validated")}
            for k, r in enumerate(results)]
    kept.report |= {"replicas": rows, "replica_kept_seed": request.seed + best,
                    "replicas_score_mean": float(np.mean(scores)),
                    "replicas_score_sd": float(np.std(scores, ddof=1)),
                    "replicas_chosen_by": by}
    return kept


def _tune_once(request: TuneRequest, table: FeatureTable) -> TuneResult:
    return _tune_with_baseline_feature(request, table) if request.baseline_as_one_feature \
        else _tune(request, table)


def fold_of_sentences(sentences: int, folds: int) -> np.ndarray:
    """Fold of each sentence ``(sentences,)``: ``folds`` contiguous blocks of (nearly) equal
    size, in list order."""
    return np.minimum(np.arange(sentences) * folds // max(sentences, 1), folds - 1)


def _cross_validated(request: TuneRequest, table: FeatureTable) -> TuneResult:
    """k-fold cross-validation: tune on all folds but one, rerank the held fold with those
    weights; the held folds' picks together give the cross-validated dev BLEU (each sentence
    chosen by weights that never saw it), an estimate of the weights' BLEU on unseen text.
    The final weights are the mean of the folds' (for a baseline feature: its weight and the
    new features' weights averaged; its own weights are the same in every fold); the report
    gives their in-sample dev BLEU beside the cross-validated one, and every fold's."""
    bounds = table.bounds()
    sentences = len(bounds) - 1
    if not 2 <= request.folds <= sentences:
        raise RescoreError(f"--folds {request.folds}: need 2 to {sentences} (the dev "
                           f"list's sentences)")
    fold = np.repeat(fold_of_sentences(sentences, request.folds), np.diff(bounds))
    held_stats = np.zeros(table.stats.shape[1], dtype=np.int64)
    results, folds_report = [], []
    for k in range(request.folds):
        train = table.subset(fold != k)
        held = table.subset(fold == k)
        result = _tune_once(request, train)
        held_stats += picked_stats(held, held.values @ result.weights)
        results.append(result)
        folds_report.append({"fold": k, "sentences": int(len(held.bounds()) - 1),
                             "train_bleu": result.dev_bleu,
                             "held_bleu": corpus_bleu_of(held, held.values @ result.weights),
                             "weights": result.weights.tolist()})
        logger.info("fold %d/%d: dev BLEU %.2f on the other folds, %.2f on the held one",
                    k + 1, request.folds, result.dev_bleu, folds_report[-1]["held_bleu"])
    weights = np.mean([r.weights for r in results], axis=0)
    baseline = None
    if results[0].baseline is not None:
        baseline = (float(np.mean([r.baseline[0] for r in results if r.baseline])),
                    results[0].baseline[1])
    start = results[0].start  # the same in every fold: it depends on the options only
    assert start is not None
    start_bleu = corpus_bleu_of(table, table.values @ start)
    in_sample = corpus_bleu_of(table, table.values @ weights)
    cv_bleu = float(corpus_bleu_from_stats(held_stats))
    report = {**results[0].report, "folds": request.folds, "fold_results": folds_report,
              "dev_bleu_start": start_bleu, "dev_bleu_tuned": in_sample,
              "dev_bleu_cross_validated": cv_bleu}
    for key in ("grid", "lambda", "reduced_weights", "baseline_weight"):
        report.pop(key, None)
    if baseline is not None:
        report["baseline_weight"] = baseline[0]
    lambdas = [r.report.get("lambda") for r in results]
    if all(isinstance(v, float | int) for v in lambdas):  # a grid: the mean weight is theirs
        report["lambda"] = float(np.mean(lambdas))  # type: ignore[arg-type]
    return TuneResult(weights, table.schema, start_bleu, in_sample, report, baseline)


def _tune(request: TuneRequest, table: FeatureTable) -> TuneResult:
    """Tune the list's own features: from ``--init-weights`` (or equal weights); a grid
    interpolates ``--feature`` with the init weights, the feature's own weight set to 0."""
    schema = table.schema
    init = request.init
    column = 0
    if request.method == "grid":
        if init is None:
            raise RescoreError("--method grid needs --init-weights (the baseline weights)")
        if request.feature not in schema.names:
            raise RescoreError(f"--feature {request.feature}: not in the list "
                               f"({', '.join(schema.names)})")
        column = schema.offsets[request.feature]
        start = init.vector(schema, default=0.0)
        start[column] = 0.0
    else:
        start = init.vector(schema, default=0.0) if init else np.ones(schema.dim)
    free = feature_mask(schema, request.tune_features) if request.tune_features else None
    w, bleu, start_bleu, found = _search(request, table, start, column, free)
    report: dict[str, object] = {"method": request.method, "features": list(schema.names),
                                 **found, "dev_bleu_start": start_bleu, "dev_bleu_tuned": bleu}
    return TuneResult(w, schema, start_bleu, bleu, report, start=start)


def _tune_with_baseline_feature(request: TuneRequest, table: FeatureTable) -> TuneResult:
    """MERT, grid or MIRA where the baseline's total is one feature beside the new ones (the
    features ``init`` has no weight for, or ``tune_features``): few dimensions, little to
    overfit on a small dev set. The search starts from the baseline alone."""
    init = request.init
    if init is None:
        raise RescoreError("--baseline-as-one-feature needs --init-weights (the baseline "
                           "system's weights, kept as they are)")
    schema = table.schema
    if request.method == "grid":
        new = [request.feature]
    else:
        new = list(request.tune_features or [n for n in schema.names if n not in init.values])
    if not new:
        raise RescoreError("--baseline-as-one-feature: no new features to tune beside the "
                           "baseline (every feature of the list has an --init-weights weight)")
    reduced, back = baseline_table(table, init, new)
    start = np.zeros(reduced.schema.dim)
    start[0] = 1.0
    w, bleu, start_bleu, found = _search(request, reduced, start, 1, None)
    report: dict[str, object] = {"method": request.method, "baseline_as_one_feature": True,
                                 "features": list(reduced.schema.names), **found,
                                 "dev_bleu_start": start_bleu, "dev_bleu_tuned": bleu,
                                 "baseline_weight": w[0], "reduced_weights": w.tolist()}
    return TuneResult(back.T @ w, schema, start_bleu, bleu, report, (float(w[0]), init),
                      back.T @ start)


def _search(request: TuneRequest, table: FeatureTable, start: np.ndarray, column: int,
            free: np.ndarray | None) -> tuple[np.ndarray, float, float, dict[str, object]]:
    """The one dispatch over the methods: weights, their dev BLEU, the start's dev BLEU and
    what the method found for the report. ``column``: the grid's feature; ``free``: the
    coordinates MERT and MIRA may move (None: all)."""
    start_bleu = corpus_bleu_of(table, table.values @ start)
    found: dict[str, object] = {}
    if request.method == "mert":
        w, bleu = mert(table, start, restarts=request.restarts, iterations=request.iterations,
                       seed=request.seed, log=True, free=free)
    elif request.method == "mira":
        if table.schema.dim < 2:
            raise RescoreError(f"--method mira needs at least two feature values to weigh "
                               f"against each other; the list has {table.schema.dim}")
        w, bleu = mira(table, start, passes=request.iterations, seed=request.seed, log=True,
                       free=free)
    else:
        lam, bleu, curve = grid_search(table, start, column, request.grid)
        w = (1 - lam) * start
        w[column] = lam
        found = {"grid": curve, "lambda": lam}
    return w, bleu, start_bleu, found
