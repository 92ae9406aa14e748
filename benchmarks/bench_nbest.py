"""Read + rerank + write speed and memory of rescore-nbest on the real test2016 1000-best list.

Each configuration runs in a fresh subprocess (so peak RSS is its own), timed inside that
process (interpreter start-up excluded). Baseline in the same run: ``gzip -dc`` of the same
file to /dev/null. The 3x list is test2016 concatenated three times with ids shifted, to show
that memory stays flat in the number of sentences.

    .venv/bin/python benchmarks/bench_nbest.py [--repeat 3]

Writes benchmarks/results/nbest.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # pipelines/: the shared data
from pipelines.engine.paths import multi30k_dir

RESULTS = Path(__file__).resolve().parent / "results"

CHILD = """
import json, sys, time
from rescore.rerank import rerank_file
from rescore.weights import load_weights
nbest, weights, out = sys.argv[1:4]
w = load_weights(weights)
start = time.perf_counter()
stats = rerank_file(nbest, combiner=w, output_nbest=out, output_1best=out + ".1best")
elapsed = time.perf_counter() - start
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forked parent
hwm = next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:"))
print(json.dumps({"seconds": elapsed, "lines": stats.hypotheses,
                  "peak_rss_mb": int(hwm.split()[1]) / 1024}))
"""


def gunzip_seconds(path: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["gzip", "-dc", str(path)], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def make_triple(src: Path, dst: Path) -> None:
    """test2016 three times, ids shifted by 1000 and 2000 (gzip level 6, as the original)."""
    with gzip.open(src, "rt", encoding="utf-8") as f:
        lines = f.readlines()
    with gzip.open(dst, "wt", encoding="utf-8", compresslevel=6) as out:
        for copy in range(3):
            for line in lines:
                sid, rest = line.split("|||", 1)
                out.write(f"{int(sid) + 1000 * copy} |||{rest}")


def run_child(nbest: Path, weights: Path, out: Path) -> dict[str, float]:
    result = subprocess.run([sys.executable, "-c", CHILD, str(nbest), str(weights), str(out)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per configuration (best kept)")
    args = parser.parse_args()
    data = multi30k_dir()
    single = data / "nbest" / "test2016.1000best.gz"
    weights = data / "moses.ini.tuned"
    RESULTS.mkdir(parents=True, exist_ok=True)
    triple = RESULTS / "test2016x3.1000best.gz"
    if not triple.exists():
        make_triple(single, triple)
    rows = []
    for name, path in (("test2016 (1M lines)", single), ("test2016 x3 (3M lines)", triple)):
        gz = min(gunzip_seconds(path) for _ in range(args.repeat))
        runs = [run_child(path, weights, RESULTS / "out.nbest") for _ in range(args.repeat)]
        best = min(runs, key=lambda r: r["seconds"])
        rows.append({
            "list": name, "lines": int(best["lines"]), "seconds": round(best["seconds"], 2),
            "lines_per_s": round(best["lines"] / best["seconds"]),
            "gzip_dc_seconds": round(gz, 2),
            "ratio_to_gzip_dc": round(best["seconds"] / gz, 1),
            "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs)),
        })
    for leftover in (RESULTS / "out.nbest", RESULTS / "out.nbest.1best"):
        leftover.unlink(missing_ok=True)
    (RESULTS / "nbest.json").write_text(json.dumps(rows, indent=2) + "\n")
    import pandas as pd

    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
