"""rescore-mbr: minimum Bayes risk decoding over a Moses n-best list: per sentence, the entry
with the highest expected utility (sentence BLEU or chrF) against the top entries under the
weights, weighted by their posterior."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rescore.checks import finite_float, refuse_overwriting_inputs
from rescore.cli import common
from rescore.mbr import UTILITIES, run_mbr, tuned_scale
from rescore.metrics import BLEU_TOKENIZERS, DEFAULT_TOKENIZE
from rescore.weights import load_weights

PROG = "rescore-mbr"


def build_parser() -> argparse.ArgumentParser:
    parser = common.make_parser(PROG, __doc__.split(":", 1)[1].strip())
    parser.add_argument("--nbest", required=True, help="n-best list with every feature the "
                        "weights name (.gz read as gzip)")
    parser.add_argument("--weights", required=True, help="weights (Moses ini or JSON) that "
                        "rank the entries and give their scores")
    parser.add_argument("--output-1best", help="the MBR choice per sentence, one per line")
    parser.add_argument("--output-nbest", help="each sentence's top entries reordered by "
                        "expected utility, which is appended as a feature (--feature) and "
                        "written as the total")
    parser.add_argument("--top", type=int, default=100,
                        help="K: the best entries under the weights that are both candidates "
                        "and evidence")
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--scale", type=finite_float, default=1.0,
                       help="A: the posterior is softmax(A x score) over the top entries "
                       "(tune it on a dev list: rescore-tune --method mbr-scale)")
    scale.add_argument("--scale-from", type=Path, metavar="REPORT",
                       help="take A from the .report.json of rescore-tune --method mbr-scale "
                       "(its --top and --utility must be this run's)")
    parser.add_argument("--utility", choices=UTILITIES, default="bleu",
                        help="bleu: sacrebleu's smoothed sentence BLEU; chrf: sentence chrF")
    parser.add_argument("--tokenize", choices=BLEU_TOKENIZERS, default=DEFAULT_TOKENIZE,
                        help="sacrebleu tokenization for the BLEU utility")
    parser.add_argument("--feature", default="MBR0", help="name of the expected-utility "
                        "feature in --output-nbest")
    common.add_progress_flag(parser)
    return parser


def mbr_command(args: argparse.Namespace) -> None:
    refuse_overwriting_inputs(
        [("--output-1best", args.output_1best), ("--output-nbest", args.output_nbest)],
        [("--nbest", args.nbest), ("--weights", args.weights), ("--scale-from", args.scale_from)])
    if args.scale_from is not None:
        args.scale = tuned_scale(args.scale_from, args.top, args.utility)
    result = run_mbr(args.nbest, load_weights(args.weights), args.output_1best,
                     args.output_nbest, args.top, args.scale, args.utility, args.tokenize,
                     args.feature, common.want_progress(args.progress))
    print(f"{PROG}: {result.sentences} sentences, MBR changed the 1-best of "
          f"{result.changed_1best} (top {args.top}, scale {args.scale:g}, {args.utility})",
          file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    common.run(PROG, mbr_command, build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
