"""LSTM scoring of an n-best list: hypotheses per second for four ways of scoring, same run.

(a) one hypothesis at a time, as listed; (b) padded batches of every listed entry;
(b') padded batches of the distinct hypotheses; (c) rescore's scorer (distinct hypotheses,
source encoded once, decoder steps shared by common prefixes). Rates are listed entries
covered per second (a distinct hypothesis covers all its repeats). Also: the decoder steps
(c) takes on the whole list against the distinct-prefix floor, and peak RSS.

    .venv/bin/python benchmarks/bench_scoring.py --model work/models/rev [--sentences 20]

Writes benchmarks/results/scoring.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch

from rescore.features.lstm import LSTMFeature
from rescore.files import read_lines
from rescore.nbest import read_nbest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # pipelines/: the shared data
from pipelines.engine.paths import multi30k_dir
from rescore.scoring import score_pairs

RESULTS = Path(__file__).resolve().parent / "results"


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--sentences", type=int, default=20, help="sentences for (b), (b'), (c)")
    parser.add_argument("--one-at-a-time", type=int, default=2, help="sentences for (a)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--full-list", action="store_true",
                        help="also run (c) over the whole list for its decoder steps")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = multi30k_dir()
    nbest = data / "nbest" / "test2016.1000best.gz"
    sources = read_lines(data / "test2016.en")
    blocks = []
    for block in read_nbest(nbest):
        if block.sent_id >= args.sentences:
            break
        blocks.append(block)
    feature = LSTMFeature(args.model)
    loaded = feature.loaded
    model, src_vocab, tgt_vocab = loaded.model, loaded.src_vocab, loaded.tgt_vocab

    def listed(batch: int, subset: list) -> None:  # type: ignore[type-arg]
        for b in subset:
            score_pairs(model, src_vocab, tgt_vocab, [sources[b.sent_id].split()] * len(b),
                        [h.split() for h in b.hypotheses], batch_size=batch)

    def distinct(subset: list) -> None:  # type: ignore[type-arg]
        for b in subset:
            hyps = list(dict.fromkeys(b.hypotheses))
            score_pairs(model, src_vocab, tgt_vocab, [sources[b.sent_id].split()] * len(hyps),
                        [h.split() for h in hyps], batch_size=args.batch)

    entries = sum(len(b) for b in blocks)
    few = blocks[: args.one_at_a_time]
    few_entries = sum(len(b) for b in few)
    def ours(subset: list, f: LSTMFeature) -> None:  # type: ignore[type-arg]
        for i in range(0, len(subset), f.group_size):
            group = subset[i:i + f.group_size]
            f.score_blocks(group, [sources[b.sent_id] for b in group])

    t_c = timed(lambda: ours(blocks, feature))
    t_b2 = timed(lambda: distinct(blocks))
    t_b = timed(lambda: listed(args.batch, blocks))
    t_a = timed(lambda: listed(1, few))
    rates = {"(a) one at a time": few_entries / t_a,
             "(b) padded batches, as listed": entries / t_b,
             "(b') padded batches, distinct": entries / t_b2, "(c) rescore": entries / t_c}
    best = rates["(c) rescore"]
    rows = [{"method": k, "entries_per_s": round(v), "speed-up of (c)": round(best / v, 1)}
            for k, v in rates.items()]
    result: dict[str, object] = {"rows": rows, "sentences": args.sentences, "entries": entries,
                                 "threads": args.threads, "batch": args.batch}
    if args.full_list:
        full = LSTMFeature(args.model)
        start = time.perf_counter()
        group: list = []  # type: ignore[type-arg]
        for block in read_nbest(nbest):  # streamed, as rescore-nbest reads it
            group.append(block)
            if len(group) == full.group_size:
                ours(group, full)
                group = []
        ours(group, full)
        result["full_list"] = {"seconds": time.perf_counter() - start,
                               "decoder_steps": full.stats.decoder_steps,
                               "target_tokens_scored": full.stats.tokens}
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scoring.json").write_text(json.dumps(result, indent=2) + "\n")
    import pandas as pd

    print(pd.DataFrame(rows).to_markdown(index=False))
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))


if __name__ == "__main__":
    main()
