"""rescore-nbest: add features to a Moses n-best list, rerank it and write n-best and 1-best."""

from __future__ import annotations

import argparse
import os
import sys

import torch

from rescore.cli.common import add_progress_flag, make_parser, run, want_progress
from rescore.errors import RescoreError
from rescore.features import FeatureScorer, KenLMFeature, LSTMFeature
from rescore.nbest import check_feature_name
from rescore.rerank import (
    MISSING_POLICIES,
    AverageCombiner,
    Combiner,
    MeanFeature,
    merge_shards,
    rerank_file,
)
from rescore.train import dist_info
from rescore.weights import Weights, load_weights

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
    parser.add_argument("--model", action="append", default=[], metavar="[NAME=]DIR",
                        help="LSTM model directory of rescore-train; adds feature LSTM0 (LSTM1, "
                        "... for more, or NAME): natural-log P(hypothesis | source) with </s>; "
                        "needs --source")
    parser.add_argument("--ensemble", nargs="?", const="", default=None, metavar="NAMES",
                        help="also add LSTMEnsemble0, the mean of the LSTM features of this run "
                        "(or of the comma-separated feature NAMES, which may include LSTM "
                        "features the list has from an earlier run)")
    parser.add_argument("--ensemble-name", default="LSTMEnsemble0", metavar="NAME",
                        help="name of the --ensemble feature")
    parser.add_argument("--combine", choices=("weights", "average"),
                        help="weights: features x --weights (the default with --weights); "
                        "average: the paper's even average of the list's total and the LSTM "
                        "log-probability (the ensemble's with --ensemble, or --average-feature)")
    parser.add_argument("--average-feature", metavar="NAME",
                        help="with --combine average: the feature to average with the total "
                        "(one the list has already, e.g. LSTM0 from an earlier run)")
    parser.add_argument("--max-hyp-tokens", type=int, default=500, metavar="N",
                        help="a hypothesis longer than N tokens is an error (file:line) for the "
                        "LSTM features: a guard against broken lists (default 500)")
    parser.add_argument("--device", default="cpu", help="device for LSTM models (cpu, cuda; "
                        "under torchrun each process takes cuda:LOCAL_RANK)")
    parser.add_argument("--threads", type=int, help="CPU threads for the LSTM models "
                        "(torch.set_num_threads; default: torch's)")
    parser.add_argument("--output-nbest", help="reranked n-best list (Moses format)")
    parser.add_argument("--output-1best", help="best hypothesis per sentence, one per line")
    parser.add_argument("--missing", choices=MISSING_POLICIES, default="empty",
                        help="a sentence with no hypotheses: write an empty 1-best line and "
                        "warn (empty) or stop (error)")
    add_progress_flag(parser)
    return parser


def _model_spec(spec: str, index: int) -> tuple[str, str]:
    """``NAME=DIR`` or ``DIR`` (named LSTM<index>)."""
    name, sep, path = spec.partition("=")
    if sep and name and name.isalnum():
        return name, path
    return f"LSTM{index}", spec


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)

    def body() -> None:
        if args.output_nbest is None and args.output_1best is None:
            raise RescoreError("nothing to write: give --output-nbest and/or --output-1best")
        if args.threads is not None:
            if args.threads < 1:
                raise RescoreError(f"--threads must be at least 1, not {args.threads}")
            torch.set_num_threads(args.threads)
        device = torch.device(args.device)
        if device.type == "cuda" and "LOCAL_RANK" in os.environ:
            device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        lstms = [LSTMFeature(path, name, device, args.max_hyp_tokens)
                 for name, path in (_model_spec(spec, i) for i, spec in enumerate(args.model))]
        if lstms and args.source is None:
            raise RescoreError("--model needs --source (the source sentences of the list)")
        for other in lstms[1:]:
            if not lstms[0].compatible_with(other):
                raise RescoreError(f"{other.directory}: its vocabularies differ from those of "
                                   f"{lstms[0].directory}; an ensemble needs equal vocabularies")
        features: list[FeatureScorer] = [
            *lstms, *(KenLMFeature(path, name=f"KenLM{i}") for i, path in enumerate(args.lm))]
        means = []
        if args.ensemble is not None:
            names = tuple(n for n in args.ensemble.split(",") if n) or \
                tuple(f.name for f in lstms)
            if not names:
                raise RescoreError("--ensemble: no LSTM models to average (give --model, or "
                                   "NAMES of LSTM features the list has)")
            try:
                check_feature_name(args.ensemble_name)
            except ValueError as err:
                raise RescoreError(f"--ensemble-name: {err}") from None
            means = [MeanFeature(args.ensemble_name, names)]
        combiner: Weights | Combiner | None = None
        if args.combine == "average":
            if args.average_feature:
                combiner = AverageCombiner(args.average_feature)
            elif not lstms:
                raise RescoreError("--combine average needs an LSTM model (--model) or "
                                   "--average-feature")
            elif len(lstms) > 1 and not means:
                raise RescoreError("--combine average with several models needs --ensemble")
            else:
                combiner = AverageCombiner(means[0].name if means else lstms[0].name)
        elif args.weights:
            combiner = load_weights(args.weights)
        elif args.combine == "weights":
            raise RescoreError("--combine weights needs --weights")
        info = dist_info()
        stats = rerank_file(
            args.nbest, weights=combiner, features=features, means=means, source=args.source,
            output_nbest=args.output_nbest, output_1best=args.output_1best,
            missing=args.missing, progress=want_progress(args.progress) and info.main,
            shard=(info.rank, info.world))
        if info.world > 1:
            counts = torch.tensor([stats.sentences, stats.hypotheses, stats.changed_1best])
            torch.distributed.all_reduce(counts)
            stats.sentences, stats.hypotheses, stats.changed_1best = map(int, counts.tolist())
            torch.distributed.barrier()
            if info.main:
                merge_shards(args.output_nbest, args.output_1best, info.world)
            torch.distributed.barrier()
            if not info.main:
                return
        if stats.missing:
            shown = ", ".join(map(str, stats.missing[:10]))
            more = " ..." if len(stats.missing) > 10 else ""
            print(f"{PROG}: warning: {len(stats.missing)} sentence(s) have no hypotheses "
                  f"(ids {shown}{more}); wrote empty 1-best lines", file=sys.stderr)
        print(f"{PROG}: {stats.sentences} sentences, {stats.hypotheses} hypotheses, "
              f"1-best changed in {stats.changed_1best}", file=sys.stderr)
        for f in lstms:
            print(f"{PROG}: {f.name} ({f.directory}): {f.unknown_hypotheses} distinct "
                  f"hypotheses with words outside its vocabulary (scored as <unk>); "
                  f"{f.stats.decoder_steps} decoder steps for {f.stats.tokens} target tokens",
                  file=sys.stderr)

    run(PROG, body)


if __name__ == "__main__":
    main()
