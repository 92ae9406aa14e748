"""rescore-nbest: add features to a Moses n-best list, rerank it and write n-best and 1-best."""

from __future__ import annotations

import argparse
import sys

from rescore.cli.common import add_progress_flag, make_parser, run, want_progress
from rescore.errors import RescoreError
from rescore.features import FeatureScorer, KenLMFeature
from rescore.rerank import MISSING_POLICIES, rerank_file
from rescore.weights import load_weights

PROG = "rescore-nbest"


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(PROG, __doc__.split(":", 1)[1].strip())
    parser.add_argument("--nbest", required=True, help="Moses n-best list (.gz read as gzip)")
    parser.add_argument("--weights", help="feature weights: a Moses ini with a [weight] section "
                        "or JSON; without it the list's order and totals are kept")
    parser.add_argument("--source", help="source sentences, one per line, aligned by id; "
                        "fixes the number of sentences (ids past its end are an error)")
    parser.add_argument("--lm", action="append", default=[], metavar="LM",
                        help="KenLM model (ARPA, .arpa.gz or binary); adds feature KenLM0 "
                        "(KenLM1, ... for more), natural-log probability with </s>")
    parser.add_argument("--output-nbest", help="reranked n-best list (Moses format)")
    parser.add_argument("--output-1best", help="best hypothesis per sentence, one per line")
    parser.add_argument("--missing", choices=MISSING_POLICIES, default="empty",
                        help="a sentence with no hypotheses: write an empty 1-best line and "
                        "warn (empty) or stop (error)")
    add_progress_flag(parser)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)

    def body() -> None:
        if args.output_nbest is None and args.output_1best is None:
            raise RescoreError("nothing to write: give --output-nbest and/or --output-1best")
        features: list[FeatureScorer] = [
            KenLMFeature(path, name=f"KenLM{i}") for i, path in enumerate(args.lm)]
        weights = load_weights(args.weights) if args.weights else None
        stats = rerank_file(
            args.nbest, weights=weights, features=features, source=args.source,
            output_nbest=args.output_nbest, output_1best=args.output_1best,
            missing=args.missing, progress=want_progress(args.progress))
        if stats.missing:
            shown = ", ".join(map(str, stats.missing[:10]))
            more = " ..." if len(stats.missing) > 10 else ""
            print(f"{PROG}: warning: {len(stats.missing)} sentence(s) have no hypotheses "
                  f"(ids {shown}{more}); wrote empty 1-best lines", file=sys.stderr)
        print(f"{PROG}: {stats.sentences} sentences, {stats.hypotheses} hypotheses, "
              f"1-best changed in {stats.changed_1best}", file=sys.stderr)

    run(PROG, body)


if __name__ == "__main__":
    main()
