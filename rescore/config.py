"""Configuration dataclasses, one per component, with named presets.

Every model directory holds ``config.json`` (model + training config) next to its checkpoint
and vocabularies, so a model file is self-describing.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rescore.errors import RescoreError


@dataclass(frozen=True)
class ModelConfig:
    """The LSTM encoder-decoder (Sutskever et al. 2014): separate deep LSTMs for source and
    target; the decoder starts from the encoder's final (h, c) of every layer."""

    src_vocab_size: int = 160_000  # most frequent words kept, specials included
    tgt_vocab_size: int = 80_000
    embed_dim: int = 1000
    hidden_dim: int = 1000
    num_layers: int = 4
    reverse_source: bool = True  # feed the source in reversed order (the paper's trick)
    init_range: float = 0.08  # uniform init in [-init_range, init_range]
    dropout: float = 0.0  # on embeddings, between LSTM layers and before the generator
    # (training only; the paper uses none: an option for small corpora such as Multi30k)

    def __post_init__(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            raise RescoreError(f"dropout must be in [0, 1), not {self.dropout}")


@dataclass(frozen=True)
class TrainConfig:
    """The paper's recipe: plain SGD, lr 0.7, halved every half epoch after epoch 5, 7.5
    epochs, batches of 128 pairs of similar length, gradient norm clipped at 5."""

    batch_size: int = 128
    lr: float = 0.7
    epochs: float = 7.5
    decay_start_epoch: float = 5.0
    decay_every_epochs: float = 0.5
    decay_factor: float = 0.5
    clip_norm: float = 5.0
    max_len: int = 100  # longer pairs (tokens, either side, </s> excluded) are skipped
    seed: int = 1
    checkpoint_every: int = 500  # steps; also at every half epoch and at the end
    log_every: int = 50  # steps


@dataclass(frozen=True)
class Preset:
    model: ModelConfig
    train: TrainConfig
    description: str


PRESETS: dict[str, Preset] = {
    "sutskever2014": Preset(
        ModelConfig(), TrainConfig(),
        "the paper: 4 x 1000 LSTM, 1000-d embeddings, 160k/80k vocabularies (GPU)"),
    "cpu-multi30k": Preset(
        ModelConfig(src_vocab_size=8000, tgt_vocab_size=8000, embed_dim=256, hidden_dim=256,
                    num_layers=2),
        TrainConfig(batch_size=64, epochs=7.5, checkpoint_every=200),
        "2 x 256 LSTM, 8k vocabularies: Multi30k on a 2-core CPU in under 30 minutes"),
    "cpu-tiny": Preset(
        ModelConfig(src_vocab_size=2000, tgt_vocab_size=2000, embed_dim=32, hidden_dim=32,
                    num_layers=1),
        TrainConfig(batch_size=32, epochs=1.0, checkpoint_every=50, log_every=10),
        "1 x 32 LSTM for tests and smoke runs"),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise RescoreError(f"unknown preset {name!r}; valid presets: "
                           f"{', '.join(PRESETS)}") from None


def replace_fields(config: Any, overrides: dict[str, Any]) -> Any:
    """``config`` with the non-None ``overrides`` applied (unknown names are an error)."""
    names = {f.name for f in dataclasses.fields(config)}
    unknown = set(overrides) - names
    if unknown:
        raise RescoreError(f"unknown {type(config).__name__} option(s) {sorted(unknown)}; valid: "
                           f"{sorted(names)}")
    return dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})


def save_config(path: Path, model: ModelConfig, train: TrainConfig, extra: dict[str, Any]) -> None:
    from rescore.files import atomic_output

    data = {"model": dataclasses.asdict(model), "train": dataclasses.asdict(train), **extra}
    with atomic_output(path) as out:
        out.write(json.dumps(data, indent=2) + "\n")


def load_config(path: Path) -> tuple[ModelConfig, TrainConfig, dict[str, Any]]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        model = ModelConfig(**data.pop("model"))
        train = TrainConfig(**data.pop("train"))
    except FileNotFoundError:
        raise RescoreError(f"{path}: no config.json: not a rescore model directory") from None
    except (json.JSONDecodeError, TypeError, KeyError) as err:
        raise RescoreError(f"{path}: invalid model config: {err}") from None
    return model, train, data
