"""The model directory: the one owner of its on-disk format.

A directory written by rescore-train holds::

    config.json     model + training configuration and how the data were prepared
    src.vocab       source words, most frequent first (specials first)
    tgt.vocab       target words
    model.safetensors  the trained weights (written at the end of training; its SHA-256 is
                    recorded in config.json)
    checkpoint.pt   the latest checkpoint (weights, optimizer, progress, RNG states), tensors
                    and plain values only
    checkpoints/    weights kept at each validation (``--keep-checkpoints``), for averaging
    log.jsonl       training and validation records, and one ``environment`` record per
                    training process (versions, processor, threads, precision:
                    :mod:`rescore.environment`)
    train-summary.json  updates, seconds and target words/s of the last training call, and
                    the distinct environments the run trained in
    data/           the binarized training and validation data

Every other module asks this one for paths, for loading (:func:`load`) and for the
compatibility check of an ensemble (:func:`check_compatible`). Loading never imports the
trainer, and never runs code from the directory: weights are safetensors, checkpoints are read
by torch's weights-only unpickler (:mod:`rescore.tensor_files`). Directories written
before rescore 0.3 hold a pickled ``model.pt`` of tensors and a config dict: they still load
through the same safe reader, and :func:`convert` rewrites them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rescore import environment
from rescore.checks import parse_json, read_json, regular_file
from rescore.config import ModelConfig, TrainConfig, config_from_dict
from rescore.corpus import DataFiles
from rescore.errors import RescoreError
from rescore.files import atomic_output, note_input
from rescore.models import build_model
from rescore.tensor_files import (
    check_sha256,
    load_plain,
    load_tensors,
    numpy_rng_state,
    save_plain,
    save_tensors,
    sha256_of,
    tensor_header,
)
from rescore.vocab import SPM_SUFFIX, Vocab

log = logging.getLogger(__name__)

CONFIG = "config.json"
SRC_VOCAB = "src.vocab"
TGT_VOCAB = "tgt.vocab"
MODEL = "model.safetensors"
LEGACY_MODEL = "model.pt"  # rescore < 0.3: a torch.save pickle of {"model", "config"}
CHECKPOINT = "checkpoint.pt"
KEPT = "checkpoints"  # weights at each validation, kept for averaging
LOG = "log.jsonl"
SUMMARY = "train-summary.json"
DATA = "data"
SRC_SPM, TGT_SPM = "src" + SPM_SUFFIX, "tgt" + SPM_SUFFIX
# the files a model is made of besides its weights: their SHA-256 is recorded in config.json
# (``files``) when the weights are written, and checked at every load
HASHED = (SRC_VOCAB, TGT_VOCAB, SRC_SPM, TGT_SPM)
# size limits of the files a model directory is read from (a vocabulary of 10M words is
# ~150 MB; a sentencepiece model of 1M pieces ~20 MB)
MAX_BYTES = {CONFIG: 4 << 20, SRC_VOCAB: 512 << 20, TGT_VOCAB: 512 << 20,
             SRC_SPM: 512 << 20, TGT_SPM: 512 << 20, LOG: 1 << 30, SUMMARY: 1 << 20}
MAX_WEIGHTS_BYTES = 1 << 40


def data_files(directory: str | Path) -> DataFiles:
    """Where ``rescore-train`` keeps a run's vocabularies and binarized data."""
    d = Path(directory)
    return DataFiles(d / SRC_VOCAB, d / TGT_VOCAB, d / DATA)


def config_path(directory: str | Path) -> Path:
    return Path(directory) / CONFIG


def save_config(directory: str | Path, model: ModelConfig, train: TrainConfig,
                extra: dict[str, Any]) -> None:
    """Write ``config.json``: the model and training configuration plus ``extra`` (preset,
    tokenization, data statistics)."""
    data = {"model": dataclasses.asdict(model), "train": dataclasses.asdict(train), **extra}
    with atomic_output(config_path(directory)) as out:
        out.write(json.dumps(data, indent=2) + "\n")


def load_config(directory: str | Path) -> tuple[ModelConfig, TrainConfig, dict[str, Any]]:
    """``(model config, training config, the rest of config.json)``."""
    path = config_path(directory)
    folder = Path(directory)
    if not folder.exists():
        raise RescoreError(f"{folder}: no such model directory")
    if not folder.is_dir():
        raise RescoreError(f"{folder}: a file, not a model directory (give the folder that "
                           "rescore-train wrote, with config.json in it)")
    if not path.exists() and not path.is_symlink():
        raise RescoreError(f"{folder}: no config.json in it: not a rescore model directory")
    data = read_json(path, MAX_BYTES[CONFIG], inside=folder)
    if not isinstance(data, dict):
        raise RescoreError(f"{path}: invalid model config: not a JSON object")
    model = config_from_dict(ModelConfig, data.pop("model", None), f"{path}: \"model\"")
    train = config_from_dict(TrainConfig, data.pop("train", None), f"{path}: \"train\"")
    return model, train, data


def atomic_torch_save(obj: Any, path: Path) -> None:
    """A checkpoint of tensors and plain values, written atomically (read back by
    :func:`load_torch_file`, which runs no code)."""
    save_plain(obj, path)


def update_config(directory: str | Path, **entries: Any) -> None:
    """Set top-level entries of ``config.json`` (rewritten atomically)."""
    path = config_path(directory)
    data = read_json(path, MAX_BYTES[CONFIG])
    data.update(entries)
    with atomic_output(path) as out:
        out.write(json.dumps(data, indent=2) + "\n")


def save_state(state: dict[str, torch.Tensor], directory: str | Path,
               provenance: dict[str, Any] | None = None) -> Path:
    """Write ``model.safetensors`` and record its SHA-256 (and ``provenance``: where averaged
    weights came from) in ``config.json``; a legacy ``model.pt`` is removed."""
    directory = Path(directory)
    path = directory / MODEL
    digest = save_tensors(state, path, {"format": "pt", "producer": "rescore"})
    record: dict[str, Any] = {"file": MODEL, "sha256": digest}
    if provenance:
        record["from"] = provenance
    update_config(directory, weights=record, files=file_digests(directory))
    (directory / LEGACY_MODEL).unlink(missing_ok=True)
    return path


def file_digests(directory: str | Path) -> dict[str, str]:
    """The SHA-256 of each file of :data:`HASHED` the directory holds."""
    directory = Path(directory)
    return {name: sha256_of(directory / name) for name in HASHED if (directory / name).exists()}


def verify_files(directory: str | Path, extra: dict[str, Any]) -> None:
    """Every file the model is read from is a regular file inside the directory, within its
    size limit, and (where ``config.json`` records them) of the recorded SHA-256; a recorded
    file that is gone is named. A directory that records no SHA-256 (written before they were
    recorded, or a training not finished) loads with one warning line."""
    folder = Path(directory)
    record = extra.get("files") if isinstance(extra.get("files"), dict) else None
    required = {SRC_VOCAB, TGT_VOCAB, *(record or ())}
    if extra.get("subwords") is not None:
        required |= {SRC_SPM, TGT_SPM}
    unknown = sorted(required - set(HASHED))
    if unknown:
        raise RescoreError(f"{config_path(folder)}: \"files\" names {unknown[0]!r}, not a file "
                           "of a model directory")
    for name in HASHED:
        path = folder / name
        if not (path.exists() or path.is_symlink()):
            if name in required:
                why = "the subword model" if name.endswith(SPM_SUFFIX) else "a vocabulary"
                raise RescoreError(f"{path}: missing ({why} of this model directory; copy the "
                                   "whole directory)")
            continue
        regular_file(path, MAX_BYTES[name], inside=folder)
        if record is not None:
            if name not in record:
                raise RescoreError(f"{path}: not recorded in {config_path(folder)}: a file "
                                   "added to the model directory after training")
            digest = sha256_of(path)
            if digest != record[name]:
                raise RescoreError(f"{path}: SHA-256 {digest[:16]}... differs from the "
                                   f"{str(record[name])[:16]}... recorded in config.json beside "
                                   "it: the file was changed, damaged or comes from another "
                                   "model")
    if record is None or recorded_sha256(folder, extra) is None:
        log.warning("warning: %s records no SHA-256 of its %s: loaded unchecked (`rescore-model "
                    "convert %s` records them)", config_path(folder),
                    "weights" if record is not None else "vocabularies", folder)


def save_weights(model: torch.nn.Module, directory: str | Path) -> None:
    """Write the trained weights (:func:`save_state`)."""
    save_state(model.state_dict(), directory)


def load_torch_file(path: Path) -> dict[str, Any]:
    """A checkpoint or legacy weights file as a dict with a ``model`` entry; a clear error if
    it is missing, damaged, not ours, or holds anything but tensors and plain values."""
    state = load_plain(path)
    if not isinstance(state, dict) or "model" not in state:
        raise RescoreError(f"{path}: not a rescore checkpoint")
    return state


def weights_path(directory: str | Path) -> Path:
    """``model.safetensors`` when training finished (``model.pt`` in a directory written
    before 0.3), else the latest ``checkpoint.pt``."""
    directory = Path(directory)
    for name in (MODEL, LEGACY_MODEL):
        if (directory / name).exists():
            return directory / name
    return directory / CHECKPOINT


def kept_checkpoints(directory: str | Path) -> list[tuple[int, float, str]]:
    """The weights kept at validations (``--keep-checkpoints``) that still exist, as
    ``(update, validation perplexity, path relative to the directory)`` in update order."""
    directory = Path(directory)
    found: dict[str, tuple[int, float, str]] = {}
    for record in read_log(directory):
        name = record.get("checkpoint")
        step, ppl = record.get("step"), record.get("ppl")
        if isinstance(name, str) and isinstance(step, int) and isinstance(ppl, int | float) \
                and (directory / name).exists():
            found[name] = (step, float(ppl), name)
    return sorted(found.values())


def finished(directory: str | Path) -> bool:
    """Training wrote its final weights (in either format)."""
    return weights_path(directory).name != CHECKPOINT


def recorded_sha256(directory: str | Path, extra: dict[str, Any] | None = None) -> str | None:
    """The SHA-256 of the final weights recorded in ``config.json`` (None: none recorded)."""
    extra = load_config(directory)[2] if extra is None else extra
    record = extra.get("weights")
    if isinstance(record, dict) and isinstance(record.get("sha256"), str):
        return str(record["sha256"])
    return None


def read_state(directory: str | Path,
               checked: bool = False) -> tuple[Path, dict[str, torch.Tensor]]:
    """The weights of a model directory (final, legacy or from its checkpoint) and the file
    they came from (``checked``: the caller has checked the SHA-256 already)."""
    path = weights_path(directory)
    if path.name == MODEL:
        return path, load_tensors(path, None if checked else recorded_sha256(directory))
    state = load_torch_file(path)["model"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor)
                                              for v in state.values()):
        raise RescoreError(f"{path}: its 'model' entry is not a dict of tensors")
    return path, state


def load_state_into(model: torch.nn.Module, state: dict[str, torch.Tensor], path: Path,
                    directory: str | Path) -> None:
    """Copy ``state`` into ``model``; tied weights stored once are restored through the
    model. A mismatch names the file and the config it was checked against."""
    result = model.load_state_dict(state, strict=False)
    aliases = tied_names(model)
    missing = [k for k in result.missing_keys if k not in aliases]
    if missing or result.unexpected_keys:
        what = (f"missing {missing[:3]}" if missing
                else f"unexpected {result.unexpected_keys[:3]}")
        raise RescoreError(f"{path}: weights do not match {config_path(directory)}: {what}")


def tied_names(model: torch.nn.Module) -> set[str]:
    """Names of parameters that are another parameter under a second name."""
    seen: dict[int, str] = {}
    tied = set()
    for name, tensor in model.state_dict(keep_vars=True).items():
        if id(tensor) in seen:
            tied.add(name)
        seen.setdefault(id(tensor), name)
    return tied


def expected_tensors(config: ModelConfig) -> tuple[dict[str, tuple[int, ...]], set[str]]:
    """The name and shape of every tensor a model of ``config`` stores (tied aliases once),
    and the aliases' names (a pickled state dict holds them too), from a network built on
    torch's meta device: nothing is allocated, whatever the sizes."""
    with torch.device("meta"):
        network = build_model(config)
    aliases = tied_names(network)
    return ({k: tuple(v.shape) for k, v in network.state_dict().items() if k not in aliases},
            aliases)


def check_weights_file(path: Path, config: ModelConfig) -> None:
    """Before any tensor is read or a network built: a safetensors file's header (bounded,
    its offsets inside the file) names exactly the tensors ``config`` needs, in their shapes
    and a float dtype (:func:`check_shapes`). A config.json whose sizes are not those of the
    weights (or that would need hundreds of GB) is refused here, not by an allocation. A
    checkpoint or legacy pickle is checked the same way once the safe reader has read it
    (:func:`load_network`)."""
    regular_file(path, MAX_WEIGHTS_BYTES, inside=path.parent, what="weights file")
    if path.name == MODEL:
        check_sha256(path, recorded_sha256(path.parent))
    if path.suffix == ".safetensors":
        check_shapes(tensor_header(path), config, path)


def check_shapes(found: dict[str, tuple[str, list[int]]], config: ModelConfig,
                 path: Path) -> None:
    """``found`` (name -> dtype, shape) holds exactly the tensors of a model of ``config``
    (tied aliases allowed or not), each in its shape and a float dtype."""
    expected, aliases = expected_tensors(config)
    found = {k: v for k, v in found.items() if k not in aliases}
    extra = sorted(set(found) - set(expected))
    lacking = sorted(set(expected) - set(found))
    if extra or lacking:
        what = f"lacks {lacking[:3]}" if lacking else f"has tensors {extra[:3]} it should not"
        raise RescoreError(f"{path}: weights do not match its config.json: it {what}")
    for name, shape in expected.items():
        dtype, got = found[name]
        if tuple(got) != shape:
            raise RescoreError(f"{path}: weights do not match its config.json: tensor {name} "
                               f"has shape {list(got)} where the config needs {list(shape)}")
        if dtype not in ("F32", "BF16", "F16", "F64"):
            raise RescoreError(f"{path}: tensor {name} is {dtype}, not a float dtype")


_DTYPE_NAMES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16",
                torch.float64: "F64"}


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def check_finite(state: dict[str, torch.Tensor], path: Path) -> None:
    """Every weight is a finite number: a NaN or inf weight (a diverged training) gives NaN
    scores and a beam search that never finds a finished hypothesis."""
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise RescoreError(f"{path}: tensor {name} holds NaN or infinite values: the model "
                               "is broken (a diverged training?); use an earlier checkpoint")


def load_network(directory: str | Path, config: ModelConfig) -> Any:
    """The trained network of a model directory, on the CPU, in training mode as built;
    its weights checked against the config before they are read (:func:`check_weights_file`)
    and for NaN after."""
    check_weights_file(weights_path(directory), config)
    path, state = read_state(directory, checked=True)
    if path.suffix != ".safetensors":
        check_shapes({k: (_DTYPE_NAMES.get(v.dtype, str(v.dtype)), list(v.shape))
                      for k, v in state.items()}, config, path)
    check_finite(state, path)
    model = build_model(config)
    try:
        load_state_into(model, state, path, directory)
    except RuntimeError as err:
        raise RescoreError(f"{path}: weights do not match {config_path(directory)}: "
                           f"{str(err).splitlines()[0]}") from None
    return model


def convert(directory: str | Path) -> Path:
    """Rewrite a directory written before rescore 0.3: its pickled ``model.pt`` (read with the
    safe reader) becomes ``model.safetensors`` with its SHA-256 in ``config.json``, and a
    checkpoint with numpy's RNG state as a pickled array is rewritten as plain values."""
    directory = Path(directory)
    model_cfg, _, _ = load_config(directory)
    legacy = directory / LEGACY_MODEL
    if legacy.exists():
        _, state = read_state(directory)
        load_network(directory, model_cfg)  # refuse weights that do not fit the config
        save_state(state, directory)
    elif not (directory / MODEL).exists() and not (directory / CHECKPOINT).exists():
        raise RescoreError(f"{directory}: no {LEGACY_MODEL}, {MODEL} or {CHECKPOINT}: nothing "
                           "to convert")
    checkpoint = directory / CHECKPOINT
    if checkpoint.exists():
        state = load_torch_file(checkpoint)
        rng = state.get("rng")
        if isinstance(rng, dict) and isinstance(rng.get("numpy"), tuple):
            rng["numpy"] = numpy_rng_state(rng["numpy"])
            save_plain(state, checkpoint)
    extra = load_config(directory)[2]
    if not isinstance(extra.get("files"), dict):  # record the vocabularies' SHA-256 too
        update_config(directory, files=file_digests(directory))
    if (directory / MODEL).exists() and recorded_sha256(directory) is None:
        update_config(directory, weights={"file": MODEL, "sha256": sha256_of(directory / MODEL)})
    return directory / MODEL


@dataclass
class LoadedModel:
    """A model directory in memory: the network (eval mode, on ``device``), both
    vocabularies and the rest of its configuration."""

    directory: Path
    model: Any  # a rescore.models.DecoderModel (an nn.Module)
    src_vocab: Vocab
    tgt_vocab: Vocab
    train_config: TrainConfig
    extra: dict[str, Any]
    device: torch.device

    @property
    def languages(self) -> tuple[str, str] | None:
        """``(source, target)`` language codes as rescore-train recorded them (None for
        model directories written before they were recorded)."""
        langs = self.extra.get("languages")
        if isinstance(langs, dict) and "source" in langs and "target" in langs:
            return str(langs["source"]), str(langs["target"])
        return None

    @property
    def right_to_left(self) -> bool:
        """The decoder reads and writes the target in reverse."""
        return bool(self.model.config.reverse_target)

    @property
    def tokenize(self) -> str:
        """How the training text was tokenized (``none`` or ``moses``)."""
        return str(self.extra.get("tokenize", "none"))

    def vocab_fingerprints(self) -> tuple[str, str]:
        return self.src_vocab.fingerprint(), self.tgt_vocab.fingerprint()


def load(directory: str | Path, device: torch.device | None = None) -> LoadedModel:
    """Load a model directory for inference (eval mode)."""
    path = Path(directory)
    note_input(path)
    model_cfg, train_cfg, extra = load_config(path)
    verify_files(path, extra)
    vocabs = []
    for name, size in ((SRC_VOCAB, model_cfg.src_vocab_size),
                       (TGT_VOCAB, model_cfg.tgt_vocab_size)):
        vocab = Vocab.load(path / name)
        if len(vocab) != size:
            raise RescoreError(f"{path / name}: {len(vocab):,} entries, but config.json gives "
                               f"the model {size:,} (its {name[:3]}_vocab_size): not this "
                               "model's vocabulary")
        vocabs.append(vocab)
    device = device or torch.device("cpu")
    network = load_network(path, model_cfg).to(device).eval()
    return LoadedModel(path, network, vocabs[0], vocabs[1], train_cfg, extra, device)


def check_compatible(models: list[LoadedModel]) -> None:
    """An ensemble needs equal vocabularies on both sides (the same word ids)."""
    for other in models[1:]:
        if other.vocab_fingerprints() != models[0].vocab_fingerprints():
            raise RescoreError(f"{other.directory}: its vocabularies differ from those of "
                               f"{models[0].directory}; an ensemble needs equal vocabularies")


def parameter_count(config: ModelConfig) -> int:
    """Parameters of a model of this configuration (without building it): two embeddings,
    two deep LSTMs (4 gates, two bias vectors each, as torch's LSTM; input feeding widens the
    decoder's first layer's input by ``hidden``), the attention's matrices (W_c ``2h x h``;
    general adds W_a ``h x h``, concat W_q and W_k ``h x h`` and v ``h``) and the output
    layer (its bias only, with tied embeddings). Other architectures: counted on a network
    built on the meta device (nothing allocated)."""
    if config.arch != "lstm":
        with torch.device("meta"):
            return sum(p.numel() for p in build_model(config).parameters())
    e, h, layers = config.embed_dim, config.hidden_dim, config.num_layers
    lstm = sum(4 * h * ((e if i == 0 else h) + h) + 8 * h for i in range(layers))
    half = h // 2  # a bidirectional encoder: two directions of h / 2 cells, inputs h above
    encoder = (sum(2 * (4 * half * ((e if i == 0 else h) + half) + 8 * half)
                   for i in range(layers)) if config.bidirectional else lstm)
    attention = {"none": 0, "dot": 2 * h * h, "general": 3 * h * h,
                 "concat": 4 * h * h + h}[config.attention]
    feeding = 4 * h * h if config.input_feeding else 0
    output = config.tgt_vocab_size if config.tie_embeddings else (h + 1) * config.tgt_vocab_size
    return (config.src_vocab_size * e + config.tgt_vocab_size * e + encoder + lstm + attention
            + feeding + output)


def describe(directory: str | Path) -> dict[str, Any]:
    """What a report says of a model: its shape, size, direction, training time and last
    validation perplexity (from ``log.jsonl``), without loading the weights."""
    path = Path(directory)
    model, train, extra = load_config(path)
    info: dict[str, Any] = {
        "path": str(path), "preset": extra.get("preset"),
        "shape": (f"{model.num_layers} x {model.hidden_dim} LSTM, {model.embed_dim}-d embeddings"
                  if model.arch == "lstm" else
                  f"{model.num_layers} x {model.hidden_dim} Transformer, {model.heads} heads, "
                  f"feed-forward {model.ff_dim}, {model.positions} positions"),
        "attention": model.attention + (", input feeding" if model.input_feeding else ""),
        "vocabulary": f"{model.src_vocab_size}/{model.tgt_vocab_size}",
        "parameters": parameter_count(model), "reversed source": model.reverse_source,
        "right to left": model.reverse_target, "languages": extra.get("languages"),
        "dropout": model.dropout, "epochs": train.epochs}
    records = read_log(path)
    valid = [r for r in records if r.get("type") == "valid"]
    if valid:
        info["validation perplexity"] = round(float(valid[-1]["ppl"]), 2)
        if "ppl_word" in valid[-1]:
            info["validation perplexity per word"] = round(float(valid[-1]["ppl_word"]), 2)
        info["at epoch"] = round(float(valid[-1]["epoch"]), 2)
    source = (extra.get("weights") or {}).get("from") or {}
    if not records and isinstance(source, dict) and isinstance(source.get("source"), str):
        # averaged weights (rescore-model average): where their checkpoints were trained
        records = _source_log(Path(source["source"]))
    envs = environment.segments(records)
    if envs:  # one line per distinct environment its segments ran in
        info["trained with"] = [environment.describe(e) for e in envs]
    summary = path / SUMMARY
    if summary.exists():
        data = read_json(summary, MAX_BYTES[SUMMARY], inside=path)
        seconds = data.get("seconds") if isinstance(data, dict) else None
        if isinstance(seconds, int | float):
            info["training seconds"] = round(float(seconds))
    return info


def _source_log(directory: Path) -> list[dict[str, Any]]:
    """The log of the run averaged weights came from, when it is still there and readable
    (none otherwise: a description never fails on it)."""
    try:
        return read_log(directory)
    except (RescoreError, OSError):
        return []


def read_log(directory: str | Path) -> list[dict[str, Any]]:
    """The records of ``log.jsonl`` (none when it is absent). A line that is not a JSON
    object (the last one cut short by a killed training) is skipped with a warning; numbers
    in the records the callers use are checked there."""
    directory = Path(directory)
    path = directory / LOG
    if not path.exists():
        return []
    regular_file(path, MAX_BYTES[LOG], inside=directory)
    records = []
    for number, line in enumerate(path.read_bytes().decode("utf-8", "replace").splitlines(), 1):
        try:
            record = parse_json(line, path) if line.strip() else None
        except RescoreError:
            record = None
        if isinstance(record, dict):
            records.append(record)
        elif line.strip():
            log.warning("warning: %s:%d: not a JSON record (cut short by a killed training?); "
                        "skipped", path, number)
    return records


AVERAGE_METHODS = ("last", "best")
COPIED = (CONFIG, SRC_VOCAB, TGT_VOCAB, "src.spm", "tgt.spm")  # the last two with subwords


def average(directory: str | Path, output: str | Path, k: int, method: str = "last",
            extra_files: tuple[str, ...] = ()) -> dict[str, Any]:
    """Average the weights of ``k`` checkpoints kept in ``directory`` (the last ``k`` or the
    ``k`` with the best validation perplexity) into a new model directory ``output`` (its
    config and vocabularies copied, the averaged weights in ``model.safetensors``, and which
    checkpoints went in recorded under ``config.json``'s ``weights.from``)."""
    if method not in AVERAGE_METHODS:
        raise RescoreError(f"unknown averaging method {method!r}; valid: last, best")
    directory, output = Path(directory), Path(output)
    kept = kept_checkpoints(directory)
    if k < 1 or len(kept) < k:
        raise RescoreError(f"{directory}: {len(kept)} kept checkpoint(s), cannot average {k} "
                           "(train with --keep-checkpoints K)")
    chosen = kept[-k:] if method == "last" else sorted(sorted(kept, key=lambda c: c[1])[:k])
    model_cfg, _, _ = load_config(directory)
    total: dict[str, torch.Tensor] = {}
    for _, _, name in chosen:
        check_weights_file(directory / name, model_cfg)
        state = load_tensors(directory / name)
        check_finite(state, directory / name)
        if total and state.keys() != total.keys():
            raise RescoreError(f"{directory / name}: other tensors than {chosen[0][2]}")
        for key, tensor in state.items():
            total[key] = total[key] + tensor.double() if key in total else tensor.double()
    averaged = {key: (t / len(chosen)).to(torch.float32) for key, t in total.items()}
    if output.resolve() == directory.resolve():
        raise RescoreError(f"{output}: give another directory than the one averaged")
    if (output / CONFIG).exists():
        raise RescoreError(f"{output} already holds a model directory: give a new --output")
    output.mkdir(parents=True, exist_ok=True)
    for name in (*COPIED, *extra_files):
        if (directory / name).exists():
            shutil.copyfile(directory / name, output / name)
    provenance = {"method": method, "source": str(directory),
                  "checkpoints": [{"step": s, "validation perplexity": round(p, 4), "file": n}
                                  for s, p, n in chosen]}
    save_state(averaged, output, provenance)
    model_cfg, _, _ = load_config(output)
    load_network(output, model_cfg)  # the averaged weights fit the config
    return provenance
