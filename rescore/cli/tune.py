"""rescore-tune: learn feature weights that maximise corpus BLEU of a reranked dev n-best list
(Och's MERT over all features, or a grid over one interpolation weight)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from rescore.cli.common import make_parser, run
from rescore.errors import RescoreError
from rescore.files import atomic_output
from rescore.metrics import DEFAULT_TOKENIZE, TOKENIZERS
from rescore.oracle import load_references
from rescore.tune import (
    DEFAULT_GRID,
    corpus_bleu_of,
    grid_search,
    load_table,
    mert,
    vector_to_weights,
)
from rescore.weights import load_weights

PROG = "rescore-tune"


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(PROG, __doc__.split(":", 1)[1].strip())
    parser.add_argument("--nbest", required=True, type=Path,
                        help="dev n-best list with every feature (output of rescore-nbest)")
    parser.add_argument("--ref", required=True, help="dev references, one per line")
    parser.add_argument("--output", required=True, type=Path,
                        help="weights as JSON; a Moses ini [weight] section is written beside "
                        "it (same name, .ini)")
    parser.add_argument("--method", choices=("mert", "grid"), default="mert")
    parser.add_argument("--init-weights", help="starting weights (Moses ini or JSON); features "
                        "they lack start at 0. mert: default all equal; grid: required")
    parser.add_argument("--grid", metavar="VALUES",
                        help="grid: comma-separated interpolation weights in [0, 1] (default: "
                        "0.005 steps to 0.1, 0.02 to 0.2, 0.05 to 1)")
    parser.add_argument("--feature", default="LSTM0",
                        help="grid: the feature to interpolate with the baseline weights")
    parser.add_argument("--tune-features", metavar="NAMES",
                        help="mert: comma-separated features to tune (default all); the others "
                        "keep their --init-weights (0 where absent)")
    parser.add_argument("--restarts", type=int, default=5, help="mert: random restarts")
    parser.add_argument("--iterations", type=int, default=10, help="mert: iterations a start")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tokenize", choices=TOKENIZERS, default=DEFAULT_TOKENIZE)
    parser.add_argument("--cache", type=Path, help="feature table cache (parquet); default: "
                        "OUTPUT with .features.parquet")
    return parser


def parse_grid(text: str | None) -> tuple[float, ...]:
    if text is None:
        return DEFAULT_GRID
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise RescoreError(f"--grid {text!r}: give comma-separated numbers") from None
    if not values or not all(0.0 <= v <= 1.0 for v in values):
        raise RescoreError(f"--grid {text!r}: give weights in [0, 1]")
    return values


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)

    def body() -> None:
        refs = load_references(args.ref)
        cache = args.cache or args.output.with_suffix(".features.parquet")
        table = load_table(args.nbest, refs, cache, args.tokenize, args.ref)
        schema = table.schema
        init = load_weights(args.init_weights) if args.init_weights else None
        report: dict[str, object] = {"method": args.method, "features": list(schema.names)}
        if args.method == "mert":
            start = init.vector(schema, default=0.0) if init else np.ones(schema.dim)
            start_bleu = corpus_bleu_of(table, table.values @ start)
            free = None
            if args.tune_features:
                names = [n.strip() for n in args.tune_features.split(",") if n.strip()]
                unknown = [n for n in names if n not in schema.names]
                if unknown:
                    raise RescoreError(f"--tune-features: {', '.join(unknown)} not in the list "
                                       f"({', '.join(schema.names)})")
                free = np.zeros(schema.dim, dtype=bool)
                for n in names:
                    off = schema.offsets[n]
                    free[off:off + schema.sizes[schema.names.index(n)]] = True
            w, bleu = mert(table, start, restarts=args.restarts, iterations=args.iterations,
                           seed=args.seed, log=True, free=free)
        else:
            if init is None:
                raise RescoreError("--method grid needs --init-weights (the baseline weights)")
            if args.feature not in schema.names:
                raise RescoreError(f"--feature {args.feature}: not in the list "
                                   f"({', '.join(schema.names)})")
            col = schema.offsets[args.feature]
            base = init.vector(schema, default=0.0)
            base[col] = 0.0
            start_bleu = corpus_bleu_of(table, table.values @ base)
            lam, bleu, curve = grid_search(table, base, col, parse_grid(args.grid))
            w = (1 - lam) * base
            w[col] = lam
            report["grid"] = curve
            report["lambda"] = lam
        weights = vector_to_weights(w, schema, str(args.output))
        report |= {"dev_bleu_start": start_bleu, "dev_bleu_tuned": bleu}
        with atomic_output(args.output) as out:
            out.write(weights.to_json())
        with atomic_output(args.output.with_suffix(".ini")) as out:
            out.write(weights.to_moses_ini())
        with atomic_output(args.output.with_suffix(".report.json")) as out:
            out.write(json.dumps(report, indent=2) + "\n")
        print(f"{PROG}: dev BLEU {start_bleu:.2f} at the start, {bleu:.2f} tuned; weights in "
              f"{args.output} and {args.output.with_suffix('.ini')}", file=sys.stderr)

    run(PROG, body)


if __name__ == "__main__":
    main()
