"""Batch MIRA (Cherry & Foster 2012, the algorithm of Moses' ``kbmira``) over a dev list's
feature table: for many features on a small dev set, where MERT's line searches overfit.

Each pass visits the sentences in a seeded random order. For sentence i, every hypothesis h
gets a gain g(h) = BLEU(B + s(h)) x |B|_ref: the BLEU of its statistics s(h) added to a
background pseudo-document B (an exponentially decayed sum of the model's past 1-best
statistics, started at one for every count), scaled by the background's reference length.
The hope is argmax w.f + g, the fear argmax w.f - g; when the fear's margin violates
g(hope) - g(fear) <= w.(f_hope - f_fear), the weights move along f_hope - f_fear by
eta = min(C, violation / ||f_hope - f_fear||^2). After each sentence B <- decay x (B + s(best
under w)). The weights averaged over every step of a pass are scored on the whole dev list
(corpus BLEU); the best pass's average is returned, or the start if none beat it.
"""

from __future__ import annotations

import logging

import numpy as np

from rescore.feature_table import FeatureTable, corpus_bleu_of
from rescore.metrics import STATS_DIM, bleu_from_stats

logger = logging.getLogger(__name__)


def background_gain(stats: np.ndarray, background: np.ndarray) -> np.ndarray:
    """g for each row of ``stats`` ``(n, STATS_DIM)``: BLEU (0-1, unsmoothed) of the row
    added to the background, with the brevity penalty, times the background's reference
    length."""
    return bleu_from_stats(np.asarray(stats) + background, smooth="none") / 100.0 \
        * background[1]


def mira(table: FeatureTable, start: np.ndarray, *, passes: int = 15, c: float = 0.01,
         decay: float = 0.999, seed: int = 1, log: bool = False,
         free: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Batch MIRA from ``start``; returns the best averaged weights and their dev BLEU, never
    weights below the start's dev BLEU. ``free`` (a boolean mask) limits the updates to some
    weights; the others keep their start values."""
    rng = np.random.default_rng(seed)
    mask = np.ones(table.values.shape[1]) if free is None else np.asarray(free, dtype=float)
    bounds = table.bounds()
    w = np.asarray(start, dtype=np.float64).copy()
    best_w, best_bleu = w.copy(), corpus_bleu_of(table, table.values @ w)
    background = np.ones(STATS_DIM)
    for p in range(passes):
        total, steps = np.zeros_like(w), 0
        for k in rng.permutation(len(bounds) - 1):
            lo, hi = bounds[k], bounds[k + 1]
            feats, stats = table.values[lo:hi], table.stats[lo:hi]
            model = feats @ w
            gain = background_gain(stats, background)
            hope, fear = int(np.argmax(model + gain)), int(np.argmax(model - gain))
            diff = (feats[hope] - feats[fear]) * mask
            violation = (gain[hope] - gain[fear]) - float(diff @ w)
            norm = float(diff @ diff)
            if violation > 0 and norm > 0:
                w = w + min(c, violation / norm) * diff
            background = decay * (background + stats[int(np.argmax(feats @ w))])
            total += w
            steps += 1
        average = total / max(steps, 1)
        bleu = corpus_bleu_of(table, table.values @ average)
        if log:
            logger.info("mira: pass %d/%d: dev BLEU %.2f (best so far %.2f)", p + 1, passes,
                        bleu, max(bleu, best_bleu))
        if bleu > best_bleu + 1e-9:
            best_w, best_bleu = average, bleu
    return best_w, best_bleu
