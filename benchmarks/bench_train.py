"""Training speed: target words/s and the fraction of the machine's matmul peak reached.

Baseline in the same run: the FLOP/s of a large matrix multiply (torch.mm, the same threads)
in the precision training runs in: fp32 on the CPU, bf16 on a GPU (where training
autocasts). Training FLOPs are counted analytically from the model's shapes: per token and
LSTM layer 4H(I+H) multiply-adds, per target token H*V for the generator, x2 for FLOPs and
x3 for forward + backward. Real Multi30k batches (length-bucketed, as in training).

    .venv/bin/python benchmarks/bench_train.py [--threads 2] [--device cpu|cuda]
    python benchmarks/bench_train.py --device cuda --paper-vocab 160000,80000 --paper-steps 20
    .venv/bin/python benchmarks/bench_train.py --precision-ratio [--threads 1]
    .venv/bin/python benchmarks/bench_train.py --arch-ratio --threads 1 [--precision bf16]

Writes benchmarks/results/train-DEVICE.json and prints a Markdown table. ``--precision-ratio``
instead times cpu-strong's update (2 x 256, dot attention, Adam) in fp32 against bf16
autocast (``rescore-train --precision bf16``) on the CPU: two trainers from the same seed,
rounds of the same batches alternating between them, the ratio of their words/s per round
(median and range), and the loss of each after the last round; it writes
benchmarks/results/train-precision-cpu.json. Meaningful on a CPU with native bf16 (AVX-512
BF16 or AMX), where rescore-train allows bf16. ``--arch-ratio`` times cpu-transformer's update
against cpu-strong's the same way (train-arch-PRECISION.json): what a Transformer member
costs beside an LSTM member. ``--ops-ratio`` times, for cpu-strong and cpu-transformer, the
update with torch's own loss, dropout and Adam (``F.cross_entropy``, ``nn.Dropout``, Adam
with a kernel per tensor: rescore before 0.3.0) against rescore's (blockwise cross-entropy,
dropout masks from 64-bit draws, fused Adam), two trainers from the same seed on the same
batches (train-ops-PRECISION.json).

    .venv/bin/python benchmarks/bench_train.py --ops-ratio --threads 1 --precision bf16
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import torch

from rescore.config import PRESETS, ModelConfig, TrainConfig
from rescore.corpus import Batch, BinarizedCorpus, PreparedData, prepare_data
from rescore.model import Seq2Seq
from rescore.model_dir import data_files

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # pipelines/: the shared data
from pipelines.engine.paths import multi30k_dir
from rescore.train import Trainer

RESULTS = Path(__file__).resolve().parent / "results"


def matmul_peak(device: torch.device, n: int = 4096, dtype: torch.dtype = torch.float32) -> float:
    """FLOP/s of an n x n by n x n matrix multiply (best of several)."""
    a = torch.rand(n, n, device=device, dtype=dtype)
    b = torch.rand(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(5):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        torch.mm(a, b)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def training_flops(cfg: ModelConfig, batch: Batch) -> float:
    """Forward + backward FLOPs of one update on ``batch`` (matrix multiplies only)."""
    src_tokens = float(batch.src_lengths.sum())
    tgt_tokens = float(batch.tgt_tokens)
    def lstm_macs(tokens: float) -> float:
        inputs = [cfg.embed_dim] + [cfg.hidden_dim] * (cfg.num_layers - 1)
        return tokens * sum(4 * cfg.hidden_dim * (i + cfg.hidden_dim) for i in inputs)
    macs = lstm_macs(src_tokens) + lstm_macs(tgt_tokens) + \
        tgt_tokens * cfg.hidden_dim * cfg.tgt_vocab_size
    return 3 * 2 * macs


@dataclasses.dataclass
class Timed:
    """``steps`` updates of a fresh model on real batches: the trainer (and its corpus) after
    them, the target tokens, the training FLOPs and the seconds they took."""

    trainer: Trainer
    corpus: BinarizedCorpus
    model_cfg: ModelConfig
    tokens: float
    flops: float
    seconds: float


def prepared(folder: Path, model_cfg: ModelConfig, train_cfg: TrainConfig, src: Path,
             tgt: Path) -> PreparedData:
    """``src``/``tgt`` binarized into ``folder`` with the model's vocabulary sizes."""
    return prepare_data(data_files(folder), src, tgt, None, None, model_cfg.src_vocab_size,
                        model_cfg.tgt_vocab_size, "none", "en", "fr", train_cfg.max_len)


def timed_updates(model_cfg: ModelConfig, train_cfg: TrainConfig, folder: Path,
                  device: torch.device, steps: int, src: Path, tgt: Path) -> Timed:
    """Prepare ``src``/``tgt`` into ``folder``, then time ``steps`` updates after one warm-up
    update (the data's words are ids below its own vocabulary; a larger requested vocabulary,
    the paper's 160k/80k, keeps its embedding and softmax sizes, which is what costs)."""
    data = prepared(folder, model_cfg, train_cfg, src, tgt)
    model_cfg = dataclasses.replace(
        model_cfg, src_vocab_size=max(len(data.src_vocab), model_cfg.src_vocab_size),
        tgt_vocab_size=max(len(data.tgt_vocab), model_cfg.tgt_vocab_size))
    torch.manual_seed(0)
    trainer = Trainer(Seq2Seq(model_cfg), data.train, None, train_cfg, folder, device, {},
                      progress_bar=False)
    trainer.train_step(data.train.batch(trainer.batch_indices(0)))  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    tokens = flops = 0.0
    start = time.perf_counter()
    for step in range(1, steps + 1):
        batch = data.train.batch(trainer.batch_indices(step))
        trainer.train_step(batch)
        tokens += batch.tgt_tokens
        flops += training_flops(model_cfg, batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return Timed(trainer, data.train, model_cfg, tokens, flops, time.perf_counter() - start)


def measure(name: str, model_cfg: ModelConfig, train_cfg: TrainConfig, work: Path,
            device: torch.device, steps: int, peak: float) -> dict[str, object]:
    d = multi30k_dir()
    (work / name).mkdir(parents=True)
    t = timed_updates(model_cfg, train_cfg, work / name, device, steps, d / "train.en.gz",
                      d / "train.fr.gz")
    model_cfg = t.model_cfg
    return {"model": name, "layers x hidden": f"{model_cfg.num_layers} x {model_cfg.hidden_dim}",
            "vocab src/tgt": f"{model_cfg.src_vocab_size}/{model_cfg.tgt_vocab_size}",
            "batch": train_cfg.batch_size, "steps": steps,
            "tgt_words_per_s": round(t.tokens / t.seconds),
            "train_GFLOP_per_s": round(t.flops / t.seconds / 1e9, 1),
            "matmul_peak_GFLOP_per_s": round(peak / 1e9, 1),
            "fraction_of_peak": round(t.flops / t.seconds / peak, 3)}


def alternating_rounds(trainers: dict[str, Trainer], data: PreparedData, rounds: int,
                       steps: int, contexts: dict[str, Callable[[], AbstractContextManager[Any]]]
                       | None = None) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Rounds of ``steps`` updates on the same batches, alternating between the trainers
    (round 0 warms them up and is not counted): each one's words/s per round, and its last
    loss per token. ``contexts``: a trainer's rounds run inside the context its factory
    makes (a patch of what it calls)."""
    first = next(iter(trainers.values()))
    words: dict[str, list[float]] = {p: [] for p in trainers}
    losses: dict[str, float] = {}
    for r in range(rounds + 1):
        batches = [data.train.batch(first.batch_indices(r * steps + i)) for i in range(steps)]
        for name, trainer in trainers.items():
            with (contexts or {}).get(name, nullcontext)():
                start = time.perf_counter()
                for batch in batches:
                    loss, _ = trainer.train_step(batch)
                seconds = time.perf_counter() - start
            if r:
                words[name].append(sum(b.tgt_tokens for b in batches) / seconds)
            losses[name] = loss / (batches[-1].tgt_tokens / batches[-1].size)
    return words, losses


def precision_ratio(threads: int, rounds: int, steps: int) -> dict[str, object]:
    """cpu-strong's update in fp32 and in bf16 autocast, alternating rounds of ``steps``
    updates on the same batches; words/s of each and their ratio per round."""
    import statistics

    from rescore.scoring import cpu_has_bf16

    preset = PRESETS["cpu-strong"]
    d = multi30k_dir()
    device = torch.device("cpu")
    trainers: dict[str, Trainer] = {}
    with tempfile.TemporaryDirectory() as work:
        data = prepared(Path(work), preset.model, preset.train, d / "train.en.gz",
                        d / "train.fr.gz")
        for precision in ("fp32", "bf16"):
            torch.manual_seed(0)
            trainers[precision] = Trainer(Seq2Seq(preset.model), data.train, None,
                                          preset.train, Path(work), device, {},
                                          progress_bar=False, precision=precision)
        words, losses = alternating_rounds(trainers, data, rounds, steps)
    ratios = [b / f for f, b in zip(words["fp32"], words["bf16"], strict=True)]
    return {"model": "cpu-strong (2 x 256, dot attention, Adam, batch 64)",
            "threads": threads, "rounds": rounds, "updates_per_round": steps,
            "cpu_has_native_bf16": cpu_has_bf16(),
            "fp32_tgt_words_per_s": round(statistics.median(words["fp32"])),
            "bf16_tgt_words_per_s": round(statistics.median(words["bf16"])),
            "ratio_bf16_over_fp32_median": round(statistics.median(ratios), 3),
            "ratio_min": round(min(ratios), 3), "ratio_max": round(max(ratios), 3),
            "last_loss_per_token_fp32": round(losses["fp32"], 4),
            "last_loss_per_token_bf16": round(losses["bf16"], 4)}


def arch_ratio(threads: int, rounds: int, steps: int, precision: str) -> dict[str, object]:
    """cpu-transformer's update against cpu-strong's (the LSTM members'), in ``precision``,
    alternating rounds of ``steps`` updates on the same batches: what a Transformer member
    costs beside an LSTM one."""
    import statistics

    from rescore.models import build_model

    d = multi30k_dir()
    device = torch.device("cpu")
    names = ("cpu-strong", "cpu-transformer")
    trainers: dict[str, Trainer] = {}
    with tempfile.TemporaryDirectory() as work:
        base = PRESETS[names[0]]
        data = prepared(Path(work), base.model, base.train, d / "train.en.gz",
                        d / "train.fr.gz")
        for name in names:
            preset = PRESETS[name]
            torch.manual_seed(0)
            model = build_model(dataclasses.replace(
                preset.model, src_vocab_size=len(data.src_vocab),
                tgt_vocab_size=len(data.tgt_vocab)))
            trainers[name] = Trainer(model, data.train, None, preset.train, Path(work), device,
                                     {}, progress_bar=False, precision=precision)
        words, _ = alternating_rounds(trainers, data, rounds, steps)
    ratios = [t / lstm for lstm, t in zip(words[names[0]], words[names[1]], strict=True)]
    return {"models": "cpu-transformer (3 x 256 Transformer) against cpu-strong (2 x 256 "
                      "LSTM, dot attention), batch 64, each with its preset's optimizer",
            "precision": precision, "threads": threads, "rounds": rounds,
            "updates_per_round": steps,
            "lstm_tgt_words_per_s": round(statistics.median(words[names[0]])),
            "transformer_tgt_words_per_s": round(statistics.median(words[names[1]])),
            "ratio_transformer_over_lstm_median": round(statistics.median(ratios), 3),
            "ratio_min": round(min(ratios), 3), "ratio_max": round(max(ratios), 3)}


def ops_ratio(threads: int, rounds: int, steps: int, precision: str) -> list[dict[str, object]]:
    """Per preset (cpu-strong, cpu-transformer): its update with torch's cross-entropy,
    ``nn.Dropout`` and per-tensor Adam against rescore's own three, alternating rounds of
    ``steps`` updates on the same batches; words/s of each, their ratio per round, and the
    loss of each after the last round (the same training, up to dropout's random draws)."""
    import statistics
    from unittest import mock

    from torch import nn

    import rescore.train
    from rescore.models import build_model
    from rescore.models.protocol import Dropout

    def torch_loss(logits: torch.Tensor, tgt_out: torch.Tensor,
                   label_smoothing: float = 0.0) -> torch.Tensor:
        return nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), tgt_out.reshape(-1),
            ignore_index=0, reduction="sum", label_smoothing=label_smoothing)

    d = multi30k_dir()
    device = torch.device("cpu")
    rows: list[dict[str, object]] = []
    for name in ("cpu-strong", "cpu-transformer"):
        preset = PRESETS[name]
        trainers: dict[str, Trainer] = {}
        with tempfile.TemporaryDirectory() as work:
            data = prepared(Path(work), preset.model, preset.train, d / "train.en.gz",
                            d / "train.fr.gz")
            for kind in ("torch", "rescore"):
                torch.manual_seed(0)
                model = build_model(dataclasses.replace(
                    preset.model, src_vocab_size=len(data.src_vocab),
                    tgt_vocab_size=len(data.tgt_vocab)))
                if kind == "torch":
                    for module in model.modules():
                        if isinstance(module, Dropout):
                            module.__class__ = nn.Dropout
                trainers[kind] = Trainer(model, data.train, None, preset.train, Path(work),
                                         device, {}, progress_bar=False, precision=precision)
                if kind == "torch":
                    trainers[kind].optimizer = torch.optim.Adam(model.parameters(),
                                                                lr=preset.train.lr)
            words, losses = alternating_rounds(trainers, data, rounds, steps, {
                "torch": lambda: mock.patch.object(rescore.train, "summed_cross_entropy",
                                                   torch_loss)})
        ratios = [m / t for t, m in zip(words["torch"], words["rescore"], strict=True)]
        rows.append({"preset": name, "precision": precision, "threads": threads,
                     "rounds": rounds, "updates_per_round": steps,
                     "torch_ops_tgt_words_per_s": round(statistics.median(words["torch"])),
                     "rescore_ops_tgt_words_per_s": round(statistics.median(words["rescore"])),
                     "ratio_median": round(statistics.median(ratios), 3),
                     "ratio_min": round(min(ratios), 3), "ratio_max": round(max(ratios), 3),
                     "last_loss_per_token_torch": round(losses["torch"], 4),
                     "last_loss_per_token_rescore": round(losses["rescore"], 4)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--paper-steps", type=int, default=3)
    parser.add_argument("--paper-vocab", default="8000,8000", metavar="SRC,TGT",
                        help="vocabularies of the sutskever2014 shapes (the paper's "
                        "160000,80000 need a GPU)")
    parser.add_argument("--precision-ratio", action="store_true",
                        help="time cpu-strong's update in fp32 against bf16 autocast (CPU)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="--precision-ratio, --arch-ratio, --ops-ratio: timed rounds of each")
    parser.add_argument("--arch-ratio", action="store_true",
                        help="time cpu-transformer's update against cpu-strong's (CPU)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"),
                        help="--arch-ratio, --ops-ratio: the precision both train in")
    parser.add_argument("--ops-ratio", action="store_true",
                        help="time the update with torch's loss, dropout and Adam against "
                        "rescore's (CPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.ops_ratio:
        import pandas as pd

        rows = ops_ratio(args.threads, args.rounds, args.steps, args.precision)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"train-ops-{args.precision}.json").write_text(
            json.dumps(rows, indent=2) + "\n")
        print(pd.DataFrame(rows).to_markdown(index=False))
        return
    if args.arch_ratio:
        result = arch_ratio(args.threads, args.rounds, args.steps, args.precision)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"train-arch-{args.precision}.json").write_text(
            json.dumps(result, indent=2) + "\n")
        for key, value in result.items():
            print(f"{key}: {value}")
        return
    if args.precision_ratio:
        result = precision_ratio(args.threads, args.rounds, args.steps)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "train-precision-cpu.json").write_text(json.dumps(result, indent=2) + "\n")
        for key, value in result.items():
            print(f"{key}: {value}")
        return
    device = torch.device(args.device)
    # the peak of the precision training runs in: bf16 autocast on a GPU, fp32 on the CPU
    peak_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    peak = matmul_peak(device, dtype=peak_dtype)
    paper = PRESETS["sutskever2014"]
    src_vocab, tgt_vocab = (int(v) for v in args.paper_vocab.split(","))
    configs = [
        ("cpu-multi30k", PRESETS["cpu-multi30k"].model, PRESETS["cpu-multi30k"].train,
         args.steps),
        ("sutskever2014 shapes", dataclasses.replace(
            paper.model, src_vocab_size=src_vocab, tgt_vocab_size=tgt_vocab), paper.train,
         args.paper_steps),
    ]
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name, mcfg, tcfg, steps in configs:
            rows.append(measure(name, mcfg, tcfg, Path(work), device, steps, peak))
    for row in rows:
        row["device"] = torch.cuda.get_device_name() if device.type == "cuda" else \
            f"cpu x{args.threads} threads"
        row["peak dtype"] = str(peak_dtype).removeprefix("torch.")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"train-{device.type}.json").write_text(json.dumps(rows, indent=2) + "\n")
    import pandas as pd

    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
