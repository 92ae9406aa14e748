"""Training with the paper's recipe: plain SGD, a half-epoch learning-rate schedule, gradient
norm clipping, length-bucketed batches, half-epoch validation, exact resume, and
data-parallel training through torchrun (DistributedDataParallel)."""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from rescore.config import ModelConfig, TrainConfig, get_preset, replace_fields
from rescore.corpus import (
    Batch,
    BinarizedCorpus,
    PreparedData,
    Subwords,
    epoch_batches,
    load_prepared,
    prepare_data,
)
from rescore.distributed import barrier, dist_info
from rescore.environment import environment, segments
from rescore.errors import RescoreError, unknown_choice
from rescore.files import atomic_output
from rescore.model_dir import (
    CHECKPOINT,
    KEPT,
    LOG,
    SUMMARY,
    atomic_torch_save,
    data_files,
    kept_checkpoints,
    load_config,
    load_torch_file,
    read_log,
    save_config,
    save_weights,
    update_config,
)
from rescore.models import build_model, count_parameters, summed_cross_entropy
from rescore.scoring import PRECISIONS, check_precision, validation_perplexity
from rescore.scoring import autocast as _autocast
from rescore.tensor_files import numpy_rng_state, save_tensors, set_numpy_rng_state

logger = logging.getLogger(__name__)

class TrainingDiverged(RescoreError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def lr_at(step: int, steps_per_epoch: int, cfg: TrainConfig, scale: float = 1.0) -> float:
    """Learning rate for update ``step`` (0-based). The halving schedule: ``cfg.lr`` until
    ``decay_start_epoch``, then multiplied by ``decay_factor`` at the start of every
    ``decay_every_epochs`` (with the paper's numbers: 0.7 for epochs [0, 5), 0.35 for
    [5, 5.5), 0.175 for [5.5, 6), ...). The plateau schedule: ``cfg.lr`` times ``scale`` (the
    product of the decays that validations without improvement asked for). Either way, a
    linear warm-up over the first ``warmup_steps`` updates. The inverse square-root schedule
    (the Transformer's): a linear rise to ``cfg.lr`` at ``warmup_steps``, then ``cfg.lr *
    sqrt(warmup_steps / step)``."""
    if cfg.lr_schedule == "inverse-sqrt":  # Vaswani et al. (2017): peak lr at warmup_steps
        warmup = max(cfg.warmup_steps, 1)
        return cfg.lr * min((step + 1) / warmup, math.sqrt(warmup / (step + 1)))
    warm = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
    if cfg.lr_schedule == "plateau":
        return cfg.lr * scale * warm
    epoch = step / steps_per_epoch
    if epoch < cfg.decay_start_epoch:
        return cfg.lr * warm
    decays = math.floor((epoch - cfg.decay_start_epoch) / cfg.decay_every_epochs + 1e-9) + 1
    return cfg.lr * cfg.decay_factor**decays * warm


def per_word(ppl: float, corpus: BinarizedCorpus) -> float:
    """A perplexity per token of ``corpus`` (subword pieces, ``</s>`` included) as one per
    word: the same total log-probability over the words (and ``</s>``) of the reference, so
    that models of different vocabularies compare. Equal to ``ppl`` for word vocabularies."""
    tokens = int(corpus.tgt_lengths.sum()) + len(corpus)
    words = int(corpus.meta["stats"]["tgt_tokens"]) + len(corpus)
    return math.exp(math.log(ppl) * tokens / words)


def make_optimizer(parameters: Any, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The paper's plain SGD, or Adam."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=cfg.lr, fused=True)  # one kernel for all tensors
    return torch.optim.SGD(parameters, lr=cfg.lr, momentum=0.0)


def clip_gradient_norm(parameters: list[nn.Parameter], max_norm: float) -> float:
    """The paper's rule on the gradient g of the loss divided by the batch size (the loss
    is summed over the batch's target tokens and divided by the number of sentences):
    s = ||g||_2, the L2 norm over ALL parameters together; if s > max_norm, g = max_norm g / s.
    Returns s (before clipping)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    norms = torch.stack([torch.linalg.vector_norm(g) for g in grads])
    norm = float(torch.linalg.vector_norm(norms))
    if norm > max_norm:
        for g in grads:
            g.mul_(max_norm / norm)
    return norm


@dataclass
class Progress:
    """Where a run is: update ``step`` (0-based, the next to do) and what it has seen."""

    step: int = 0
    tgt_tokens: int = 0
    seconds: float = 0.0
    best_ppl: float | None = None  # the best validation perplexity so far
    bad_validations: int = 0  # validations since the best (plateau schedule, patience)
    lr_scale: float = 1.0  # the plateau schedule's decays so far
    stopped_early: bool = False  # patience ran out: training is over


class Trainer:
    """Runs the recipe on a binarized corpus: SGD updates on length-bucketed batches (the
    model's forward pass and :func:`summed_cross_entropy`), half-epoch validation
    perplexity, checkpoints and the final weights in the model directory ``out_dir``."""

    def __init__(self, model: nn.Module, train: BinarizedCorpus, valid: BinarizedCorpus | None,
                 cfg: TrainConfig, out_dir: Path, device: torch.device,
                 fingerprint: dict[str, Any], progress_bar: bool = True,
                 precision: str = "auto", keep_checkpoints: int = 0) -> None:
        self.dist = dist_info()
        self.precision = precision
        self.model = model.to(device)
        self.net: nn.Module = self.model
        if self.dist.world > 1:
            self.net = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[device.index] if device.type == "cuda" else None)
        self.train_data, self.valid_data = train, valid
        self.cfg, self.out_dir, self.device = cfg, out_dir, device
        self.fingerprint = fingerprint
        self.optimizer = make_optimizer(self.model.parameters(), cfg)
        self.keep = keep_checkpoints
        self.steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
        self.total_steps = math.ceil(cfg.epochs * self.steps_per_epoch)
        self.progress = Progress()
        self.progress_bar = progress_bar and self.dist.main
        self._epoch_cache: tuple[int, list[np.ndarray]] | None = None

    # -- checkpoints ---------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        if not self.dist.main:
            return
        state = {
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "progress": asdict(self.progress), "fingerprint": self.fingerprint,
            "rng": {"torch": torch.get_rng_state(), "numpy": numpy_rng_state(),
                    "python": random.getstate()},
        }
        atomic_torch_save(state, self.out_dir / CHECKPOINT)

    def load_checkpoint(self) -> None:
        path = self.out_dir / CHECKPOINT
        state = load_torch_file(path)
        if _lengthless(_with_defaults(state.get("fingerprint"))) != \
                _lengthless(self.fingerprint):
            raise RescoreError(f"{path}: checkpoint from a different configuration, vocabulary "
                               f"or data; saved {state.get('fingerprint')}, now "
                               f"{self.fingerprint}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.progress = Progress(**state["progress"])
        torch.set_rng_state(state["rng"]["torch"])
        set_numpy_rng_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])

    # -- the loop --------------------------------------------------------------------------
    def batch_indices(self, step: int) -> np.ndarray:
        epoch, index = divmod(step, self.steps_per_epoch)
        if self._epoch_cache is None or self._epoch_cache[0] != epoch:
            self._epoch_cache = (epoch, epoch_batches(
                self.train_data.src_lengths, self.train_data.tgt_lengths, self.cfg.batch_size,
                self.cfg.seed, epoch))
        return self._epoch_cache[1][index]

    def is_half_epoch_end(self, step: int) -> bool:
        """True after the update that completes a half epoch (or the last update)."""
        done = step + 1
        half = self.steps_per_epoch / 2
        return done == self.total_steps or math.floor(done / half) > math.floor(step / half)

    def train_step(self, batch: Batch) -> tuple[float, float]:
        """One SGD update on ``batch`` (this process's share); returns (loss per sentence of
        the full batch, gradient norm before clipping)."""
        full_size = batch.size
        mine = batch.select(slice(self.dist.rank, None, self.dist.world)).to(self.device)
        self.optimizer.zero_grad(set_to_none=True)
        if mine.size == 0:  # fewer rows than processes: take part with a zero-weight row
            mine, weight = batch.select(slice(0, 1)).to(self.device), 0.0
        else:
            weight = 1.0
        with _autocast(self.device, self.precision):
            local = summed_cross_entropy(self.net(mine), mine.tgt_out,
                                         self.cfg.label_smoothing) * weight
        # DDP averages gradients over processes: scale so the sum is the full batch's
        loss = local * (self.dist.world / full_size)
        loss.backward()
        total = loss.detach() / self.dist.world
        if self.dist.world > 1:
            dist.all_reduce(total)
        value = float(total)
        if not math.isfinite(value):
            raise TrainingDiverged(f"loss became {value} at step {self.progress.step + 1}; "
                                   f"the last good checkpoint is in {self.out_dir / CHECKPOINT}")
        norm = clip_gradient_norm(list(self.model.parameters()), self.cfg.clip_norm)
        self.optimizer.step()
        return value, norm

    def run(self, max_steps: int | None = None, max_seconds: float | None = None) -> Progress:
        """Train until the recipe's end (or ``max_steps`` / ``max_seconds`` for this call)."""
        end = self.total_steps if max_steps is None else min(self.total_steps, max_steps)
        bar = tqdm(total=end, initial=self.progress.step, unit="step", file=sys.stderr,
                   disable=not self.progress_bar, desc="train")
        start = time.perf_counter() - self.progress.seconds
        window_tokens, window_start = 0, time.perf_counter()
        self.model.train()
        while self.progress.step < end and not self.progress.stopped_early:
            step = self.progress.step
            lr = lr_at(step, self.steps_per_epoch, self.cfg, self.progress.lr_scale)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            batch = self.train_data.batch(self.batch_indices(step))
            loss, norm = self.train_step(batch)
            tokens = batch.tgt_tokens
            self.progress = replace(self.progress, step=step + 1,
                                    tgt_tokens=self.progress.tgt_tokens + tokens,
                                    seconds=time.perf_counter() - start)
            window_tokens += tokens
            bar.update(1)
            if (step + 1) % self.cfg.log_every == 0 or step + 1 == end:
                rate = window_tokens / max(1e-9, time.perf_counter() - window_start)
                bar.set_postfix(loss=f"{loss:.2f}", lr=f"{lr:.3g}", tgt_wps=f"{rate:,.0f}")
                self.log({"type": "train", "step": step + 1,
                          "epoch": (step + 1) / self.steps_per_epoch, "lr": lr,
                          "loss_per_sentence": loss, "loss_per_token": loss * batch.size / tokens,
                          "grad_norm": norm, "tgt_words_per_s": rate,
                          "elapsed_s": self.progress.seconds})
                window_tokens, window_start = 0, time.perf_counter()
            half = self.is_half_epoch_end(step)
            if half and self.valid_data is not None:
                self.validate(step, bar)
            if half or (step + 1) % self.cfg.checkpoint_every == 0 or step + 1 == end:
                self.save_checkpoint()
            if max_seconds is not None and self.progress.seconds >= max_seconds:
                self.save_checkpoint()
                break
        bar.close()
        if self.dist.main:
            save_weights(self.model, self.out_dir)
        return self.progress

    def validate(self, step: int, bar: Any) -> None:
        """Validation perplexity after update ``step``; the plateau schedule, patience and
        the kept checkpoints follow from it (every process takes the same decision)."""
        ppl = 0.0
        if self.dist.main:
            assert self.valid_data is not None
            ppl = validation_perplexity(self.model, self.valid_data, self.device,
                                        precision=self.precision)
        if self.dist.world > 1:
            value = torch.tensor([ppl], device=self.device)
            dist.broadcast(value, 0)
            ppl = float(value)
        p = self.progress
        improved = p.best_ppl is None or ppl < p.best_ppl
        bad = 0 if improved else p.bad_validations + 1
        scale = p.lr_scale
        if not improved and self.cfg.lr_schedule == "plateau":
            scale *= self.cfg.decay_factor
        stop = bool(self.cfg.patience) and bad >= self.cfg.patience
        self.progress = replace(p, best_ppl=ppl if improved else p.best_ppl,
                                bad_validations=bad, lr_scale=scale, stopped_early=stop)
        record: dict[str, Any] = {"type": "valid", "step": step + 1,
                                  "epoch": (step + 1) / self.steps_per_epoch, "ppl": ppl,
                                  "elapsed_s": self.progress.seconds}
        if self.valid_data is not None:
            record["ppl_word"] = per_word(ppl, self.valid_data)
        if self.keep and self.dist.main:
            record["checkpoint"] = self.keep_weights(step + 1, ppl)
        self.log(record)
        if self.dist.main:
            bar.write(f"epoch {(step + 1) / self.steps_per_epoch:.2f}: validation "
                      f"perplexity {ppl:.2f}" + (f" (no better for {bad}: stopping)"
                                                 if stop else ""))

    def keep_weights(self, step: int, ppl: float) -> str:
        """Save the weights as ``checkpoints/step-N.safetensors``; keep the last and the best
        ``self.keep`` of them (by validation perplexity), delete the rest."""
        folder = self.out_dir / KEPT
        folder.mkdir(exist_ok=True)
        name = f"{KEPT}/step-{step:07d}.safetensors"
        save_tensors(self.model.state_dict(), self.out_dir / name)
        kept = [*kept_checkpoints(self.out_dir), (step, ppl, name)]
        last = {n for _, _, n in kept[-self.keep:]}
        best = {n for _, _, n in sorted(kept, key=lambda k: k[1])[:self.keep]}
        for _, _, other in kept:
            if other not in last | best:
                (self.out_dir / other).unlink(missing_ok=True)
        return name

    def log(self, record: dict[str, Any]) -> None:
        if self.dist.main:
            with open(self.out_dir / LOG, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")


# -- a whole run: prepare the model directory (or resume it), train, summarise -------------


@dataclass
class TrainRequest:
    """What ``rescore-train`` asks for. ``model_overrides`` / ``train_overrides``: non-None
    values replace the preset's (unknown names are an error)."""

    output: Path
    resume: bool = False
    preset: str | None = None  # None: DEFAULT_PRESET for a new run, the recorded one to resume
    src_train: Path | None = None
    tgt_train: Path | None = None
    src_valid: Path | None = None
    tgt_valid: Path | None = None
    tokenize: str = "none"
    src_lang: str = "en"
    tgt_lang: str = "fr"
    reverse_source: bool = True
    target_right_to_left: bool = False
    model_overrides: dict[str, Any] = field(default_factory=dict)
    train_overrides: dict[str, Any] = field(default_factory=dict)
    max_steps: int | None = None
    max_seconds: float | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    precision: str = "auto"  # not part of the run's identity: a resume may change it (auto:
    # as recorded)
    progress_bar: bool = False
    keep_checkpoints: int | None = None  # None: as recorded (0 for a new run)
    subwords: str | None = None  # bpe, unigram: sentencepiece vocabularies (None: words)
    src_spm: Path | None = None  # reuse these sentencepiece models instead of training them
    tgt_spm: Path | None = None


@dataclass
class TrainResult:
    """Where a run ended: ``progress.step`` of ``total_steps`` updates."""

    output: Path
    progress: Progress
    total_steps: int
    parameters: int

    @property
    def finished(self) -> bool:
        return self.progress.step >= self.total_steps or self.progress.stopped_early

    @property
    def words_per_second(self) -> float:
        return self.progress.tgt_tokens / max(self.progress.seconds, 1e-9)


DEFAULT_PRESET = "cpu-multi30k"
# options that are upper bounds, not settings (a word vocabulary may come out smaller)
_BOUNDS = ("src_vocab_size", "tgt_vocab_size")


def _resumed_config(request: TrainRequest, model_cfg: ModelConfig, train_cfg: TrainConfig,
                    extra: dict[str, Any]) -> TrainConfig:
    """The recorded run's training configuration for ``--resume``: options that would change
    the run are refused (the same values as recorded are accepted), except ``epochs``, which
    may lengthen (or shorten) what is left of it."""
    changed = [f"--{name.replace('_', '-')} {value} (recorded: {getattr(cfg, name)})"
               for cfg, overrides in ((model_cfg, request.model_overrides),
                                      (train_cfg, request.train_overrides))
               for name, value in overrides.items()
               if value is not None and name not in (*_BOUNDS, "epochs")
               and value != getattr(cfg, name)]
    if request.preset is not None and request.preset != extra.get("preset"):
        changed.append(f"--preset {request.preset} (recorded: {extra.get('preset')})")
    if changed:
        raise RescoreError(f"{request.output}: --resume continues the recorded run, and these "
                           f"options differ from it: {'; '.join(changed)} (only --epochs may "
                           "change; start a new run with another --output)")
    epochs = request.train_overrides.get("epochs")
    return train_cfg if epochs is None else replace(train_cfg, epochs=float(epochs))


def _new_run_config(request: TrainRequest) -> tuple[ModelConfig, TrainConfig]:
    missing = [n for n in ("src_train", "tgt_train") if getattr(request, n) is None]
    if missing:
        raise RescoreError("give --" + " and --".join(m.replace("_", "-") for m in missing))
    preset = get_preset(request.preset or DEFAULT_PRESET)
    model_cfg = replace_fields(preset.model, request.model_overrides)
    if not request.reverse_source:
        model_cfg = replace(model_cfg, reverse_source=False)
    if request.target_right_to_left:
        model_cfg = replace(model_cfg, reverse_target=True)
    return model_cfg, replace_fields(preset.train, request.train_overrides)


def prepare_run(request: TrainRequest) -> tuple[ModelConfig, TrainConfig, PreparedData]:
    """The configuration and data of a run: read back from the model directory to resume,
    else built (vocabularies, binarized data, config.json; by the main process only)."""
    out = request.output
    if request.resume:
        model_cfg, recorded, extra = load_config(out)
        train_cfg = _resumed_config(request, model_cfg, recorded, extra)
        data = load_prepared(data_files(out))
        if train_cfg != recorded:  # --epochs: not below the updates done
            done = checkpoint_step(out) or 0
            per_epoch = math.ceil(len(data.train) / train_cfg.batch_size)
            if math.ceil(train_cfg.epochs * per_epoch) < done:
                raise RescoreError(f"{out}: --epochs {train_cfg.epochs:g} is fewer updates "
                                   f"than the run has done ({done}, epoch "
                                   f"{done / per_epoch:.2f})")
            if dist_info().main:
                update_config(out, train=asdict(train_cfg))
            barrier()
        return model_cfg, train_cfg, data
    if (out / CHECKPOINT).exists():
        raise RescoreError(f"{out} already holds a training run: use --resume to continue "
                           "it, or another --output")
    model_cfg, train_cfg = _new_run_config(request)
    info = dist_info()
    if info.main:
        assert request.src_train is not None and request.tgt_train is not None  # checked above
        created = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        try:
            data = prepare_data(data_files(out), request.src_train, request.tgt_train,
                                request.src_valid, request.tgt_valid, model_cfg.src_vocab_size,
                                model_cfg.tgt_vocab_size, request.tokenize, request.src_lang,
                                request.tgt_lang, train_cfg.max_len, model_cfg.reverse_target,
                                subwords_of(request, model_cfg.share_embeddings),
                                model_cfg.share_embeddings)
        except BaseException:
            if created:  # a failed start leaves no empty model directory behind
                shutil.rmtree(out, ignore_errors=True)
            raise
        model_cfg = replace(model_cfg, src_vocab_size=len(data.src_vocab),
                            tgt_vocab_size=len(data.tgt_vocab))
        extra = {"preset": request.preset or DEFAULT_PRESET, "tokenize": request.tokenize,
                 "subwords": (None if request.subwords is None and request.src_spm is None
                              else {"type": request.subwords or "given",
                                    "source": len(data.src_vocab),
                                    "target": len(data.tgt_vocab)}),
                 "keep_checkpoints": request.keep_checkpoints or 0,
                 "precision": request.precision,
                 "languages": {"source": request.src_lang, "target": request.tgt_lang},
                 "data": {k: asdict(v) for k, v in data.stats.items()}}
        save_config(out, model_cfg, train_cfg, extra)
        for name, st in data.stats.items():
            logger.info("%s: kept %d of %d pairs (skipped %d with an empty side, %d longer than "
                        "%d tokens)", name, st.kept, st.pairs, st.skipped_empty, st.skipped_long,
                        train_cfg.max_len)
    barrier()
    model_cfg, train_cfg, _ = load_config(out)
    return model_cfg, train_cfg, load_prepared(data_files(out))


def subwords_of(request: TrainRequest, shared: bool = False) -> Subwords | None:
    """The subword set-up a request asks for (None: word vocabularies); ``shared`` (one
    vocabulary on both sides): one given model serves both."""
    given = (request.src_spm, request.tgt_spm)
    if request.subwords is None and given == (None, None):
        return None
    if (given[0] is None) != (given[1] is None) and request.subwords is None and not shared:
        raise RescoreError("give both --src-spm and --tgt-spm, or --subwords to train the "
                           "missing one")
    return Subwords(request.subwords or "bpe", *given)


def _with_defaults(fingerprint: Any) -> Any:
    """A saved fingerprint with the options added since it was written (attention, input
    feeding, the recipe options) at their defaults, so that older runs resume."""
    try:
        return {**fingerprint, "model": asdict(ModelConfig(**fingerprint["model"])),
                "train": asdict(TrainConfig(**fingerprint["train"]))}
    except (TypeError, KeyError, RescoreError):
        return fingerprint


def _lengthless(fingerprint: Any) -> Any:
    """A fingerprint without the run's length (``--resume --epochs`` may change it)."""
    if not isinstance(fingerprint, dict) or not isinstance(fingerprint.get("train"), dict):
        return fingerprint
    return {**fingerprint, "train": {k: v for k, v in fingerprint["train"].items()
                                     if k != "epochs"}}


def run_fingerprint(model_cfg: ModelConfig, train_cfg: TrainConfig,
                    data: PreparedData) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: configuration, vocabularies, data size."""
    return {"model": asdict(model_cfg), "train": asdict(train_cfg),
            "src_vocab": data.src_vocab.fingerprint(), "tgt_vocab": data.tgt_vocab.fingerprint(),
            "train_pairs": len(data.train)}


def train_model(request: TrainRequest) -> TrainResult:
    """Prepare (or resume) the run in ``request.output`` and train until the recipe's end or a
    ``max_steps`` / ``max_seconds`` limit; the weights are written in either case."""
    if request.precision not in PRECISIONS:
        raise unknown_choice("precision", request.precision, PRECISIONS)
    precision = request.precision
    if request.resume and precision == "auto":  # a bf16 run goes on in bf16
        try:
            recorded = load_config(request.output)[2].get("precision", "auto")
        except RescoreError:  # no run to resume: prepare_run says so
            recorded = "auto"
        precision = recorded if recorded in PRECISIONS else "auto"
    check_precision(request.device, precision)
    model_cfg, train_cfg, data = prepare_run(request)
    if request.resume and precision != request.precision:
        logger.info("precision %s, as recorded (--precision to change it)", precision)
    elif request.resume:  # a resume may change it; later resumes keep the new value
        update_config(request.output, precision=precision)
    keep = request.keep_checkpoints
    if keep is None:
        keep = int(load_config(request.output)[2].get("keep_checkpoints", 0))
    elif request.resume:  # a resume may change it; later resumes keep the new value
        update_config(request.output, keep_checkpoints=keep)
    torch.manual_seed(train_cfg.seed)
    model = build_model(model_cfg)
    trainer = Trainer(model, data.train, data.valid, train_cfg, request.output, request.device,
                      run_fingerprint(model_cfg, train_cfg, data), request.progress_bar,
                      precision, keep)
    if request.resume:
        trainer.load_checkpoint()
    # where this segment runs: what decides the exact numbers (one record per run or resume)
    trainer.log({"type": "environment", "step": trainer.progress.step,
                 **environment(request.device, precision, trainer.dist.world)})
    if trainer.dist.main:
        logger.info("%s parameters, %d pairs, %d updates an epoch, %d in all, from update %d",
                    f"{count_parameters(model):,}", len(data.train), trainer.steps_per_epoch,
                    trainer.total_steps, trainer.progress.step)
    progress = trainer.run(request.max_steps, request.max_seconds)
    result = TrainResult(request.output, progress, trainer.total_steps, count_parameters(model))
    if trainer.dist.main:
        summary = {"steps": progress.step, "tgt_tokens": progress.tgt_tokens,
                   "seconds": progress.seconds, "tgt_words_per_s": result.words_per_second,
                   "environments": segments(read_log(request.output))}
        with atomic_output(request.output / SUMMARY) as out:
            out.write(json.dumps(summary, indent=2) + "\n")
    return result


def checkpoint_step(directory: Path) -> int | None:
    """The update a ``--resume`` of ``directory`` continues from (None: no checkpoint)."""
    path = directory / CHECKPOINT
    if not path.exists():
        return None
    try:
        return int(load_torch_file(path)["progress"]["step"])
    except (RescoreError, KeyError, TypeError, ValueError):
        return None
