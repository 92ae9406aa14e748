"""The GPU session: one command that checks and measures every GPU path of rescore, each step
in its own time box, for the rare lease of a GPU (15 minutes of device time, start included).

Steps (each a child process with its own time limit, so that a slow or stuck step cannot
starve the rest; each step's result is merged into OUTPUT/gpu_session.json as it ends, its
output appended to OUTPUT/gpu_session.log):

1. ``check``: benchmarks/device_check.py (CPU against the device in fp32, bf16 loss against
   fp32, trie scores, beam outputs; the paper's model and one with attention);
2. ``train``: training throughput of ``sutskever2014`` (4 x 1000, 160k/80k vocabularies,
   batches of 128) and the same with dot attention, in the precision training uses there
   (bf16 autocast on a GPU): target words/s against the matmul peak measured in the same run,
   and a profile of one update (where the time goes);
3. ``score``: a model of the paper's shape (random weights: scoring costs what it costs with
   trained ones) scores the whole test2016 1000-best list: entries/s and decoder steps
   against the distinct-prefix floor; beam search (beam 12) on test2016: sentences/s;
4. ``torchrun``: torchrun (one process; nccl on a GPU, gloo on the CPU): the process group
   and an all-reduce, a few training updates, and scoring under torchrun against the same
   scoring without it;
5. ``multi30k``: whatever time is left: Multi30k with the attentive recipe at the paper's
   depth (cpu-attention's settings, 4 x 1000), validation perplexity every half epoch.

    python benchmarks/gpu_session.py --fill device-data          # here: the inputs (34 MB)
    python benchmarks/gpu_session.py --plan --data device-data   # here: the device command
    python benchmarks/gpu_session.py --data device-data --output $OUT   # there (<= 8 min)
    .venv/bin/python benchmarks/gpu_session.py --rehearse --output DIR  # here: tiny, CPU

``--rehearse`` runs the same steps and functions on the CPU at tiny sizes (cpu-tiny shapes, a
few sentences, seconds per step) and writes the same JSON; the system tier runs it. The
device machine does not see ../shared and lacks kenlm and sacremoses (neither is imported
here): ``--fill`` copies what the steps read into an ignored folder that the device call
carries.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.device_check import head, nbest_head  # noqa: E402  - the same slices

# what the steps read, relative to the Multi30k folder (``--fill`` copies exactly these)
INPUTS = ("train.en.gz", "train.fr.gz", "val.en", "val.fr", "test2016.en", "test2016.fr",
          "nbest/test2016.1000best.gz")
JSON_NAME, LOG_NAME = "gpu_session.json", "gpu_session.log"
# (step, its time box in seconds; None: whatever is left)
STEPS: tuple[tuple[str, float | None], ...] = (
    ("check", 130), ("train", 90), ("score", 140), ("torchrun", 60), ("multi30k", None))
REHEARSAL_TRAINING = 75  # seconds the rehearsal's last step plans for (--max-minutes)
DEVICE_LIMIT_MIB = 64  # the device tool's limit on what travels (working tree + carried)


@dataclasses.dataclass(frozen=True)
class Sizes:
    """What a run measures with: the device's sizes or the rehearsal's tiny ones."""

    device: str
    train_pairs: int | None  # None: all
    paper_steps: int  # timed training updates per model
    nbest_sentences: int | None  # None: the whole list
    beam_sentences: int | None
    check_steps: int
    check_sentences: int
    tiny_shapes: bool  # cpu-tiny shapes instead of the paper's (the rehearsal)


GPU = Sizes("cuda", None, 20, None, None, 60, 20, False)
REHEARSAL = Sizes("cpu", 3000, 3, 4, 4, 10, 3, True)


def sizes_of(args: argparse.Namespace) -> Sizes:
    return REHEARSAL if args.rehearse else dataclasses.replace(GPU, device=args.device)


# --- helpers ------------------------------------------------------------------------------

def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run(cmd: list[Any], log: Callable[[str], None]) -> str:
    """Run ``cmd`` (its output logged); an error with its last lines if it fails."""
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                            check=False, env=child_env(), cwd=ROOT)
    log(f"$ {' '.join(map(str, cmd))}\n{result.stdout[-4000:]}{result.stderr[-4000:]}")
    if result.returncode != 0:
        raise RuntimeError(f"{cmd[2] if len(cmd) > 2 else cmd[0]} failed "
                           f"(exit {result.returncode}): {result.stderr[-1500:]}")
    return result.stdout


def synchronize(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def device_name(device: Any) -> str:
    import torch

    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


# --- the steps ----------------------------------------------------------------------------
# each takes (data folder, scratch folder, sizes, log, partial: a dict it fills as it goes)

def step_check(data: Path, tmp: Path, sizes: Sizes, log: Callable[[str], None],
               out: dict[str, Any]) -> None:
    run([sys.executable, ROOT / "benchmarks/device_check.py", "--device", sizes.device,
         "--output", tmp, "--data", data, "--steps", sizes.check_steps, "--sentences",
         sizes.check_sentences], log)
    out.update(json.loads((tmp / "device_check.json").read_text()))


def corpus_args(data: Path, tmp: Path, pairs: int | None) -> list[Any]:
    """Training and validation files (the first ``pairs`` training pairs)."""
    if pairs is None:
        return ["--src-train", data / "train.en.gz", "--tgt-train", data / "train.fr.gz",
                "--src-valid", data / "val.en", "--tgt-valid", data / "val.fr"]
    return ["--src-train", head(data / "train.en.gz", tmp / "train.en", pairs),
            "--tgt-train", head(data / "train.fr.gz", tmp / "train.fr", pairs),
            "--src-valid", head(data / "val.en", tmp / "val.en", 200),
            "--tgt-valid", head(data / "val.fr", tmp / "val.fr", 200)]


def shapes(sizes: Sizes, attention: str = "none") -> tuple[Any, Any]:
    """The paper's model and training configuration (the rehearsal: cpu-tiny's)."""
    from rescore.config import PRESETS

    preset = PRESETS["cpu-tiny" if sizes.tiny_shapes else "sutskever2014"]
    return dataclasses.replace(preset.model, attention=attention), preset.train


def step_train(data: Path, tmp: Path, sizes: Sizes, log: Callable[[str], None],
               out: dict[str, Any]) -> None:
    import torch

    from benchmarks.bench_train import matmul_peak, timed_updates

    device = torch.device(sizes.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    peak = matmul_peak(device, n=1024 if sizes.tiny_shapes else 8192, dtype=dtype)
    out["matmul peak"] = {"TFLOP/s": round(peak / 1e12, 3), "dtype": str(dtype)[6:],
                          "device": device_name(device)}
    files = corpus_args(data, tmp, sizes.train_pairs)
    for name, attention in (("sutskever2014", "none"), ("sutskever2014 + dot attention",
                                                         "dot")):
        model_cfg, train_cfg = shapes(sizes, attention)
        folder = tmp / attention
        folder.mkdir()
        t = timed_updates(model_cfg, train_cfg, folder, device, sizes.paper_steps, files[1],
                          files[3])
        model_cfg = t.model_cfg
        row: dict[str, Any] = {
            "layers x cells": f"{model_cfg.num_layers} x {model_cfg.hidden_dim}",
            "vocabularies": f"{model_cfg.src_vocab_size}/{model_cfg.tgt_vocab_size}",
            "batch": train_cfg.batch_size, "updates timed": sizes.paper_steps,
            "precision": "bf16 autocast" if device.type == "cuda" else "fp32",
            "target words/s": round(t.tokens / t.seconds),
            "GFLOP/s": round(t.flops / t.seconds / 1e9, 1),
            "fraction of matmul peak": round(t.flops / t.seconds / peak, 3),
            "goal": ">= 100,000 target words/s (the paper: 1,700 on one GPU)"}
        if device.type == "cuda":
            row["peak memory GiB"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 1)
        row["profile of one update"] = profile(t.trainer, t.corpus, device)
        out[name] = row
        log(f"{name}: {json.dumps({k: v for k, v in row.items() if 'profile' not in k})}")


def profile(trainer: Any, corpus: Any, device: Any) -> list[str]:
    """The operators that take one update's time, heaviest first (torch.profiler)."""
    import torch
    from torch.profiler import ProfilerActivity

    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    batch = corpus.batch(trainer.batch_indices(1))
    with torch.profiler.profile(activities=activities) as prof:
        trainer.train_step(batch)
        synchronize(device)
    keys = ("self_device_time_total", "self_cuda_time_total") if device.type == "cuda" \
        else ("self_cpu_time_total",)
    for key in keys:  # torch's name for the GPU's column changed between versions
        try:
            table = prof.key_averages().table(sort_by=key, row_limit=15,
                                              max_name_column_width=40)
            return str(table).splitlines()
        except (AttributeError, KeyError, ValueError):
            continue
    return []


def paper_model_dir(data: Path, folder: Path, sizes: Sizes, attention: str) -> Path:
    """A model directory of the paper's shape with random weights: the training text's words
    first, the vocabularies filled up to the paper's 160k/80k (the softmax's real size)."""
    from collections import Counter

    import torch

    from rescore.config import TrainConfig
    from rescore.files import read_lines
    from rescore.model import Seq2Seq
    from rescore.model_dir import data_files, save_config, save_weights
    from rescore.vocab import Vocab

    model_cfg, _ = shapes(sizes, attention)
    folder.mkdir(parents=True)
    files = data_files(folder)
    for lang, size, path in (("en", model_cfg.src_vocab_size, files.src_vocab),
                             ("fr", model_cfg.tgt_vocab_size, files.tgt_vocab)):
        counts = Counter(w for line in read_lines(data / f"train.{lang}.gz")
                         for w in line.split())
        words = Vocab.build(counts, size).words
        fill = (f"<fill-{i}>" for i in itertools.count())
        Vocab(words + list(itertools.islice(fill, size - len(words)))).save(path)
    torch.manual_seed(0)
    save_config(folder, model_cfg, TrainConfig(), {
        "preset": "sutskever2014 shapes, random weights (gpu_session)", "tokenize": "none",
        "languages": {"source": "en", "target": "fr"}})
    save_weights(Seq2Seq(model_cfg), folder)
    return folder


def describe_shape(sizes: Sizes) -> str:
    model_cfg, _ = shapes(sizes)
    return (f"{model_cfg.num_layers} x {model_cfg.hidden_dim} LSTM, vocabularies "
            f"{model_cfg.src_vocab_size}/{model_cfg.tgt_vocab_size}")


def prefix_floor(blocks: list[Any], vocab: Any) -> int:
    """Decoder steps of a perfect prefix-sharing scorer: the distinct prefixes (the empty one
    and each whole hypothesis, whose step scores </s>) of every sentence's id sequences."""
    total = 0
    for block in blocks:
        seen: set[tuple[int, ...]] = set()
        for hyp in dict.fromkeys(block.hypotheses):
            ids = tuple(int(i) for i in vocab.encode(hyp.split()))
            seen.update(ids[:t] for t in range(len(ids) + 1))
        total += len(seen)
    return total


def step_score(data: Path, tmp: Path, sizes: Sizes, log: Callable[[str], None],
               out: dict[str, Any]) -> None:
    import torch

    from rescore.beam import SearchConfig
    from rescore.features.lstm import LSTMFeature
    from rescore.files import read_lines
    from rescore.nbest import read_nbest
    from rescore.translate import Translator, read_sources, translate

    device = torch.device(sizes.device)
    model = paper_model_dir(data, tmp / "paper", sizes, "none")
    sources = read_lines(data / "test2016.en")
    feature = LSTMFeature(model, device=device)
    entries = 0
    blocks: list[Any] = []
    group: list[Any] = []

    def flush() -> None:
        feature.score_blocks(group, [sources[b.sent_id] for b in group])
        group.clear()

    synchronize(device)
    start = time.perf_counter()
    for block in read_nbest(data / "nbest/test2016.1000best.gz"):
        if sizes.nbest_sentences is not None and block.sent_id >= sizes.nbest_sentences:
            break
        blocks.append(block)
        group.append(block)
        entries += len(block)
        if len(group) == feature.group_size:
            flush()
    flush()
    synchronize(device)
    seconds = time.perf_counter() - start
    floor = prefix_floor(blocks, feature.loaded.tgt_vocab)
    out["scoring"] = {
        "model": describe_shape(sizes) + ", random weights, fp32",
        "sentences": len(blocks), "entries": entries, "seconds (reading included)":
        round(seconds, 2), "entries/s": round(entries / seconds),
        "decoder steps": feature.stats.decoder_steps, "distinct-prefix floor": floor,
        "target tokens": feature.stats.tokens, "goal": "the whole list (1M entries) < 30 s"}
    log(f"scoring: {json.dumps(out['scoring'])}")
    translator = Translator.load([model], device=device)
    ids = read_sources(data / "test2016.en", translator, "en")[: sizes.beam_sentences]
    synchronize(device)
    start = time.perf_counter()
    found = translate(translator, ids, SearchConfig(beam=12), batch_size=64, device=device)
    synchronize(device)
    seconds = time.perf_counter() - start
    out["beam search"] = {
        "beam": 12, "sentences": len(ids), "seconds": round(seconds, 2),
        "sentences/s": round(len(ids) / seconds, 2),
        "mean output length": round(sum(len(h[0].tokens) for h in found if h) / len(ids), 1),
        "note": "random weights: outputs run to the length limit more often than trained "
                "ones do, so this is a lower bound"}
    log(f"beam search: {json.dumps(out['beam search'])}")


def step_torchrun(data: Path, tmp: Path, sizes: Sizes, log: Callable[[str], None],
                  out: dict[str, Any]) -> None:
    import numpy as np

    from rescore.nbest import read_nbest

    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone",
              "--nproc_per_node", "1"]
    out["process group"] = json.loads(run([*launch, Path(__file__), "--worker"], log)
                                      .strip().splitlines()[-1])
    files = corpus_args(data, tmp, 3000)
    model = tmp / "ddp"
    run([*launch, "-m", "rescore.cli.train", "--preset", "cpu-tiny", "--attention", "dot",
         *files, "--max-steps", 20, "--no-progress", "--seed", 3, "--device", sizes.device,
         "--output", model], log)
    out["training"] = {"updates": 20, "finished": (model / "model.safetensors").exists()}
    nbest = nbest_head(data / "nbest/test2016.1000best.gz", tmp / "list.nbest", 5)
    source = head(data / "test2016.en", tmp / "test.en", 5)
    scores = {}
    for name, prefix in (("torchrun", launch), ("plain", [sys.executable])):
        path = tmp / f"{name}.nbest"
        run([*prefix, "-m", "rescore.cli.nbest", "--nbest", nbest, "--source", source,
             "--model", model, "--device", sizes.device, "--output-nbest", path], log)
        scores[name] = np.concatenate([b.feature("LSTM0")[:, 0] for b in read_nbest(path)])
    out["scoring"] = {"entries": len(scores["plain"]), "max difference torchrun vs plain":
                      float(np.max(np.abs(scores["torchrun"] - scores["plain"])))}


def worker() -> None:
    """Under torchrun: the process group (nccl with CUDA) and one all-reduce."""
    import torch
    import torch.distributed as dist

    from rescore.distributed import dist_info, pick_device

    if not dist.is_initialized():  # one process: dist_info starts a group only for several
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    info = dist_info()
    device = pick_device("auto")
    value = torch.ones(1, device=device)
    dist.all_reduce(value)
    print(json.dumps({"backend": dist.get_backend(), "world": info.world,
                      "all-reduce of ones": float(value.item()), "device": str(device)}))
    dist.destroy_process_group()


def step_multi30k(data: Path, tmp: Path, sizes: Sizes, log: Callable[[str], None],
                  out: dict[str, Any], seconds: float) -> None:
    """cpu-attention's recipe (dot attention, dropout 0.2, 8 epochs) at the paper's depth and
    width, as long as the box allows (rescore-train --max-minutes), validated every half
    epoch; the partial result is written after the training stops."""
    model = tmp / "deep-attention"
    layers = ["--num-layers", 1, "--hidden-dim", 32, "--embed-dim", 32] if sizes.tiny_shapes \
        else ["--num-layers", 4, "--hidden-dim", 1000, "--embed-dim", 1000]
    budget = max(0.1, (seconds - 45) / 60)  # start-up, data and the last validation
    files = corpus_args(data, tmp, sizes.train_pairs)
    run([sys.executable, "-m", "rescore.cli.train", "--preset", "cpu-attention", *files,
         *layers, "--no-progress", "--seed", 1, "--device", sizes.device,
         "--max-minutes", f"{budget:.2f}", "--output", model], log)
    records = [json.loads(ln) for ln in (model / "log.jsonl").read_text().splitlines()]
    trained = [r for r in records if r.get("type") == "train"]
    out["recipe"] = "cpu-attention (dot attention, dropout 0.2), " + " ".join(map(str, layers))
    out["minutes allowed"] = round(budget, 2)
    out["updates"] = trained[-1]["step"] if trained else 0
    out["validation"] = [{"epoch": r.get("epoch"), "perplexity": r.get("ppl"),
                          "perplexity per word": r.get("ppl_word")}
                         for r in records if r.get("type") == "valid"]


# --- the session --------------------------------------------------------------------------

def write_json(path: Path, report: dict[str, Any]) -> None:
    """Rewrite ``path`` atomically: a reader never sees half a report."""
    from rescore.files import atomic_output

    with atomic_output(path) as out:
        out.write(json.dumps(report, indent=2) + "\n")


def run_step(name: str, args: argparse.Namespace, box: float, log_path: Path,
             result_path: Path, seconds: float) -> dict[str, Any]:
    """One step as a child process killed at ``box`` seconds (``seconds``: what it plans
    for); what it wrote before counts."""
    cmd = [sys.executable, __file__, "--step", name, "--data", args.data, "--result",
           result_path, "--seconds", f"{seconds:.0f}", "--device", args.device]
    if args.rehearse:
        cmd.append("--rehearse")
    result_path.unlink(missing_ok=True)
    start = time.perf_counter()
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"\n=== step {name} (time box {box:.0f} s)\n")
        log.flush()
        # a session of its own: at the time box the step and everything it started go
        proc = subprocess.Popen([str(c) for c in cmd], stdout=log, stderr=subprocess.STDOUT,
                                env=child_env(), cwd=ROOT, start_new_session=True)
        try:
            code = proc.wait(timeout=box)
            status = "ok" if code == 0 else f"failed (exit {code})"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            status = f"stopped at its time box of {box:.0f} s"
    part = json.loads(result_path.read_text()) if result_path.exists() else {}
    error = part.pop("error", None)
    part["status"] = f"failed: {error}" if error else status
    part["seconds"] = round(time.perf_counter() - start, 1)
    return part


def session(args: argparse.Namespace) -> int:
    import torch

    args.output.mkdir(parents=True, exist_ok=True)
    log_path, json_path = args.output / LOG_NAME, args.output / JSON_NAME
    log_path.write_text("")
    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "rehearsal": args.rehearse,
        "device": args.device, "budget s": args.budget, "torch": torch.__version__,
        "python": sys.version.split()[0],
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "steps": {}}
    write_json(json_path, report)
    start = time.perf_counter()
    chosen = args.only.split(",") if args.only else [name for name, _ in STEPS]
    with tempfile.TemporaryDirectory() as scratch:
        for name, box in STEPS:
            if name not in chosen:
                continue
            left = args.budget - (time.perf_counter() - start)
            limit = left if box is None else min(box, left)
            if args.rehearse:
                limit = max(limit, 600)  # a slow CI machine: the boxes are for the device
            if limit < 20:
                report["steps"][name] = {"status": "skipped: no time left"}
                continue
            report["steps"][name] = run_step(name, args, limit, log_path,
                                             Path(scratch) / f"{name}.json",
                                             REHEARSAL_TRAINING if args.rehearse and box is None
                                             else limit)
            report["elapsed s"] = round(time.perf_counter() - start, 1)
            write_json(json_path, report)
            print(f"gpu_session: {name}: {report['steps'][name]['status']} "
                  f"({report['steps'][name]['seconds']} s)", file=sys.stderr)
    failed = [n for n, s in report["steps"].items() if s["status"] != "ok"]
    print(f"gpu_session: {json_path}; {len(report['steps']) - len(failed)} of "
          f"{len(report['steps'])} steps ok" + (f"; not ok: {', '.join(failed)}" if failed
                                                 else ""), file=sys.stderr)
    return 1 if failed else 0


def child(args: argparse.Namespace) -> None:
    """One step, in its own process: its partial result is rewritten as it fills."""
    import torch

    torch.set_num_threads(min(4, os.cpu_count() or 1) if not args.rehearse else 1)
    sizes = sizes_of(args)
    out: dict[str, Any] = {}

    def log(text: str) -> None:
        """Print and keep what is measured so far (a step stopped at its box keeps it)."""
        print(text, flush=True)
        write_json(args.result, out)

    steps: dict[str, Callable[..., None]] = {
        "check": step_check, "train": step_train, "score": step_score,
        "torchrun": step_torchrun}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            if args.step == "multi30k":
                step_multi30k(args.data, Path(tmp), sizes, log, out, args.seconds)
            else:
                steps[args.step](args.data, Path(tmp), sizes, log, out)
        except Exception as err:  # the session reports it and goes on
            out["error"] = f"{type(err).__name__}: {err}"[:2000]
            write_json(args.result, out)
            raise
    write_json(args.result, out)


def fill(target: Path) -> None:
    """Copy the steps' inputs from the shared Multi30k folder into ``target``."""
    from pipelines.engine.paths import multi30k_dir

    source = multi30k_dir()
    for name in INPUTS:
        if not (source / name).exists():
            sys.exit(f"gpu_session: {source / name}: missing (set RESCORE_SHARED_DATA)")
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, target / name)
    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    print(f"gpu_session: {target}: {len(INPUTS)} files, {size / 2**20:.1f} MiB")


def plan(data: Path) -> None:
    """The device call to paste, and the size of what travels with it."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], capture_output=True, cwd=ROOT, check=True)
    tree = sum((ROOT / p).stat().st_size for p in listed.stdout.decode().split("\0")
               if p and (ROOT / p).is_file())
    missing = [n for n in INPUTS if not (data / n).exists()]
    carried = sum(f.stat().st_size for f in data.rglob("*") if f.is_file()) if data.exists() \
        else 0
    total = (tree + carried) / 2**20
    if not data.resolve().is_relative_to(ROOT):
        sys.exit(f"gpu_session: {data}: outside the repository; the device call carries "
                 "folders of the repository only (--fill device-data, then --plan --data "
                 "device-data)")
    rel = str(data.resolve().relative_to(ROOT))
    print(json.dumps({
        "tool": "device run", "carry": [rel], "timeout_s": 560,
        "command": f"PYTHONUNBUFFERED=1 python3 benchmarks/gpu_session.py --data {rel} "
                   "--output $OUT --budget 480"}, indent=2))
    print(f"travels: working tree {tree / 2**20:.1f} MiB + {rel} {carried / 2**20:.1f} MiB = "
          f"{total:.1f} MiB (limit {DEVICE_LIMIT_MIB} MiB)")
    print(f"comes back: $OUT/{JSON_NAME}, $OUT/{LOG_NAME} (2 files; limit 8)")
    if missing:
        sys.exit(f"gpu_session: {data}: missing {', '.join(missing)}: run --fill {rel} first")
    if total >= DEVICE_LIMIT_MIB:
        sys.exit(f"gpu_session: {total:.1f} MiB would travel: over the device tool's limit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, help="where gpu_session.json and .log go")
    parser.add_argument("--data", type=Path, help="the inputs (--fill makes them; default: "
                        "the shared Multi30k folder)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--budget", type=float, default=480,
                        help="seconds for all steps together (the last one takes what is left)")
    parser.add_argument("--only", help="comma-separated steps: " +
                        ", ".join(n for n, _ in STEPS))
    parser.add_argument("--rehearse", action="store_true",
                        help="every step on the CPU at tiny sizes (CI)")
    parser.add_argument("--fill", type=Path, metavar="DIR",
                        help="copy the inputs from the shared data into DIR, then stop")
    parser.add_argument("--plan", action="store_true",
                        help="print the device command and what travels, then stop")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker()
    if args.fill:
        return fill(args.fill)
    if args.data is None:
        from pipelines.engine.paths import multi30k_dir

        args.data = multi30k_dir()
    args.data = args.data.resolve()
    if args.plan:
        return plan(args.data)
    if args.rehearse:
        args.device = "cpu"
    if args.step:
        return child(args)
    if args.output is None:
        parser.error("--output is required")
    missing = [n for n in INPUTS if not (args.data / n).exists()]
    if missing:
        sys.exit(f"gpu_session: {args.data}: missing {', '.join(missing)}")
    sys.exit(session(args))


if __name__ == "__main__":
    main()
