"""MBR speed: rescore's vectorised utilities over the whole test2016 1000-best list (K = 100,
BLEU utility, one thread) against a direct sacrebleu loop (K^2 ``sentence_score`` calls a
sentence) on a slice, in the same run; the slice's expected utilities are checked equal to
1e-6. Goal: the whole list in under 60 s.

    .venv/bin/python benchmarks/bench_mbr.py [--top 100] [--slice 5] [--utility bleu]

Writes benchmarks/results/mbr.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sacrebleu.metrics import BLEU, CHRF

from rescore.mbr import mbr_block, run_mbr
from rescore.nbest import read_nbest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # pipelines/: the shared data
from pipelines.engine.paths import multi30k_dir
from rescore.weights import load_weights

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--top", type=int, default=100)
    parser.add_argument("--slice", type=int, default=5, help="sentences for the direct loop")
    parser.add_argument("--utility", choices=("bleu", "chrf"), default="bleu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = multi30k_dir()
    nbest = data / "nbest" / "test2016.1000best.gz"
    weights = load_weights(data / "moses.ini.tuned")
    metric = BLEU(tokenize="none", force=True, effective_order=True) \
        if args.utility == "bleu" else CHRF()
    blocks = [b for _, b in zip(range(args.slice), read_nbest(nbest), strict=False)]
    start = time.perf_counter()
    ours = [mbr_block(b, weights, args.top, 1.0, args.utility) for b in blocks]
    t_ours_slice = time.perf_counter() - start
    start = time.perf_counter()
    worst = 0.0
    for block, choice in zip(blocks, ours, strict=True):
        texts = [block.hypothesis(int(i)) for i in choice.entries]
        expected = [sum(p * metric.sentence_score(h, [r]).score
                        for p, r in zip(choice.posterior, texts, strict=True)) for h in texts]
        worst = max(worst, float(np.abs(np.array(expected) - choice.expected).max()))
    t_loop_slice = time.perf_counter() - start
    if worst > 1e-6:
        raise SystemExit(f"expected utilities differ from sacrebleu's by {worst}")
    out = Path(tempfile.mkdtemp()) / "mbr.1best"
    start = time.perf_counter()
    result = run_mbr(nbest, weights, out, top=args.top, scale=1.0, utility=args.utility)
    t_full = time.perf_counter() - start
    report = {"top": args.top, "utility": args.utility, "slice_sentences": args.slice,
              "slice_vectorised_s": round(t_ours_slice, 3),
              "slice_sacrebleu_loop_s": round(t_loop_slice, 2),
              "slice_speed-up": round(t_loop_slice / t_ours_slice, 1),
              "max_abs_difference": worst, "full_list_sentences": result.sentences,
              "full_list_s": round(t_full, 1), "1best_changed": result.changed_1best}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "mbr.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
