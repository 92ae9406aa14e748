"""BLEU statistics of a whole dev list, as tuning and the oracle build them: the shared
builder (:func:`rescore.metrics.list_stats`: each reference's n-grams extracted once, each
distinct hypothesis scored once) against the way both did it before, one sacrebleu
``sentence_score`` call per distinct hypothesis (which extracts the reference's n-grams again
on every call). Same process, same list; the statistics are checked equal.

    .venv/bin/python benchmarks/bench_stats.py [--sentences N]

Writes benchmarks/results/stats.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from rescore.feature_table import build_table
from rescore.files import read_lines
from rescore.metrics import list_stats, make_bleu, segment_stats
from rescore.nbest import iter_sentences

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # pipelines/: the shared data
from pipelines.engine.paths import multi30k_dir

RESULTS = Path(__file__).resolve().parent / "results"


def sacrebleu_per_hypothesis(nbest: Path, refs: list[str]) -> np.ndarray:
    """The former path: dedupe, then ``BLEU.sentence_score`` for every distinct string."""
    bleu = make_bleu(sentence=True)
    rows = []
    for sent_id, block in iter_sentences(nbest, len(refs)):
        assert block is not None
        cache: dict[str, np.ndarray] = {}
        for hyp in block.hypotheses:
            if hyp not in cache:
                cache[hyp] = segment_stats(bleu, hyp, refs[sent_id])[0]
            rows.append(cache[hyp])
    return np.stack(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, help="the first N sentences (default: all)")
    args = parser.parse_args()
    data = multi30k_dir()
    nbest = data / "nbest" / "val.1000best.gz"
    refs = read_lines(data / "val.fr")
    if args.sentences:  # a slice of the list: the sentences below N
        import gzip
        import tempfile

        tmp = Path(tempfile.mkdtemp()) / "val.slice.nbest"
        with gzip.open(nbest, "rt", encoding="utf-8") as src, open(tmp, "w") as out:
            for line in src:
                if int(line.split("|||", 1)[0]) >= args.sentences:
                    break
                out.write(line)
        nbest, refs = tmp, refs[: args.sentences]
    start = time.perf_counter()
    before = sacrebleu_per_hypothesis(nbest, refs)
    t_before = time.perf_counter() - start
    start = time.perf_counter()
    after = np.concatenate([s.entry_stats() for s in list_stats(nbest, refs)])
    t_after = time.perf_counter() - start
    start = time.perf_counter()
    table = build_table(nbest, refs)
    t_table = time.perf_counter() - start
    if not (np.array_equal(before, after) and np.array_equal(after, table.stats)):
        raise SystemExit("statistics differ between the two builders")
    result = {"list": str(nbest), "sentences": len(refs), "entries": len(after),
              "sacrebleu_per_hypothesis_s": round(t_before, 2),
              "shared_builder_s": round(t_after, 2),
              "build_table_s": round(t_table, 2),
              "speed-up": round(t_before / t_after, 2)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "stats.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
