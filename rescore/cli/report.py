"""rescore-report: compare systems' outputs against a reference with BLEU, chrF and paired
bootstrap significance (sacrebleu), with the paper's figures (BLEU by sentence length and by
word frequency; a PCA of encoder states), as Markdown, a self-contained HTML page, JSON and
CSV."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rescore.checks import refuse_overwriting_inputs
from rescore.cli.common import make_parser, run
from rescore.compare import DEFAULT_BOOTSTRAP
from rescore.errors import RescoreError
from rescore.metrics import BLEU_TOKENIZERS, DEFAULT_TOKENIZE
from rescore.report import ReportSpec, build_report, load_spec

PROG = "rescore-report"


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(PROG, __doc__.split(":", 1)[1].strip())
    parser.add_argument("--ref", help="reference translations, one per line")
    parser.add_argument("systems", nargs="*", metavar="NAME=FILE",
                        help="system outputs, one per line; the first is the baseline")
    parser.add_argument("--spec", help="a JSON report spec instead of --ref and NAME=FILE: "
                        '{"ref": FILE, "tables": [{"title": T, "systems": [{"name": N, '
                        '"file": F, "weights": W?}]}], "baseline": {"name", "file"}?, '
                        '"source"?, "vocab"?, "pca_model"?, "phrases"?, "oracle"?, '
                        '"models": [{"name", "dir"}]?, "plot": [names]?, "bins"?, '
                        '"bootstrap"?, "tokenize"?, "versus_above"?} (each key explained '
                        "in docs/rescore-report.md, 'The spec format')")
    parser.add_argument("--title", default="Systems", help="title of the table")
    parser.add_argument("--tokenize", choices=BLEU_TOKENIZERS, default=DEFAULT_TOKENIZE,
                        help="sacrebleu tokenization; 'none' for tokenized text such as "
                        "Multi30k here (compares with multi-bleu.perl)")
    parser.add_argument("--bootstrap", type=int, default=DEFAULT_BOOTSTRAP,
                        help="paired bootstrap samples (0: no significance test)")
    parser.add_argument("--source", type=Path, help="source sentences: adds Figure 3, BLEU by "
                        "sentence length (and by word frequency with --vocab)")
    parser.add_argument("--vocab", type=Path, help="words by falling frequency (a model's "
                        "src.vocab) for BLEU by average word frequency rank")
    parser.add_argument("--model", type=Path, help="model directory for Figure 2 (with "
                        "--phrases)")
    parser.add_argument("--phrases", type=Path, help="phrases, one per line (tokenized like "
                        "the model's source): Figure 2, a 2-D PCA of their encoder states")
    parser.add_argument("--oracle", type=Path, help="a rescore-oracle --report JSON to include")
    parser.add_argument("--bins", type=int, default=7, help="bins of Figure 3")
    parser.add_argument("--output-prefix", help="write PREFIX.md, PREFIX.html, PREFIX.json, "
                        "PREFIX.csv (and PREFIX-*.png figures)")
    return parser


def _spec(args: argparse.Namespace) -> ReportSpec:
    if args.spec:
        if args.systems or args.ref:
            raise RescoreError("give either --spec or --ref with NAME=FILE systems, not both")
        return load_spec(args.spec)
    if not args.ref or not args.systems:
        raise RescoreError("give --ref and at least one NAME=FILE system (or --spec)")
    systems = []
    for spec in args.systems:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise RescoreError(f"system {spec!r}: expected NAME=FILE")
        systems.append((name, Path(path)))
    if (args.model is None) != (args.phrases is None):
        raise RescoreError("Figure 2 needs both --model and --phrases")
    return ReportSpec(Path(args.ref), [(args.title, systems)], source=args.source,
                      vocab=args.vocab, pca_model=args.model, phrases=args.phrases,
                      oracle=args.oracle, tokenize=args.tokenize, bootstrap=args.bootstrap,
                      bins=args.bins)


def report_command(args: argparse.Namespace) -> None:
    spec = _spec(args)
    if args.output_prefix:
        base = Path(args.output_prefix)
        outputs: list[tuple[str, str | Path | None]] = [
            (f"--output-prefix ({base}.{ext})", f"{base}.{ext}")
            for ext in ("md", "html", "json", "csv")]
        outputs += [("--output-prefix (a figure)", p) for p in
                    (base.parent if str(base.parent) else Path(".")).glob(f"{base.name}-*.png")]
        refuse_overwriting_inputs(outputs, [("--spec", args.spec), *spec.inputs()])
    report = build_report(spec)
    if args.output_prefix:  # the files first: a reader that closes stdout early costs nothing
        report.save(args.output_prefix)
        print(f"{PROG}: wrote {args.output_prefix}.md, .html, .json and .csv", file=sys.stderr)
    for title, comparison in report.comparisons:
        print(f"## {title}\n\n{comparison.to_markdown()}")


def main(argv: list[str] | None = None) -> None:
    run(PROG, report_command, build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
