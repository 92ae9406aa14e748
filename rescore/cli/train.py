"""rescore-train: train the LSTM encoder-decoder scorer with the recipe of Sutskever et al.
(2014), on one process or data-parallel under torchrun."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

import torch

from rescore.cli.common import add_progress_flag, make_parser, run, want_progress
from rescore.config import PRESETS, get_preset, load_config, replace_fields, save_config
from rescore.corpus import TOKENIZERS, load_prepared, prepare_data
from rescore.errors import RescoreError
from rescore.model import Seq2Seq, count_parameters
from rescore.train import CHECKPOINT, Trainer, dist_info

PROG = "rescore-train"


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(PROG, __doc__.split(":", 1)[1].strip())
    parser.add_argument("--preset", default="cpu-multi30k", choices=list(PRESETS),
                        help="; ".join(f"{k}: {v.description}" for k, v in PRESETS.items()))
    parser.add_argument("--src-train", type=Path, help="training source, one sentence a line")
    parser.add_argument("--tgt-train", type=Path, help="training target, aligned by line")
    parser.add_argument("--src-valid", type=Path, help="validation source")
    parser.add_argument("--tgt-valid", type=Path, help="validation target")
    parser.add_argument("--output", type=Path, required=True,
                        help="model directory: config, vocabularies, checkpoints, log")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --output exactly where it stopped")
    parser.add_argument("--tokenize", choices=TOKENIZERS, default="none",
                        help="none: text is tokenized already; moses: sacremoses + lowercase")
    parser.add_argument("--src-lang", default="en")
    parser.add_argument("--tgt-lang", default="fr")
    parser.add_argument("--no-reverse-source", action="store_true",
                        help="feed the source in reading order (the paper's forward model)")
    model = parser.add_argument_group("model (override the preset)")
    for name in ("src_vocab_size", "tgt_vocab_size", "embed_dim", "hidden_dim", "num_layers"):
        model.add_argument("--" + name.replace("_", "-"), type=int)
    model.add_argument("--dropout", type=float,
                       help="dropout rate in training (embeddings, between layers, before the "
                            "output layer); the paper and the presets use 0")
    train = parser.add_argument_group("training (override the preset)")
    for name, kind in (("batch_size", int), ("lr", float), ("epochs", float),
                       ("decay_start_epoch", float), ("clip_norm", float), ("max_len", int),
                       ("seed", int), ("checkpoint_every", int), ("log_every", int)):
        train.add_argument("--" + name.replace("_", "-"), type=kind)
    parser.add_argument("--max-steps", type=int, help="stop after this many updates (total)")
    parser.add_argument("--max-minutes", type=float, help="stop this call after this long")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda")
    parser.add_argument("--threads", type=int, help="CPU threads (torch.set_num_threads)")
    add_progress_flag(parser)
    return parser


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device(name)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)

    def body() -> None:
        if args.threads:
            torch.set_num_threads(args.threads)
        info = dist_info()
        out: Path = args.output
        if args.resume:
            model_cfg, train_cfg, extra = load_config(out / "config.json")
            data = load_prepared(out)
        else:
            if (out / CHECKPOINT).exists():
                raise RescoreError(f"{out} already holds a training run: use --resume to "
                                   "continue it, or another --output")
            missing = [n for n in ("src_train", "tgt_train") if getattr(args, n) is None]
            if missing:
                raise RescoreError("give --" + " and --".join(m.replace("_", "-")
                                                            for m in missing))
            preset = get_preset(args.preset)
            vs = vars(args)
            model_cfg = replace_fields(preset.model, {k: vs[k] for k in (
                "src_vocab_size", "tgt_vocab_size", "embed_dim", "hidden_dim", "num_layers",
                "dropout")})
            if args.no_reverse_source:
                model_cfg = dataclasses.replace(model_cfg, reverse_source=False)
            train_cfg = replace_fields(preset.train, {k: vs[k] for k in (
                "batch_size", "lr", "epochs", "decay_start_epoch", "clip_norm", "max_len",
                "seed", "checkpoint_every", "log_every")})
            out.mkdir(parents=True, exist_ok=True)
            if info.main:
                data = prepare_data(out, args.src_train, args.tgt_train, args.src_valid,
                                    args.tgt_valid, model_cfg.src_vocab_size,
                                    model_cfg.tgt_vocab_size, args.tokenize, args.src_lang,
                                    args.tgt_lang, train_cfg.max_len)
                model_cfg = dataclasses.replace(model_cfg, src_vocab_size=len(data.src_vocab),
                                                tgt_vocab_size=len(data.tgt_vocab))
                extra = {"preset": args.preset, "tokenize": args.tokenize,
                         "data": {k: dataclasses.asdict(v) for k, v in data.stats.items()}}
                save_config(out / "config.json", model_cfg, train_cfg, extra)
                for name, st in data.stats.items():
                    print(f"{PROG}: {name}: kept {st.kept} of {st.pairs} pairs (skipped "
                          f"{st.skipped_empty} with an empty side, {st.skipped_long} longer "
                          f"than {train_cfg.max_len} tokens)", file=sys.stderr)
            if info.world > 1:
                torch.distributed.barrier()
            model_cfg, train_cfg, extra = load_config(out / "config.json")
            data = load_prepared(out)
        torch.manual_seed(train_cfg.seed)
        model = Seq2Seq(model_cfg)
        fingerprint = {"model": dataclasses.asdict(model_cfg),
                       "train": dataclasses.asdict(train_cfg),
                       "src_vocab": data.src_vocab.fingerprint(),
                       "tgt_vocab": data.tgt_vocab.fingerprint(), "train_pairs": len(data.train)}
        trainer = Trainer(model, data.train, data.valid, train_cfg, out, pick_device(args.device),
                          fingerprint, want_progress(args.progress))
        if args.resume:
            trainer.load_checkpoint()
        if info.main:
            print(f"{PROG}: {count_parameters(model):,} parameters, {len(data.train)} pairs, "
                  f"{trainer.steps_per_epoch} updates an epoch, {trainer.total_steps} in all, "
                  f"from update {trainer.progress.step}", file=sys.stderr)
        progress = trainer.run(args.max_steps,
                               args.max_minutes * 60 if args.max_minutes else None)
        if info.main:
            summary = {"steps": progress.step, "tgt_tokens": progress.tgt_tokens,
                       "seconds": progress.seconds,
                       "tgt_words_per_s": progress.tgt_tokens / max(progress.seconds, 1e-9)}
            (out / "train-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
            print(f"{PROG}: {progress.step} updates, {progress.seconds:.0f} s, "
                  f"{summary['tgt_words_per_s']:,.0f} target words/s; model in {out}",
                  file=sys.stderr)

    run(PROG, body)


if __name__ == "__main__":
    main()
