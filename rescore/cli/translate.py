"""rescore-translate: translate with an LSTM model or an ensemble by left-to-right beam search
over batches of sentences; write 1-best lines and, on request, a Moses-format n-best list."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np

from rescore.beam import ENSEMBLE_MODES, UNK_POLICIES, Hypothesis, SearchConfig, rerank
from rescore.checks import finite_float, refuse_overwriting_inputs
from rescore.cli import common
from rescore.errors import RescoreError
from rescore.outputs import SystemOutputs
from rescore.scoring import check_precision
from rescore.translate import (
    Translator,
    grid_output,
    read_sources,
    translate,
    write_outputs,
)

PROG = "rescore-translate"


def build_parser() -> argparse.ArgumentParser:
    parser = common.make_parser(PROG, __doc__.split(":", 1)[1].strip())
    parser.add_argument("--model", action="append", required=True, metavar="DIR",
                        help="model directory of rescore-train; repeat for an ensemble (equal "
                        "vocabularies)")
    parser.add_argument("--input", required=True, help="source sentences, one per line")
    parser.add_argument("--output", help="best translation per line (an empty line for an "
                        "empty input line)")
    parser.add_argument("--output-nbest", help="Moses n-best list 'id ||| hyp ||| LSTM0= s "
                        "... ||| total' (tokenized, ids from 0), for rescore-nbest/-oracle")
    parser.add_argument("--beam", type=common.positive_int, default=12, help="beam size")
    parser.add_argument("--nbest", type=int, help="hypotheses per sentence in --output-nbest "
                        "(at most --beam; default --beam)")
    parser.add_argument("--ensemble-mode", choices=ENSEMBLE_MODES, default="log-linear",
                        help="combine the models' next-word distributions: log-linear (mean "
                        "log-probability, renormalised) or linear (mean probability)")
    parser.add_argument("--length-norm", action="store_true",
                        help="rank finished hypotheses by log-probability / (words + 1) "
                        "(off, as in the paper)")
    parser.add_argument("--length-penalty", type=finite_float, default=0.0, metavar="ALPHA",
                        help="rank finished hypotheses by log-probability / ((5 + words + 1) / "
                        "6) ** ALPHA (GNMT's length penalty, Wu et al. 2016; 0: off). Plain "
                        "log-probabilities prefer short outputs, more so in wider beams; choose "
                        "ALPHA on a dev set (docs/results.md: on val)")
    parser.add_argument("--length-penalty-grid", type=penalty_grid, metavar="ALPHAS",
                        help="also write the 1-best translations for each of these length "
                        "penalties (comma-separated, e.g. 0,0.5,1,2), from ONE search: it runs "
                        "until --beam hypotheses finish in every sentence (which finish does "
                        "not depend on the penalty), then ranks them once per penalty. Each "
                        "output equals that of a search with that --length-penalty (ties "
                        "aside); see --output-grid")
    parser.add_argument("--output-grid", metavar="TEMPLATE",
                        help="where the grids' outputs go: a path with {alpha} in it for "
                        "--length-penalty-grid and {reward} for --word-reward-grid, e.g. "
                        "out/val.lp{alpha}.wr{reward}.txt")
    parser.add_argument("--word-reward", type=finite_float, default=0.0, metavar="R",
                        help="add R to the search's score for every word written (</s> "
                        "included), so longer hypotheses stay in the beam (He et al. 2016's "
                        "word reward; with --length-penalty or --length-norm it is added "
                        "after the division); the scores written stay log-probabilities")
    parser.add_argument("--word-reward-grid", type=reward_grid, metavar="REWARDS",
                        help="also write the 1-best translations for each of these word "
                        "rewards (comma-separated, e.g. 0,0.2,0.4), from the same one search "
                        "as --length-penalty-grid (the reward is the same for every live "
                        "hypothesis of a step, so it never changes which finish); with both "
                        "grids, one output per pair; see --output-grid")
    parser.add_argument("--max-len-a", type=finite_float, default=1.5,
                        help="a hypothesis has at most a * source words + b words")
    parser.add_argument("--max-len-b", type=int, default=10, help="see --max-len-a")
    parser.add_argument("--max-input-len", type=int,
                        help="longest source line in tokens (default: the models' training "
                        "limit); a longer line is an error")
    parser.add_argument("--unk", choices=UNK_POLICIES, default="keep",
                        help="keep: <unk> may appear in the output; drop: it is removed from "
                        "the output text (scores still include it); forbid: never generated; "
                        "replace: each <unk> becomes the source word with the largest "
                        "attention weight at that step (Luong et al. 2015; needs a model with "
                        "attention, averaged over the ensemble's attending members)")
    parser.add_argument("--detokenize", action="store_true",
                        help="detokenize the 1-best output with sacremoses (--tgt-lang); "
                        "the default output is tokenized like the models' training text")
    parser.add_argument("--src-lang", default="en", help="source language (tokenizer)")
    parser.add_argument("--tgt-lang", default="fr", help="target language (detokenizer)")
    parser.add_argument("--plot-attention", metavar="DIR",
                        help="also draw each 1-best translation's attention matrix (source "
                        "words across, output words down; the mean over the ensemble's "
                        "members with attention) as DIR/LINE.png, LINE the 1-based input line "
                        "(DIR is created; needs a model with attention)")
    parser.add_argument("--batch-size", type=common.positive_int, default=32,
                        help="sentences decoded together (sorted by length)")
    common.add_device_args(parser, "the models")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="fp32 (default), or bf16: the models' matrix products under bf16 "
                        "autocast (log-probabilities and scores stay fp32), on CUDA or on a "
                        "CPU with native bf16 (AVX-512 BF16 or AMX; refused on other CPUs, "
                        "where it is slower). Some outputs change; docs/benchmarks.md gives its "
                        "speed and BLEU against fp32")
    common.add_progress_flag(parser)
    return parser


def penalty_grid(text: str) -> list[float]:
    """``--length-penalty-grid``: comma-separated finite, non-negative numbers."""
    try:
        values = [finite_float(v) for v in text.split(",") if v.strip()]
    except argparse.ArgumentTypeError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: {err}") from None
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: give non-negative length penalties, "
                                         "comma-separated")
    return values


def reward_grid(text: str) -> list[float]:
    """``--word-reward-grid``: comma-separated finite numbers."""
    try:
        values = [finite_float(v) for v in text.split(",") if v.strip()]
    except argparse.ArgumentTypeError as err:
        raise argparse.ArgumentTypeError(f"{text!r}: {err}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"{text!r}: give word rewards, comma-separated")
    return values


def grid_paths(args: argparse.Namespace) -> dict[tuple[float, float], str]:
    """``--output-grid``'s file for each (length penalty, word reward) of the grids: every
    pair of ``--length-penalty-grid`` (default: ``--length-penalty`` alone) and
    ``--word-reward-grid`` (default: ``--word-reward`` alone)."""
    grids = {"--length-penalty-grid": (args.length_penalty_grid, "{alpha}", "penalty"),
             "--word-reward-grid": (args.word_reward_grid, "{reward}", "reward")}
    given = [name for name, (values, _, _) in grids.items() if values is not None]
    if bool(given) != (args.output_grid is not None):
        raise RescoreError("--output-grid goes with --length-penalty-grid or "
                           "--word-reward-grid (or both)")
    if not given:
        return {}
    for name in given:
        _, field, what = grids[name]
        if field not in args.output_grid:
            raise RescoreError(f"--output-grid {args.output_grid}: put {field} in it, where "
                               f"each {what}'s number goes ({name})")
    if args.length_norm:
        raise RescoreError(f"{' and '.join(given)} rank by their own terms: not with "
                           "--length-norm")
    alphas = args.length_penalty_grid or [args.length_penalty]
    rewards = args.word_reward_grid or [args.word_reward]
    return {(alpha, reward): grid_output(args.output_grid, alpha, reward)
            for alpha in dict.fromkeys(alphas) for reward in dict.fromkeys(rewards)}


def translate_command(args: argparse.Namespace) -> None:
    grid = grid_paths(args)
    if args.output is None and args.output_nbest is None and not grid:
        raise RescoreError("nothing to write: give --output, --output-nbest or --output-grid")
    refuse_overwriting_inputs([("--output", args.output), ("--output-nbest", args.output_nbest),
                               *(("--output-grid", p) for p in grid.values())],
                              [("--input", args.input)])
    device = common.apply_device_args(args)
    check_precision(device, args.precision)
    nbest = args.nbest or args.beam
    config = SearchConfig(beam=args.beam, nbest=args.beam if grid else nbest,
                          max_len_a=args.max_len_a, max_len_b=args.max_len_b,
                          length_norm=args.length_norm, length_penalty=args.length_penalty,
                          word_reward=args.word_reward, unk=args.unk, exhaustive=bool(grid))
    translator = Translator.load(args.model, args.ensemble_mode, device)
    for option, wanted in (("--unk replace", args.unk == "replace"),
                           ("--plot-attention", args.plot_attention)):
        if wanted and not translator.ensemble.attends:
            raise RescoreError(f"{option} needs a model with attention (rescore-train "
                               "--attention); these models have none")
    words: list[list[str]] = []
    sources = read_sources(args.input, translator, args.src_lang, args.max_input_len, words)
    start = time.perf_counter()
    results = translate(translator, sources, config, args.batch_size, device,
                        common.want_progress(args.progress), args.precision)
    seconds = time.perf_counter() - start
    detokenize = args.tgt_lang if args.detokenize else None
    for (alpha, reward), path in grid.items():  # each pair's 1-best from the one search
        ranking = dataclasses.replace(config, length_penalty=alpha, word_reward=reward)
        with SystemOutputs(path, None, detokenize=detokenize) as out:
            write_outputs([rerank(h, ranking)[:1] for h in results], translator, args.unk,
                          out, words)
    if args.output is not None or args.output_nbest is not None:
        with SystemOutputs(args.output, args.output_nbest, detokenize=detokenize) as out:
            write_outputs([h[:nbest] for h in results], translator, args.unk, out, words)
    if args.plot_attention:
        plot_attention(args.plot_attention, translator, sources, words, results)
    empty = sum(1 for s in sources if len(s) == 0)
    print(f"{PROG}: {len(sources)} sentences ({empty} empty) in {seconds:.1f} s, "
          f"{len(sources) / max(seconds, 1e-9):.1f} sentences/s, beam {config.beam}, "
          f"{len(args.model)} model(s), {args.precision}", file=sys.stderr)


def plot_attention(directory: str, translator: Translator, sources: list[np.ndarray],
                   words: list[list[str]], results: list[list[Hypothesis]]) -> None:
    """DIR/LINE.png: the attention matrix of each non-empty line's 1-best translation."""
    from rescore.figures import attention_matrix, by_words
    from rescore.figures import plot_attention as draw

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for line, (ids, hyps) in enumerate(zip(sources, results, strict=True), 1):
        if not hyps:
            continue
        matrix = attention_matrix(translator.ensemble, ids, hyps[0].tokens)
        assert matrix is not None  # checked: some member attends
        tgt = translator.tgt_vocab
        output = tgt.decode(hyps[0].tokens)
        matrix = by_words(matrix, translator.src_vocab.word_positions(ids),
                          tgt.word_positions(hyps[0].tokens))
        png = draw(matrix, words[line - 1], output, f"line {line}")
        tmp = out / f".{line}.png.tmp"
        tmp.write_bytes(png)
        os.replace(tmp, out / f"{line}.png")


def main(argv: list[str] | None = None) -> None:
    common.run(PROG, translate_command, build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
