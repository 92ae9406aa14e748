"""rescore-tune: learn feature weights that maximise corpus BLEU of a reranked dev n-best list
(Och's MERT or batch MIRA over all features, or a grid over one interpolation weight), or the
posterior scale of rescore-mbr (mbr-scale)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from rescore.checks import refuse_overwriting_inputs
from rescore.cli.common import add_seed_arg, make_parser, non_negative_int, positive_int, run
from rescore.errors import RescoreError
from rescore.files import atomic_outputs
from rescore.mbr import DEFAULT_SCALES, UTILITIES, choose_scale
from rescore.metrics import BLEU_TOKENIZERS, DEFAULT_TOKENIZE
from rescore.oracle import load_references
from rescore.tune import DEFAULT_GRID, TUNE_METHODS, TuneRequest, tune_weights
from rescore.weights import load_weights

PROG = "rescore-tune"


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(PROG, __doc__.split(":", 1)[1].strip())
    parser.add_argument("--nbest", required=True, type=Path,
                        help="dev n-best list with every feature (output of rescore-nbest)")
    parser.add_argument("--ref", required=True, help="dev references, one per line")
    parser.add_argument("--output", required=True, type=Path,
                        help="the tuned weights: a Moses ini [weight] section when the name ends "
                        "in .ini, else JSON (with --output-ini's Moses ini beside it); the "
                        "report goes to the same name with .report.json")
    parser.add_argument("--output-ini", type=Path, metavar="PATH",
                        help="with a JSON --output: also write the weights as a Moses ini "
                        "[weight] section here (default: --output with .ini; 'none' writes "
                        "none). Never one of the inputs: a Moses config given as "
                        "--init-weights is refused, not replaced")
    parser.add_argument("--method", choices=(*TUNE_METHODS, "mbr-scale"), default="mert",
                        help="mert: Och's MERT over the weights of all (or --tune-features) "
                        "features; grid: one interpolation weight between the baseline "
                        "weights and --feature; mira: batch MIRA (Cherry & Foster 2012, as Moses "
                        "kbmira; --iterations passes) over all (or --tune-features) features; "
                        "mbr-scale: the "
                        "posterior scale of rescore-mbr "
                        "for the --init-weights, by dev BLEU of MBR's choices over --scales "
                        "(the report holds the curve; the weights are written unchanged)")
    parser.add_argument("--baseline-as-one-feature", action="store_true",
                        help="mert, grid, mira: the baseline's total (features x --init-weights, "
                        "kept as they are) is ONE feature tuned against the new features "
                        "(those --init-weights lacks, or --tune-features): few dimensions, "
                        "little to overfit; the weights file stores it compactly and "
                        "rescore-nbest --weights applies it")
    parser.add_argument("--folds", type=positive_int, default=1,
                        help="mert, grid, mira: K > 1 is K-fold cross-validation over the dev "
                        "sentences (K contiguous blocks): tune on K-1, rerank the held one; the "
                        "report gives the cross-validated dev BLEU (every sentence picked by "
                        "weights that never saw it) beside the in-sample one, and the weights "
                        "written are the mean of the K folds' (default 1: tune once on all)")
    parser.add_argument("--replicas", type=positive_int, default=1,
                        help="mert, mira: N > 1 tunes N times, with seeds SEED, SEED+1, "
                        "... (optimizer instability, Clark et al. 2011), and keeps the "
                        "replica with the best cross-validated dev BLEU (with --folds; else "
                        "the in-sample one): chosen on dev alone; the report lists every "
                        "replica's dev BLEU and their mean and spread (default 1)")
    parser.add_argument("--scales", metavar="VALUES", help="mbr-scale: comma-separated "
                        "scales (default: 25 from 0.01 to 10,000, log-spaced: tuned weights "
                        "come in any scale)")
    parser.add_argument("--top", type=int, default=100, help="mbr-scale: rescore-mbr --top")
    parser.add_argument("--utility", choices=UTILITIES, default="bleu",
                        help="mbr-scale: rescore-mbr --utility")
    parser.add_argument("--init-weights", help="starting weights (Moses ini or JSON); features "
                        "they lack start at 0. mert: default all equal; grid: required")
    parser.add_argument("--grid", metavar="VALUES",
                        help="grid: comma-separated interpolation weights in [0, 1] (default: "
                        "0.005 steps to 0.1, 0.02 to 0.2, 0.05 to 1)")
    parser.add_argument("--feature", default="LSTM0",
                        help="grid: the feature to interpolate with the baseline weights")
    parser.add_argument("--tune-features", metavar="NAMES",
                        help="mert, mira: comma-separated features to tune (default all); the "
                        "others "
                        "keep their --init-weights (0 where absent)")
    parser.add_argument("--restarts", type=non_negative_int, default=10,
                        help="mert: searches after the first, each from a random perturbation "
                        "of the best weights so far (iterated local search)")
    parser.add_argument("--iterations", type=positive_int, default=10,
                        help="mert: iterations a start; mira: passes over the dev set")
    add_seed_arg(parser, "mert: seed of the random restarts and directions; mira: seed of "
                 "the sentence order")
    parser.add_argument("--tokenize", choices=BLEU_TOKENIZERS, default=DEFAULT_TOKENIZE,
                        help="sacrebleu tokenization of hypotheses and references ('none' for "
                        "tokenized text such as Multi30k here)")
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


SEEDED_METHODS = ("mert", "mira")  # random restarts / shuffles: --replicas differ by seed


def mbr_scale_command(args: argparse.Namespace) -> None:
    if not args.init_weights:
        raise RescoreError("--method mbr-scale needs --init-weights (the weights MBR ranks "
                           "with)")
    weights = load_weights(args.init_weights)
    scales: tuple[float, ...] = DEFAULT_SCALES
    if args.scales:
        try:
            scales = tuple(float(v) for v in args.scales.split(",") if v.strip())
        except ValueError:
            raise RescoreError(f"--scales {args.scales!r}: give comma-separated numbers") \
                from None
        if not scales or not all(math.isfinite(v) and v > 0 for v in scales):
            raise RescoreError(f"--scales {args.scales!r}: give positive finite numbers")
    report_path = args.output.with_suffix(".report.json")
    refuse_overwriting_inputs(
        [("--output", args.output), ("--output (its report)", report_path)],
        [("--nbest", args.nbest), ("--ref", args.ref), ("--init-weights", args.init_weights)])
    report = choose_scale(args.nbest, load_references(args.ref), weights, str(args.init_weights),
                          args.top, args.utility, scales, args.tokenize, args.ref)
    with atomic_outputs(args.output, report_path) as outs:
        json_out, report_out = outs
        assert json_out is not None and report_out is not None
        json_out.write(weights.to_moses_ini() if is_ini(args.output) else weights.to_json())
        report_out.write(json.dumps(report, indent=2) + "\n")
    print(f"{PROG}: MBR scale {report['scale']:g}: dev BLEU {report['dev_bleu_tuned']:.2f} "
          f"(curve in "
          f"{args.output.with_suffix('.report.json')})", file=sys.stderr)


def tune_command(args: argparse.Namespace) -> None:
    if args.replicas > 1 and args.method not in SEEDED_METHODS:
        raise RescoreError(f"--replicas {args.replicas}: --method {args.method} has no seed, "
                           f"so its replicas would be one tuning repeated; give --method "
                           f"{' or '.join(SEEDED_METHODS)}")
    if args.method == "mbr-scale":
        mbr_scale_command(args)
        return
    ini = ini_path(args)
    report_path = args.output.with_suffix(".report.json")
    cache = args.cache or args.output.with_suffix(".features.parquet")
    refuse_overwriting_inputs(
        [("--output", args.output), ("--output-ini", ini), ("--output (its report)", report_path),
         ("--cache", cache)],
        [("--nbest", args.nbest), ("--ref", args.ref), ("--init-weights", args.init_weights)])
    tune_features = None
    if args.tune_features:
        tune_features = [n.strip() for n in args.tune_features.split(",") if n.strip()]
    result = tune_weights(TuneRequest(
        nbest=args.nbest, references=load_references(args.ref), method=args.method,
        init=load_weights(args.init_weights) if args.init_weights else None,
        feature=args.feature, grid=parse_grid(args.grid), tune_features=tune_features,
        restarts=args.restarts, iterations=args.iterations, seed=args.seed,
        tokenize=args.tokenize, cache=cache,
        ref_name=args.ref, baseline_as_one_feature=args.baseline_as_one_feature,
        folds=args.folds, replicas=args.replicas))
    weights = result.to_weights(str(args.output))
    with atomic_outputs(args.output, ini, report_path) as outs:
        main_out, ini_out, report_out = outs
        assert main_out is not None and report_out is not None
        # Moses reads the expanded vector; the JSON may keep the baseline as one feature
        main_out.write(weights.to_moses_ini() if is_ini(args.output) else result.to_json())
        if ini_out is not None:
            ini_out.write(weights.to_moses_ini())
        report_out.write(json.dumps(result.report, indent=2) + "\n")
    cv = result.report.get("dev_bleu_cross_validated")
    folds = f" ({args.folds}-fold cross-validated: {cv:.2f})" if cv is not None else ""
    also = f" and {ini}" if ini is not None else ""
    if args.replicas > 1:
        r = result.report
        by = ("cross-validated dev BLEU" if r["replicas_chosen_by"] == "dev_bleu_cross_validated"
              else "dev BLEU")
        last = args.seed + args.replicas - 1
        print(f"{PROG}: {args.replicas} replicas (seeds {args.seed}-{last}): {by} "
              f"{r['replicas_score_mean']:.2f} mean, {r['replicas_score_sd']:.2f} sd; kept "
              f"seed {r['replica_kept_seed']}, the best", file=sys.stderr)
    print(f"{PROG}: dev BLEU {result.dev_bleu_start:.2f} at the start, {result.dev_bleu:.2f} "
          f"tuned{folds}; weights in {args.output}{also}", file=sys.stderr)


def is_ini(path: Path) -> bool:
    """A weights file's format follows its extension: ``.ini`` is a Moses ini."""
    return path.suffix == ".ini"


def ini_path(args: argparse.Namespace) -> Path | None:
    """Where the Moses ini beside a JSON --output goes (None: nowhere)."""
    if is_ini(args.output):
        if args.output_ini is not None and str(args.output_ini) != "none":
            raise RescoreError("--output is a Moses ini already: --output-ini is for a JSON "
                               "--output")
        return None
    if args.output_ini is None:
        return args.output.with_suffix(".ini")
    return None if str(args.output_ini) == "none" else Path(args.output_ini)


def main(argv: list[str] | None = None) -> None:
    run(PROG, tune_command, build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
