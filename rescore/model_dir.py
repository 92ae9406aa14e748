"""The model directory: the one owner of its on-disk format.

A directory written by rescore-train holds::

    config.json     model + training configuration and how the data were prepared
    src.vocab       source words, most frequent first (specials first)
    tgt.vocab       target words
    model.pt        the trained weights (written at the end of training)
    checkpoint.pt   the latest checkpoint (weights, optimizer, progress, RNG states)
    log.jsonl       training and validation records
    train-summary.json  updates, seconds and target words/s of the last training call
    data/           the binarized training and validation data

Every other module asks this one for paths, for loading (:func:`load`) and for the
compatibility check of an ensemble (:func:`check_compatible`). Loading never imports the
trainer.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rescore.config import ModelConfig, TrainConfig
from rescore.corpus import DataFiles
from rescore.errors import RescoreError
from rescore.files import atomic_output
from rescore.model import Seq2Seq
from rescore.vocab import Vocab

CONFIG = "config.json"
SRC_VOCAB = "src.vocab"
TGT_VOCAB = "tgt.vocab"
MODEL = "model.pt"
CHECKPOINT = "checkpoint.pt"
LOG = "log.jsonl"
SUMMARY = "train-summary.json"
DATA = "data"


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
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        model = ModelConfig(**data.pop("model"))
        train = TrainConfig(**data.pop("train"))
    except FileNotFoundError:
        raise RescoreError(f"{path}: no config.json: not a rescore model directory") from None
    except (json.JSONDecodeError, TypeError, KeyError) as err:
        raise RescoreError(f"{path}: invalid model config: {err}") from None
    except RescoreError as err:  # a value this version does not know (an attention type)
        raise RescoreError(f"{path}: {err}") from None
    return model, train, data


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_weights(model: Seq2Seq, directory: str | Path) -> None:
    """Write ``model.pt``: the weights and, for reference, the model config (config.json
    beside it is what loading reads)."""
    atomic_torch_save({"model": model.state_dict(), "config": dataclasses.asdict(model.config)},
                      Path(directory) / MODEL)


def load_torch_file(path: Path) -> dict[str, Any]:
    """A checkpoint or weights file as a dict with a ``model`` entry; a clear error if it is
    missing, damaged or not ours."""
    if not path.exists():
        raise RescoreError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises many kinds for a damaged file
        raise RescoreError(f"{path}: corrupt or unreadable checkpoint ({type(err).__name__}: "
                           f"{str(err).splitlines()[0] if str(err) else ''})") from None
    if not isinstance(state, dict) or "model" not in state:
        raise RescoreError(f"{path}: not a rescore checkpoint")
    return state


def weights_path(directory: str | Path) -> Path:
    """``model.pt`` when training finished, else the latest ``checkpoint.pt``."""
    directory = Path(directory)
    return directory / MODEL if (directory / MODEL).exists() else directory / CHECKPOINT


def load_network(directory: str | Path, config: ModelConfig) -> Seq2Seq:
    """The trained network of a model directory, on the CPU, in training mode as built."""
    path = weights_path(directory)
    state = load_torch_file(path)
    model = Seq2Seq(config)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise RescoreError(f"{path}: weights do not match {config_path(directory)}: "
                           f"{str(err).splitlines()[0]}") from None
    return model


@dataclass
class LoadedModel:
    """A model directory in memory: the network (eval mode, on ``device``), both
    vocabularies and the rest of its configuration."""

    directory: Path
    model: Seq2Seq
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
    model_cfg, train_cfg, extra = load_config(path)
    device = device or torch.device("cpu")
    network = load_network(path, model_cfg).to(device).eval()
    return LoadedModel(path, network, Vocab.load(path / SRC_VOCAB), Vocab.load(path / TGT_VOCAB),
                       train_cfg, extra, device)


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
    layer."""
    e, h, layers = config.embed_dim, config.hidden_dim, config.num_layers
    lstm = sum(4 * h * ((e if i == 0 else h) + h) + 8 * h for i in range(layers))
    attention = {"none": 0, "dot": 2 * h * h, "general": 3 * h * h,
                 "concat": 4 * h * h + h}[config.attention]
    feeding = 4 * h * h if config.input_feeding else 0
    return (config.src_vocab_size * e + config.tgt_vocab_size * e + 2 * lstm + attention
            + feeding + h * config.tgt_vocab_size + config.tgt_vocab_size)


def describe(directory: str | Path) -> dict[str, Any]:
    """What a report says of a model: its shape, size, direction, training time and last
    validation perplexity (from ``log.jsonl``), without loading the weights."""
    path = Path(directory)
    model, train, extra = load_config(path)
    info: dict[str, Any] = {
        "path": str(path), "preset": extra.get("preset"),
        "shape": f"{model.num_layers} x {model.hidden_dim} LSTM, {model.embed_dim}-d embeddings",
        "attention": model.attention + (", input feeding" if model.input_feeding else ""),
        "vocabulary": f"{model.src_vocab_size}/{model.tgt_vocab_size}",
        "parameters": parameter_count(model), "reversed source": model.reverse_source,
        "right to left": model.reverse_target, "languages": extra.get("languages"),
        "dropout": model.dropout, "epochs": train.epochs}
    log = path / LOG
    if log.exists():
        valid = [r for r in map(json.loads, log.read_text(encoding="utf-8").splitlines())
                 if r.get("type") == "valid"]
        if valid:
            info["validation perplexity"] = round(float(valid[-1]["ppl"]), 2)
            info["at epoch"] = round(float(valid[-1]["epoch"]), 2)
    summary = path / SUMMARY
    if summary.exists():
        info["training seconds"] = round(float(json.loads(summary.read_text())["seconds"]))
    return info
