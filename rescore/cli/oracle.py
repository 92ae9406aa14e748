"""rescore-oracle: pick from each sentence's n-best list the hypothesis closest to the
reference (sentence-BLEU or greedy corpus-BLEU oracle) and report how much room the list
leaves at depths k = 1, 10, 100, 1000."""

from __future__ import annotations

import argparse
import json
import sys

from rescore.checks import refuse_overwriting_inputs
from rescore.cli.common import add_progress_flag, make_parser, run, want_progress
from rescore.errors import RescoreError
from rescore.files import atomic_outputs
from rescore.metrics import BLEU_TOKENIZERS, DEFAULT_TOKENIZE
from rescore.oracle import ORACLE_METHODS, load_references, run_oracle

PROG = "rescore-oracle"


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(PROG, __doc__.split(":", 1)[1].strip())
    parser.add_argument("--nbest", required=True, help="Moses n-best list (.gz read as gzip)")
    parser.add_argument("--ref", required=True, help="reference translations, one per line")
    parser.add_argument("--output", required=True, help="oracle hypotheses, one per line")
    parser.add_argument("--method", choices=ORACLE_METHODS, default="sentence",
                        help="sentence: best smoothed sentence BLEU per sentence; corpus: "
                        "greedy corpus-BLEU oracle")
    parser.add_argument("--tokenize", choices=BLEU_TOKENIZERS, default=DEFAULT_TOKENIZE,
                        help="sacrebleu tokenization")
    parser.add_argument("--depths", default="1,10,100,1000",
                        help="comma-separated k: oracle BLEU over each list's first k entries")
    parser.add_argument("--report", help="also write the figures as JSON here")
    add_progress_flag(parser)
    return parser


def _depths(text: str) -> list[int]:
    try:
        ks = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        ks = []
    if not ks or min(ks) < 1:
        raise RescoreError(f"--depths {text!r}: expected positive integers like 1,10,100")
    return ks


def oracle_command(args: argparse.Namespace) -> None:
    refuse_overwriting_inputs([("--output", args.output), ("--report", args.report)],
                              [("--nbest", args.nbest), ("--ref", args.ref)])
    refs = load_references(args.ref)
    result = run_oracle(args.nbest, refs, args.method, _depths(args.depths), args.tokenize,
                        args.ref, want_progress(args.progress))
    report = result.report
    with atomic_outputs(args.output, args.report) as (out, report_out):
        assert out is not None
        out.write("".join(t + "\n" for t in result.texts))
        if report_out is not None:
            report_out.write(json.dumps(report, indent=2) + "\n")
    print(f"1-best BLEU {report['baseline_1best_bleu']:.2f}  "
          f"{args.method} oracle BLEU {report['oracle_bleu']:.2f}")
    at_k = report["oracle_bleu_at_k"]
    assert isinstance(at_k, dict)
    for k, v in at_k.items():
        print(f"  oracle over first {k:>5} entries: BLEU {v:.2f}")
    print(f"  {report['signature']}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    run(PROG, oracle_command, build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
