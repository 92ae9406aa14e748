"""MERT on the Multi30k val 1000-best list with Moses' 14 feature values, from equal weights
(the comparison with Moses' own ``mert -n 20``, which reaches 57.05 there):

1. the exact line search, every sentence's envelope at once (:func:`rescore.tune.line_search`)
   against the textbook per-sentence scan (one Python loop over each sentence's lines sorted by
   slope), same process, same directions; the steps and dev BLEU are checked equal;
2. ``rescore-tune --method mert`` with its defaults from equal weights, for a few seeds: the
   dev BLEU reached and the time.

    .venv/bin/python benchmarks/bench_mert.py [--seeds 1,2,3] [--directions 3]

Writes benchmarks/results/mert.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from rescore.feature_table import FeatureTable, corpus_bleu_of, load_table
from rescore.files import read_lines
from rescore.metrics import STATS_DIM, corpus_bleu_from_stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # pipelines/: the shared data
from pipelines.engine.paths import multi30k_dir
from rescore.tune import envelope_scan, line_search, mert

RESULTS = Path(__file__).resolve().parent / "results"


def scan_line_search(table: FeatureTable, w: np.ndarray, d: np.ndarray) -> float:
    """The best dev BLEU along w + g d, sentence by sentence (the baseline)."""
    bounds = table.bounds()
    a_all, b_all = table.values @ w, table.values @ d
    base = np.zeros(STATS_DIM)
    gs, deltas = [], []
    for k in range(len(bounds) - 1):
        lo, hi = bounds[k], bounds[k + 1]
        lines, breaks = envelope_scan(a_all[lo:hi], b_all[lo:hi])
        st = table.stats[lo:hi][lines]
        base += st[0]
        gs += breaks
        deltas += list(st[1:] - st[:-1])
    order = np.argsort(gs, kind="stable")
    g = np.asarray(gs)[order]
    cumulative = base + np.vstack([np.zeros(STATS_DIM), np.cumsum(np.asarray(deltas)[order], 0)])
    scores = corpus_bleu_from_stats(cumulative)
    valid = np.ones(len(scores), dtype=bool)
    valid[1:-1] = g[1:] != g[:-1]
    return float(np.where(valid, scores, -np.inf).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1,2,3", help="MERT seeds (comma-separated)")
    parser.add_argument("--directions", type=int, default=3,
                        help="line searches timed per method (coordinate axes 0..N-1)")
    parser.add_argument("--cache", type=Path, help="feature table cache (parquet)")
    args = parser.parse_args()
    data = multi30k_dir()
    nbest = data / "nbest" / "val.1000best.gz"
    clock = time.perf_counter()
    table = load_table(nbest, read_lines(data / "val.fr"), args.cache, "none")
    table_s = time.perf_counter() - clock
    dim = table.values.shape[1]
    start = np.ones(dim)
    searches = []
    for j in range(args.directions):
        d = np.eye(dim)[j]
        line_search(table, start, d)  # the axis order is computed once per table
        clock = time.perf_counter()
        _, bleu = line_search(table, start, d)
        fast = time.perf_counter() - clock
        clock = time.perf_counter()
        reference = scan_line_search(table, start, d)
        slow = time.perf_counter() - clock
        assert abs(reference - bleu) < 1e-9, (reference, bleu)
        searches.append({"axis": j, "feature column": j, "bleu": bleu, "seconds": fast,
                         "scan seconds": slow, "speed-up": slow / fast})
        print(f"axis {j}: {fast:.3f} s vs scan {slow:.3f} s ({slow / fast:.1f}x), "
              f"BLEU {bleu:.2f} both", flush=True)
    runs = []
    for seed in (int(s) for s in args.seeds.split(",")):
        clock = time.perf_counter()
        _, bleu = mert(table, start, seed=seed)
        seconds = time.perf_counter() - clock
        runs.append({"seed": seed, "dev BLEU": bleu, "seconds": seconds})
        print(f"mert seed {seed}: dev BLEU {bleu:.2f} in {seconds:.0f} s", flush=True)
    result = {"list": str(nbest), "entries": len(table.sent), "features": dim,
              "table seconds": table_s,
              "start dev BLEU": corpus_bleu_of(table, table.values @ start),
              "line searches": searches, "mert from equal weights": runs,
              "moses mert -n 20 from equal weights (issue 11)": 57.05}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "mert.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS / 'mert.json'}")


if __name__ == "__main__":
    main()
