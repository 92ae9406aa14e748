"""rescore-train: train the LSTM encoder-decoder scorer with the recipe of Sutskever et al.
(2014), on one process or data-parallel under torchrun."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rescore.checks import finite_float
from rescore.cli.common import (
    add_device_args,
    add_progress_flag,
    apply_device_args,
    make_parser,
    run,
    want_progress,
)
from rescore.config import (
    ARCHITECTURES,
    ATTENTION_TYPES,
    LR_SCHEDULES,
    OPTIMIZERS,
    POSITION_TYPES,
    PRESETS,
)
from rescore.corpus import TRAIN_TOKENIZERS
from rescore.distributed import dist_info
from rescore.train import (
    DEFAULT_PRESET,
    PRECISIONS,
    TrainRequest,
    checkpoint_step,
    train_model,
)
from rescore.vocab import SUBWORD_TYPES

PROG = "rescore-train"
MODEL_OPTIONS = {"src_vocab_size": "source vocabulary size, specials included",
                 "tgt_vocab_size": "target vocabulary size, specials included",
                 "embed_dim": "word embedding size", "hidden_dim": "LSTM cells per layer (a "
                 "Transformer's width, equal to --embed-dim)",
                 "num_layers": "LSTM (or Transformer) layers of the encoder and of the decoder",
                 "heads": "--arch transformer: attention heads (a divisor of --hidden-dim)",
                 "ff_dim": "--arch transformer: the feed-forward block's inner size"}
TRAIN_OPTIONS = {"batch_size": (int, "sentence pairs per update"),
                 "lr": (float, "learning rate (SGD: the paper's 0.7; Adam: 0.001-0.002)"),
                 "epochs": (float, "epochs in all"),
                 "decay_start_epoch": (float, "halve the learning rate every half epoch "
                                              "from this epoch on"),
                 "clip_norm": (float, "clip the gradient's L2 norm to this"),
                 "max_len": (int, "skip training pairs longer than this (tokens)"),
                 "seed": (int, "seed of the initialisation and the batch order"),
                 "checkpoint_every": (int, "updates between checkpoints"),
                 "log_every": (int, "updates between log records"),
                 "warmup_steps": (int, "raise the learning rate linearly from 0 over this many "
                                       "updates (usual with Adam; costs nothing)"),
                 "label_smoothing": (float, "put this much of each target word's probability "
                                            "mass evenly over the vocabulary in the training "
                                            "loss (0.1 is usual; validation perplexity stays "
                                            "the plain one; costs nothing)"),
                 "patience": (int, "stop after this many validations (one every half epoch) "
                                   "without a better validation perplexity; 0: never (saves "
                                   "the rest of the epochs when it stops)"),
                 "decay_factor": (float, "what each decay multiplies the learning rate by")}


def _preset_values(field: str, section: str) -> str:
    """``cpu-multi30k: 256, cpu-tiny: 32, ...``: a field's value in every preset."""
    return ", ".join(f"{name}: {getattr(getattr(p, section), field)}"
                     for name, p in PRESETS.items())


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(PROG, __doc__.split(":", 1)[1].strip())
    parser.add_argument("--preset", choices=list(PRESETS),
                        help=f"default {DEFAULT_PRESET} (with --resume: the recorded one); "
                        + "; ".join(f"{k}: {v.description}" for k, v in PRESETS.items()))
    parser.add_argument("--src-train", type=Path, help="training source, one sentence a line")
    parser.add_argument("--tgt-train", type=Path, help="training target, aligned by line")
    parser.add_argument("--src-valid", type=Path, help="validation source")
    parser.add_argument("--tgt-valid", type=Path, help="validation target")
    parser.add_argument("--output", type=Path, required=True,
                        help="model directory: config, vocabularies, checkpoints, log")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --output exactly where it stopped (bit for "
                        "bit as if never stopped); options that would change the run are "
                        "refused, except --epochs, which lengthens it (the schedules do not "
                        "depend on the length: a run lengthened from a half-epoch boundary is "
                        "the run trained that long from the start)")
    parser.add_argument("--tokenize", choices=TRAIN_TOKENIZERS, default="none",
                        help="none: text is tokenized already; moses: sacremoses + lowercase")
    parser.add_argument("--src-lang", default="en", help="source language (tokenizer; "
                        "recorded in the model directory, so that rescore-nbest can tell a "
                        "direct model from a channel model)")
    parser.add_argument("--tgt-lang", default="fr", help="target language (as --src-lang)")
    parser.add_argument("--no-reverse-source", action="store_true",
                        help="feed the source in reading order (the paper's forward model)")
    parser.add_argument("--target-right-to-left", action="store_true",
                        help="a right-to-left model: the decoder reads and writes the target "
                        "in reverse (independent of the source's direction: pair it with "
                        "--no-reverse-source, so that the first words written sit next to the "
                        "source words they translate); rescore-nbest --model scores hypotheses "
                        "in this order by itself")
    parser.add_argument("--subwords", choices=SUBWORD_TYPES,
                        help="subword vocabularies instead of words: a sentencepiece model of "
                        "this kind per side, trained on the training text (--src-vocab-size "
                        "and --tgt-vocab-size pieces), stored in the model directory and "
                        "applied by every command; hypotheses and sources stay words (a "
                        "word's score is the sum over its pieces). Costs: sentences become "
                        "longer in ids (about 1.2-1.5x on Multi30k at 8k pieces), so training, "
                        "scoring and beam search take longer per sentence")
    parser.add_argument("--src-spm", type=Path, metavar="MODEL",
                        help="reuse this sentencepiece model for the source side (with "
                        "--tgt-spm) instead of training one")
    parser.add_argument("--tgt-spm", type=Path, metavar="MODEL",
                        help="reuse this sentencepiece model for the target side")
    model = parser.add_argument_group("model (override the preset)")
    for name, text in MODEL_OPTIONS.items():
        model.add_argument("--" + name.replace("_", "-"), type=int,
                           help=f"{text} ({_preset_values(name, 'model')})")
    model.add_argument("--dropout", type=finite_float,
                       help="dropout rate in training (embeddings, between layers, before the "
                            "output layer); the paper uses 0 "
                            f"({_preset_values('dropout', 'model')})")
    model.add_argument("--arch", choices=ARCHITECTURES,
                       help="lstm: the paper's deep LSTM (with --attention, Luong's); "
                            "transformer: the Transformer (Vaswani et al. 2017): pre-norm "
                            "residual blocks of multi-head self- and cross-attention and a "
                            "feed-forward layer, sinusoidal or learned positions, decoded "
                            "incrementally (cached keys and values). Costs: cpu-transformer "
                            "trained 12 epochs of Multi30k in 3,192 s on one thread under bf16 "
                            "(1,650 target words/s), its update at 0.65x cpu-strong's words/s "
                            "(benchmarks/bench_train.py --arch-ratio) "
                            f"({_preset_values('arch', 'model')})")
    model.add_argument("--positions", choices=POSITION_TYPES,
                       help="--arch transformer: sinusoidal (no parameters, any length up to "
                            "--max-positions) or learned position embeddings")
    model.add_argument("--max-positions", type=int,
                       help="--arch transformer: the longest sequence (default 1024)")
    model.add_argument("--attention-dropout", type=finite_float,
                       help="--arch transformer: dropout on the attention weights")
    model.add_argument("--activation-dropout", type=finite_float,
                       help="--arch transformer: dropout after the feed-forward activation")
    model.add_argument("--share-embeddings", action="store_const", const=True,
                       help="--arch transformer: one embedding matrix for source and target "
                            "and one vocabulary of --src-vocab-size entries on both sides: "
                            "words of both sides' training text, or with --subwords one "
                            "sentencepiece model trained on both sides (or the one given as "
                            "--src-spm and/or --tgt-spm); off in every preset")
    model.add_argument("--attention", choices=ATTENTION_TYPES,
                       help="global attention over the encoder's outputs (Luong et al. 2015): "
                            "at every target word the decoder's top-layer output scores each "
                            "source position (dot: h_t . h_s; general: h_t . W h_s; concat: "
                            "v . tanh(W [h_t; h_s])), and tanh(W_c [context; h_t]) replaces "
                            "h_t before the output layer, so the source no longer has to fit "
                            "one fixed vector; the encoder, its reversed source and the "
                            "decoder's initial state stay the paper's; none: the paper's model "
                            f"({_preset_values('attention', 'model')})")
    model.add_argument("--residual", action="store_const", const=True,
                       help="residual connections between LSTM layers from the second layer "
                            "up, in the encoder and the decoder (Wu et al. 2016): a layer's "
                            "input is added to its output, which lets deeper stacks train; "
                            "no extra parameters, a little more time; off in every preset")
    model.add_argument("--bidirectional", action="store_const", const=True,
                       help="the encoder reads the source both ways, hidden/2 cells per "
                            "direction, outputs and per-layer final states concatenated (the "
                            "decoder starts from [forward final; backward final] of each "
                            "layer, as OpenNMT's brnn); about 15%% fewer encoder parameters, "
                            "similar time. Channel scoring with such a model cannot share "
                            "encoder steps between hypotheses that start alike (the backward "
                            "direction needs the whole hypothesis): it encodes each distinct "
                            "hypothesis whole; off in every preset")
    model.add_argument("--tie-embeddings", action="store_const", const=True,
                       help="the output layer's weight matrix is the target embedding matrix "
                            "(Press & Wolf 2017): fewer parameters (tgt vocabulary x hidden), "
                            "no extra time; needs --embed-dim equal to --hidden-dim; off in "
                            "every preset")
    model.add_argument("--input-feeding", action="store_const", const=True,
                       help="with --attention: the previous attentional vector joins the "
                            "decoder's next input (Luong's input feeding; the decoder then runs "
                            "step by step in training, slower); off in every preset")
    train = parser.add_argument_group("training (override the preset)")
    train.add_argument("--optimizer", choices=OPTIMIZERS,
                       help="sgd: the paper's plain SGD (use --lr 0.7); adam: Adam with "
                            "torch's betas (use --lr 0.001 or 0.002, often with "
                            "--warmup-steps and --lr-schedule plateau); Adam keeps two more "
                            "numbers per parameter (3x the weights' memory), about 5%% more "
                            f"time per update ({_preset_values('optimizer', 'train')})")
    train.add_argument("--lr-schedule", choices=LR_SCHEDULES,
                       help="halving: the paper's (x --decay-factor every half epoch from "
                            "--decay-start-epoch); plateau: x --decay-factor after every "
                            "validation that is not better than the best so far; "
                            "inverse-sqrt: the Transformer's (a linear rise to --lr over "
                            "--warmup-steps, then --lr x sqrt(warmup / update)) "
                            f"({_preset_values('lr_schedule', 'train')})")
    for name, (kind, text) in TRAIN_OPTIONS.items():
        train.add_argument("--" + name.replace("_", "-"), type=kind,
                           help=f"{text} ({_preset_values(name, 'train')})")
    parser.add_argument("--max-steps", type=int, help="stop after this many updates (total)")
    parser.add_argument("--max-minutes", type=finite_float,
                        help="stop this call after this long")
    parser.add_argument("--keep-checkpoints", type=int, metavar="K",
                        help="keep the weights of the last K and of the best K validations "
                        "(by perplexity) in DIR/checkpoints/, for rescore-model average; each "
                        "costs one weights file on disk (default: as recorded for --resume, "
                        "else 0)")
    add_device_args(parser, "training")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="auto: bf16 autocast on CUDA, fp32 on the CPU (with --resume: the "
                        "precision the run recorded); fp32: on CUDA too "
                        "(to check a GPU against the CPU); bf16: autocast, on CUDA or on a CPU "
                        "with native bf16 (AVX-512 BF16 or AMX: about 1.4x the words/s of fp32 "
                        "for cpu-strong here, benchmarks/bench_train.py --precision-ratio; "
                        "refused on other CPUs, where it is slower)")
    add_progress_flag(parser)
    return parser


def request_from_args(args: argparse.Namespace) -> TrainRequest:
    options = vars(args)
    return TrainRequest(
        output=args.output, resume=args.resume, preset=args.preset, src_train=args.src_train,
        tgt_train=args.tgt_train, src_valid=args.src_valid, tgt_valid=args.tgt_valid,
        tokenize=args.tokenize, src_lang=args.src_lang, tgt_lang=args.tgt_lang,
        reverse_source=not args.no_reverse_source,
        target_right_to_left=args.target_right_to_left,
        model_overrides={k: options[k]
                         for k in (*MODEL_OPTIONS, "dropout", "attention", "input_feeding",
                           "tie_embeddings", "residual", "bidirectional", "arch", "positions",
                           "max_positions", "attention_dropout", "activation_dropout",
                           "share_embeddings")},
        train_overrides={k: options[k] for k in (*TRAIN_OPTIONS, "optimizer", "lr_schedule")},
        keep_checkpoints=args.keep_checkpoints, subwords=args.subwords,
        src_spm=args.src_spm, tgt_spm=args.tgt_spm,
        max_steps=args.max_steps,
        max_seconds=args.max_minutes * 60 if args.max_minutes else None,
        device=apply_device_args(args), precision=args.precision,
        progress_bar=want_progress(args.progress))


def train_command(args: argparse.Namespace) -> None:
    try:
        result = train_model(request_from_args(args))
    except KeyboardInterrupt:
        step = checkpoint_step(args.output)
        where = f"update {step} (its last checkpoint)" if step is not None else "the start"
        print(f"{PROG}: interrupted; continue from {where} with: rescore-train --resume "
              f"--output {args.output}", file=sys.stderr)
        raise
    if not dist_info().main:
        return
    p = result.progress
    print(f"{PROG}: {p.step} updates, {p.seconds:.0f} s, {result.words_per_second:,.0f} "
          f"target words/s; model in {result.output}", file=sys.stderr)
    if not result.finished:
        print(f"{PROG}: stopped early ({p.step} of {result.total_steps} updates: --max-steps or "
              f"--max-minutes); continue with: rescore-train --resume --output {result.output}",
              file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    run(PROG, train_command, build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
