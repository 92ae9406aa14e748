"""Thread defaults: the quick pipeline (from an empty work folder) and the default test tier,
each with the default settings and with explicit thread counts, on a quiet machine and with a
busy loop loading one core (started and stopped by this script). Goal: the default is never
more than 1.2x the best setting, and the quick pipeline takes under 2 minutes either way.

    .venv/bin/python benchmarks/bench_threads.py [--threads 1,2] [--no-tests]

The test tier's thread count is set through RESCORE_TEST_THREADS (its default is 1). Writes
benchmarks/results/threads.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def busy_loop() -> None:  # pragma: no cover - runs in a child process
    while True:
        pass


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def quick_pipeline(threads: int | None) -> float:
    work = Path(tempfile.mkdtemp(prefix="bench-threads-"))
    try:
        command = [sys.executable, "pipelines/multi30k.py", "--quick", "--workdir", str(work)]
        if threads is not None:
            command += ["--threads", str(threads)]
        env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
        return timed(command, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_tier(threads: int | None) -> float:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if threads is not None:
        env["RESCORE_TEST_THREADS"] = str(threads)
    return timed([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"], env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="1,2", help="explicit settings to compare")
    parser.add_argument("--no-tests", action="store_true", help="only the quick pipeline")
    args = parser.parse_args()
    settings: list[int | None] = [None, *(int(t) for t in args.threads.split(","))]
    jobs = {"quick pipeline": quick_pipeline}
    if not args.no_tests:
        jobs["test tier"] = test_tier
    rows = []
    for load in ("quiet", "one core busy"):
        loop = None
        if load != "quiet":
            loop = multiprocessing.Process(target=busy_loop, daemon=True)
            loop.start()
        try:
            for job, run in jobs.items():
                times = {("default" if t is None else f"--threads {t}"): run(t) for t in settings}
                best = min(v for k, v in times.items() if k != "default")
                rows.append({"job": job, "load": load,
                             **{k: round(v, 1) for k, v in times.items()},
                             "default / best": round(times["default"] / best, 2)})
                print(json.dumps(rows[-1]), flush=True)
        finally:
            if loop is not None:
                loop.terminate()
                loop.join()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "threads.json").write_text(json.dumps(rows, indent=2) + "\n")
    import pandas as pd

    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
