"""rescore-model: look after model directories: convert one written before rescore 0.3 to
safetensors, average kept checkpoints into a new one, or describe and verify one."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rescore import model_dir
from rescore.cli.common import add_device_args, apply_device_args, make_parser, run
from rescore.errors import RescoreError

PROG = "rescore-model"


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(PROG, __doc__.split(":", 1)[1].strip())
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    convert = sub.add_parser(
        "convert", help="rewrite a model directory of rescore < 0.3 in place: its pickled "
        "model.pt (read without running code) becomes model.safetensors with its SHA-256 in "
        "config.json, and a checkpoint.pt is rewritten as plain values")
    convert.add_argument("directories", nargs="+", type=Path, metavar="DIR",
                         help="model directories to convert (one already converted is left "
                         "as it is)")
    average = sub.add_parser(
        "average", help="average the weights of kept checkpoints (rescore-train "
        "--keep-checkpoints) into a new model directory; prints its validation perplexity "
        "beside the best single checkpoint's when the run's validation data is there")
    average.add_argument("directory", type=Path, metavar="DIR",
                         help="a model directory trained with --keep-checkpoints")
    average.add_argument("--last", type=int, metavar="K",
                         help="average the last K kept checkpoints")
    average.add_argument("--best", type=int, metavar="K",
                         help="average the K kept checkpoints of best validation perplexity")
    average.add_argument("--output", type=Path, required=True, help="the new model directory")
    add_device_args(average, "the validation pass")
    info = sub.add_parser("info", help="what a model directory holds (shape, vocabulary, "
                          "training and the environments it ran in, where averaged weights "
                          "came from) as JSON, after checking its weights load (and their "
                          "SHA-256)")
    info.add_argument("directory", type=Path, metavar="DIR", help="a model directory")
    return parser


def _validation_ppl(directory: Path, args: argparse.Namespace) -> float | None:
    from rescore.corpus import load_prepared
    from rescore.scoring import validation_perplexity

    files = model_dir.data_files(directory)
    try:
        valid = load_prepared(files).valid
    except (RescoreError, OSError):
        return None
    if valid is None:
        return None
    loaded = model_dir.load(args.output, apply_device_args(args))
    return validation_perplexity(loaded.model, valid, loaded.device)


def model_command(args: argparse.Namespace) -> None:
    if args.action == "convert":
        for directory in args.directories:
            path = model_dir.convert(directory)
            digest = model_dir.recorded_sha256(directory)
            print(f"{directory}: weights in {path.name} (SHA-256 {digest})")
    elif args.action == "average":
        if (args.last is None) == (args.best is None):
            raise RescoreError("give one of --last K and --best K")
        method, k = ("last", args.last) if args.last is not None else ("best", args.best)
        provenance = model_dir.average(args.directory, args.output, k, method)
        chosen = provenance["checkpoints"]
        best = min(c["validation perplexity"] for c in chosen)
        steps = ", ".join(str(c["step"]) for c in chosen)
        print(f"{args.output}: the mean of {len(chosen)} checkpoints of {args.directory} "
              f"(updates {steps}; best of them: validation perplexity {best:.2f})")
        ppl = _validation_ppl(args.directory, args)
        if ppl is not None:
            print(f"{args.output}: validation perplexity {ppl:.2f}")
    else:
        info = model_dir.describe(args.directory)
        model_dir.load(args.directory)  # the weights are whole and fit the config
        info["weights"] = model_dir.load_config(args.directory)[2].get("weights")
        print(json.dumps(info, indent=2))


def main(argv: list[str] | None = None) -> None:
    run(PROG, model_command, build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
