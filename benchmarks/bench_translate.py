"""Beam search speed: sentences per second of batched decoding (many sentences per decoder
step) against one sentence at a time, same model, beam and sentences, same run; peak RSS.

    .venv/bin/python benchmarks/bench_translate.py --model work/models/rev [--sentences 200]
        [--repeat 5]   # rounds alternating both ways; the median ratio is reported

Writes benchmarks/results/translate.json and prints a Markdown table. Both ways must give
the same translations (checked).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

from rescore.beam import SearchConfig

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # pipelines/: the shared data
from pipelines.engine.paths import multi30k_dir
from rescore.translate import Translator, read_sources, translate

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path, action="append")
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--beam", type=int, default=12)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds (each runs both ways); medians are reported")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    translator = Translator.load(args.model)
    sources = read_sources(multi30k_dir() / "test2016.en", translator, "en")[: args.sentences]
    config = SearchConfig(beam=args.beam)
    methods = (("one at a time", 1), (f"batched ({args.batch})", args.batch))
    seconds: dict[str, list[float]] = {name: [] for name, _ in methods}
    outputs = {}
    for _ in range(args.repeat):  # alternating, so both see the same machine
        for name, batch in methods:
            start = time.perf_counter()
            outputs[name] = translate(translator, sources, config, batch)
            seconds[name].append(time.perf_counter() - start)
    ratios = [a / b for a, b in zip(*seconds.values(), strict=True)]
    rows = [{"method": name, "seconds": statistics.median(times),
             "sentences_per_s": len(sources) / statistics.median(times)}
            for name, times in seconds.items()]
    first, second = outputs.values()
    same = sum(a[0].tokens == b[0].tokens for a, b in zip(first, second, strict=True))
    result = {"model": [str(m) for m in args.model], "sentences": len(sources),
              "beam": args.beam, "threads": args.threads, "batch": args.batch, "rows": rows,
              "speedup": statistics.median(ratios), "speedups": ratios,
              "identical_1best": same,
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "translate.json").write_text(json.dumps(result, indent=2) + "\n")
    print("| method | s | sentences/s |\n|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['seconds']:.1f} | {r['sentences_per_s']:.1f} |")
    print(f"\nspeed-up {result['speedup']:.1f}x (median of "
          f"{', '.join(f'{r:.1f}' for r in ratios)}); identical 1-best {same}/{len(sources)}; "
          f"peak RSS {result['peak_rss_mb']:.0f} MB; beam {args.beam}, "
          f"{args.threads} thread(s)")


if __name__ == "__main__":
    main()
