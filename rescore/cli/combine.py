"""rescore-combine: the union of several n-best lists of the same sentences (a Moses list and
a neural system's own, for example), one entry per distinct hypothesis with every list's
features, stated fill values for the features a list did not give it, and an origin indicator
per list: a Moses-format list for rescore-nbest and rescore-tune (system combination by
reranking)."""

from __future__ import annotations

import argparse
import sys

from rescore.checks import refuse_overwriting_inputs
from rescore.cli.common import make_parser, run
from rescore.combine import FILL_RULES, ORIGIN, combine_lists
from rescore.files import read_lines

PROG = "rescore-combine"


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(PROG, __doc__.split(":", 1)[1].strip())
    parser.add_argument("--nbest", action="append", required=True, metavar="LIST",
                        help="an n-best list (Moses format, .gz read as gzip); give two or more, "
                        "the first one's totals are kept (Moses' list first)")
    parser.add_argument("--output", required=True, help="the combined n-best list")
    parser.add_argument("--fill", choices=FILL_RULES, default="min",
                        help="the value of a feature for a hypothesis whose list lacks it: min, "
                        "the lowest value that feature takes among the sentence's entries that "
                        "have it (no better than the worst entry of that list); zero: 0. "
                        f"{ORIGIN} (1 per list that holds the hypothesis) lets tuning weigh the "
                        "difference")
    parser.add_argument("--source", help="source sentences: fixes the number of sentences")
    return parser


def combine_command(args: argparse.Namespace) -> None:
    refuse_overwriting_inputs([("--output", args.output)],
                              [*(("--nbest", n) for n in args.nbest), ("--source", args.source)])
    count = len(read_lines(args.source)) if args.source else None
    stats = combine_lists(args.nbest, args.output, args.fill, count)
    brought = ", ".join(f"{n}: {k}" for n, k in zip(args.nbest, stats.per_list, strict=True))
    print(f"{PROG}: {stats.sentences} sentences, {stats.entries} entries ({stats.shared} in "
          f"more than one list; new entries by list: {brought})", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    run(PROG, combine_command, build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
