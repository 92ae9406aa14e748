"""rescore-nbest: add features to a Moses n-best list, rerank it and write n-best and 1-best."""

from __future__ import annotations

import argparse
import sys

from rescore.checks import refuse_overwriting_inputs
from rescore.cli.common import (
    add_device_args,
    add_progress_flag,
    apply_device_args,
    make_parser,
    positive_int,
    run,
    want_progress,
)
from rescore.nbest_run import COMBINE_RULES, NbestRequest, run_nbest
from rescore.rerank import MISSING_POLICIES

PROG = "rescore-nbest"


def names_list(text: str) -> list[str]:
    """Comma-separated feature names (empty items dropped)."""
    return [n for n in text.split(",") if n]


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
    parser.add_argument("--word-count", action="store_true",
                        help="add feature WordCount0: the hypothesis' number of tokens (</s> "
                        "not counted), the length term of noisy-channel reranking")
    parser.add_argument("--per-word", type=names_list, default=[], metavar="NAMES",
                        help="also add PerWord<NAME> for each comma-separated feature NAME (of "
                        "this run or of the list, e.g. LSTMEnsemble0): its value divided by "
                        "the hypothesis' tokens + 1 (</s>), a length-normalised score that "
                        "does not favour short hypotheses as log-probabilities do")
    parser.add_argument("--model", action="append", default=[], metavar="[NAME=]DIR",
                        help="LSTM model directory of rescore-train; adds feature LSTM0 (LSTM1, "
                        "... for more, or NAME): natural-log P(hypothesis | source) with </s>; "
                        "needs --source")
    parser.add_argument("--channel-model", action="append", default=[], metavar="[NAME=]DIR",
                        help="noisy-channel model: a model directory of rescore-train trained "
                        "from the target language to the source language; adds feature "
                        "Channel0 (Channel1, ... or NAME): natural-log P(source | hypothesis) "
                        "with </s>; needs --source")
    parser.add_argument("--channel-ensemble", action="store_true",
                        help="also add ChannelEnsemble0, the mean of this run's channel "
                        "features")
    parser.add_argument("--src-lang", default="en",
                        help="the list's source language: --model models must map it to "
                        "--tgt-lang, --channel-model models the other way (checked against "
                        "the languages rescore-train recorded)")
    parser.add_argument("--tgt-lang", default="fr", help="the list's target language")
    parser.add_argument("--ensemble", nargs="?", const="", default=None, metavar="NAMES",
                        help="also add LSTMEnsemble0, the mean of the LSTM features of this run "
                        "(or of the comma-separated feature NAMES, which may include LSTM "
                        "features the list has from an earlier run)")
    parser.add_argument("--ensemble-name", default="LSTMEnsemble0", metavar="NAME",
                        help="name of the --ensemble feature")
    parser.add_argument("--combine", choices=COMBINE_RULES,
                        help="weights: features x --weights (the default with --weights); "
                        "average: the paper's even average of the list's total and the LSTM "
                        "log-probability (the ensemble's with --ensemble, or --average-feature)")
    parser.add_argument("--average-feature", metavar="NAME",
                        help="with --combine average: the feature to average with the total "
                        "(one the list has already, e.g. LSTM0 from an earlier run)")
    parser.add_argument("--max-hyp-tokens", type=positive_int, default=500, metavar="N",
                        help="a hypothesis longer than N tokens is an error (file:line) for the "
                        "LSTM features: a guard against broken lists (default 500)")
    add_device_args(parser, "the LSTM models")
    parser.add_argument("--output-nbest", help="reranked n-best list (Moses format)")
    parser.add_argument("--output-1best", help="best hypothesis per sentence, one per line")
    parser.add_argument("--missing", choices=MISSING_POLICIES, default="error",
                        help="a sentence with no hypotheses (an id the list skips, or a "
                        "--source line past its end): stop with an error (error, the default: "
                        "it catches a source that does not belong to the list) or write an "
                        "empty 1-best line and warn (empty: for lists where Moses emitted "
                        "nothing for some sentences)")
    add_progress_flag(parser)
    return parser


def nbest_command(args: argparse.Namespace) -> None:
    refuse_overwriting_inputs(
        [("--output-nbest", args.output_nbest), ("--output-1best", args.output_1best)],
        [("--nbest", args.nbest), ("--source", args.source), ("--weights", args.weights),
         *(("--lm", lm) for lm in args.lm)])
    request = NbestRequest(
        nbest=args.nbest, source=args.source, models=args.model,
        channel_models=args.channel_model, channel_ensemble=args.channel_ensemble,
        src_lang=args.src_lang, tgt_lang=args.tgt_lang, lms=args.lm,
        word_count=args.word_count, per_word=args.per_word,
        ensemble=args.ensemble, ensemble_name=args.ensemble_name, combine=args.combine,
        weights=args.weights, average_feature=args.average_feature,
        max_hyp_tokens=args.max_hyp_tokens, output_nbest=args.output_nbest,
        output_1best=args.output_1best, missing=args.missing,
        progress=want_progress(args.progress), device=apply_device_args(args))
    result = run_nbest(request)
    if not result.main:
        return
    stats = result.stats
    if stats.missing:
        shown = ", ".join(map(str, stats.missing[:10]))
        more = " ..." if len(stats.missing) > 10 else ""
        print(f"{PROG}: warning: {len(stats.missing)} sentence(s) have no hypotheses "
              f"(ids {shown}{more}); wrote empty 1-best lines", file=sys.stderr)
    print(f"{PROG}: {stats.sentences} sentences, {stats.hypotheses} hypotheses, "
          f"1-best changed in {stats.changed_1best}", file=sys.stderr)
    for line in result.summaries:
        print(f"{PROG}: {line}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    run(PROG, nbest_command, build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
