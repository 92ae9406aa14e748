"""rescore-report: compare systems' outputs against a reference with BLEU, chrF and paired
bootstrap significance (sacrebleu), as Markdown, JSON and CSV."""

from __future__ import annotations

import argparse

from rescore.cli.common import make_parser, run
from rescore.errors import RescoreError
from rescore.files import read_lines
from rescore.metrics import DEFAULT_TOKENIZE, TOKENIZERS
from rescore.report import DEFAULT_BOOTSTRAP, compare_systems, load_system

PROG = "rescore-report"


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(PROG, __doc__.split(":", 1)[1].strip())
    parser.add_argument("--ref", required=True, help="reference translations, one per line")
    parser.add_argument("systems", nargs="+", metavar="NAME=FILE",
                        help="system outputs, one per line; the first is the baseline")
    parser.add_argument("--tokenize", choices=TOKENIZERS, default=DEFAULT_TOKENIZE,
                        help="sacrebleu tokenization; 'none' for tokenized text such as "
                        "Multi30k here (compares with multi-bleu.perl)")
    parser.add_argument("--bootstrap", type=int, default=DEFAULT_BOOTSTRAP,
                        help="paired bootstrap samples (0: no significance test)")
    parser.add_argument("--output-prefix", help="write PREFIX.md, PREFIX.json and PREFIX.csv")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)

    def body() -> None:
        refs = read_lines(args.ref)
        if not refs:
            raise RescoreError(f"{args.ref}: empty reference file")
        systems = []
        for spec in args.systems:
            name, sep, path = spec.partition("=")
            if not sep or not name or not path:
                raise RescoreError(f"system {spec!r}: expected NAME=FILE")
            systems.append((name, load_system(path, len(refs), args.ref)))
        comparison = compare_systems(refs, systems, args.tokenize, args.bootstrap)
        print(comparison.to_markdown(), end="")
        if args.output_prefix:
            comparison.save(args.output_prefix)

    run(PROG, body)


if __name__ == "__main__":
    main()
