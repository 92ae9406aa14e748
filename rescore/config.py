"""Configuration dataclasses, one per component, with named presets.

Every model directory holds these in ``config.json`` next to its checkpoint and vocabularies
(:mod:`rescore.model_dir` writes and reads it), so a model file is self-describing.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from rescore.errors import RescoreError, unknown_choice

ATTENTION_TYPES = ("none", "dot", "general", "concat")
ARCHITECTURES = ("lstm", "transformer")
POSITION_TYPES = ("sinusoidal", "learned")
OPTIMIZERS = ("sgd", "adam")
LR_SCHEDULES = ("halving", "plateau", "inverse-sqrt")


# (low, high) of every numeric field, inclusive: a config.json handed over by someone else
# cannot make rescore allocate without bound (a 200,000-wide LSTM is 640 GB) or divide by 0
RANGES: dict[str, tuple[float, float]] = {
    "src_vocab_size": (4, 10_000_000), "tgt_vocab_size": (4, 10_000_000),
    "embed_dim": (1, 65_536), "hidden_dim": (1, 65_536), "num_layers": (1, 64),
    "init_range": (0.0, 10.0),
    "batch_size": (1, 1_000_000), "lr": (0.0, 1e300), "epochs": (0.0, 1e6),
    "decay_start_epoch": (0.0, 1e6), "decay_every_epochs": (1e-6, 1e6),
    "decay_factor": (0.0, 1.0), "clip_norm": (0.0, 1e9), "max_len": (1, 1_000_000),
    "seed": (-(2**63), 2**63 - 1), "checkpoint_every": (1, 10**9), "log_every": (1, 10**9),
    "warmup_steps": (0, 10**9), "patience": (0, 10**6),
    "heads": (1, 1024), "ff_dim": (1, 262_144), "max_positions": (1, 1_000_000),
}
# the fields config.json must give (the others default to what older versions meant)
REQUIRED = ("src_vocab_size", "tgt_vocab_size", "embed_dim", "hidden_dim", "num_layers")


def check_fields(config: Any) -> None:
    """Every field of a config dataclass has its declared type (bool is not an int, a string
    is not a bool: ``"false"`` would read as true) and lies in :data:`RANGES`."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
        if kind == "bool":
            ok = type(value) is bool
        elif kind == "int":
            ok = type(value) is int
        elif kind == "float":
            ok = type(value) in (int, float) and math.isfinite(value)
        elif kind == "str":
            ok = type(value) is str
        else:
            ok = True
        if not ok:
            expected = {"bool": "true or false", "int": "an integer",
                        "float": "a finite number", "str": "a string"}[kind]
            raise RescoreError(f"{f.name} must be {expected}, not {value!r}")
        if f.name in RANGES and kind in ("int", "float"):
            low, high = RANGES[f.name]
            if not low <= value <= high:
                raise RescoreError(f"{f.name} must be in [{low:g}, {high:g}], not {value!r}")


def config_from_dict(cls: Any, data: object, what: str) -> Any:
    """A config dataclass from a JSON object: unknown keys, missing required keys, wrong
    types and values out of range are each one error (``what`` names the section)."""
    if not isinstance(data, dict):
        raise RescoreError(f"{what} must be a JSON object, not {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise RescoreError(f"{what} has unknown key(s) {', '.join(unknown)} (this version of "
                           "rescore knows " + ", ".join(sorted(names)) + ")")
    missing = [k for k in REQUIRED if k in names and k not in data]
    if missing:
        raise RescoreError(f"{what} lacks {', '.join(missing)}")
    try:
        return cls(**data)
    except RescoreError as err:
        raise RescoreError(f"{what}: {err}") from None


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
    reverse_target: bool = False  # the decoder reads and writes the target right to left
    init_range: float = 0.08  # uniform init in [-init_range, init_range]
    dropout: float = 0.0  # on embeddings, between LSTM layers and before the generator
    # (training only; the paper uses none: an option for small corpora such as Multi30k)
    attention: str = "none"  # Luong et al. (2015) global attention score: none (the paper's
    # fixed-vector model), dot, general or concat
    input_feeding: bool = False  # Luong's input feeding: the previous attentional vector
    # joins the decoder's next input (attention only)
    tie_embeddings: bool = False  # the output layer's weights are the target embeddings
    # (Press & Wolf 2017; needs embed_dim == hidden_dim)
    residual: bool = False  # residual connections between LSTM layers, from the second layer
    # up (Wu et al. 2016, GNMT): a layer's input is added to its output
    bidirectional: bool = False  # the encoder reads the source both ways (Bahdanau et al.
    # 2015): hidden_dim / 2 cells per direction, outputs and final states concatenated
    arch: str = "lstm"  # lstm: the paper's (and Luong's) model; transformer: Vaswani et al.
    # (2017), pre-norm, num_layers encoder and decoder layers of width hidden_dim (=
    # embed_dim), with the options below (ignored by the LSTM)
    heads: int = 4  # attention heads of every Transformer attention layer
    ff_dim: int = 1024  # the Transformer's feed-forward inner size
    positions: str = "sinusoidal"  # the Transformer's position encoding: sinusoidal or learned
    max_positions: int = 1024  # the longest sequence a learned position table covers
    attention_dropout: float = 0.0  # dropout on the Transformer's attention weights
    activation_dropout: float = 0.0  # dropout after the feed-forward activation
    share_embeddings: bool = False  # one matrix for source and target embeddings (and the
    # output layer with tie_embeddings): needs one vocabulary on both sides (a shared
    # sentencepiece model)

    def __post_init__(self) -> None:
        check_fields(self)
        if not 0.0 <= self.dropout < 1.0:
            raise RescoreError(f"dropout must be in [0, 1), not {self.dropout}")
        if self.attention not in ATTENTION_TYPES:
            raise RescoreError(f"unknown attention type {self.attention!r} (this version of "
                               f"rescore knows {', '.join(ATTENTION_TYPES)})")
        if self.input_feeding and self.attention == "none":
            raise RescoreError("input feeding needs attention (--attention dot|general|concat)")
        if self.bidirectional and self.hidden_dim % 2:
            raise RescoreError(f"a bidirectional encoder needs an even --hidden-dim (half a "
                               f"direction), not {self.hidden_dim}")
        if self.tie_embeddings and self.embed_dim != self.hidden_dim:
            raise RescoreError(f"tied embeddings need --embed-dim equal to --hidden-dim, not "
                               f"{self.embed_dim} and {self.hidden_dim}")
        if self.arch not in ARCHITECTURES:
            raise RescoreError(f"unknown architecture {self.arch!r} (this version of rescore "
                               f"knows {', '.join(ARCHITECTURES)})")
        if self.positions not in POSITION_TYPES:
            raise unknown_choice("position encoding", self.positions, POSITION_TYPES)
        for name in ("attention_dropout", "activation_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise RescoreError(f"{name} must be in [0, 1), not {getattr(self, name)}")
        if self.arch == "transformer":
            if self.embed_dim != self.hidden_dim:
                raise RescoreError(f"a Transformer has one width: --embed-dim equal to "
                                   f"--hidden-dim, not {self.embed_dim} and {self.hidden_dim}")
            if self.hidden_dim % self.heads:
                raise RescoreError(f"--hidden-dim {self.hidden_dim} is not a multiple of "
                                   f"--heads {self.heads}")
            if self.bidirectional or self.residual or self.input_feeding:
                raise RescoreError("--bidirectional, --residual and --input-feeding are LSTM "
                                   "options, not the Transformer's")
        elif self.share_embeddings:
            raise RescoreError("--share-embeddings is a Transformer option (--arch transformer)")
        if self.share_embeddings and self.src_vocab_size != self.tgt_vocab_size:
            raise RescoreError(f"shared embeddings need one vocabulary on both sides (a shared "
                               f"sentencepiece model), not {self.src_vocab_size} and "
                               f"{self.tgt_vocab_size} entries")


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
    optimizer: str = "sgd"  # sgd: the paper's plain SGD; adam: Adam (Kingma & Ba 2015)
    lr_schedule: str = "halving"  # halving: the paper's (x decay_factor every
    # decay_every_epochs from decay_start_epoch); plateau: x decay_factor after a validation
    # that does not improve on the best
    warmup_steps: int = 0  # the learning rate rises linearly from 0 over these updates
    label_smoothing: float = 0.0  # training loss only (Szegedy et al. 2016); validation
    # perplexity is always the plain one
    patience: int = 0  # stop when validation perplexity has not improved for this many
    # validations (0: never stop early)

    def __post_init__(self) -> None:
        check_fields(self)
        if self.optimizer not in OPTIMIZERS:
            raise unknown_choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.lr_schedule not in LR_SCHEDULES:
            raise unknown_choice("learning-rate schedule", self.lr_schedule, LR_SCHEDULES)
        if not 0.0 <= self.label_smoothing < 1.0:
            raise RescoreError(f"label smoothing must be in [0, 1), not {self.label_smoothing}")
        if self.warmup_steps < 0 or self.patience < 0:
            raise RescoreError("--warmup-steps and --patience cannot be negative")


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
        "2 x 256 LSTM, 8k vocabularies: Multi30k on one CPU thread in about 35 minutes "
        "(2,092 s measured)"),
    "cpu-deep": Preset(
        ModelConfig(src_vocab_size=8000, tgt_vocab_size=8000, embed_dim=256, hidden_dim=256,
                    num_layers=4, dropout=0.2),
        TrainConfig(batch_size=64, epochs=16.0, decay_start_epoch=12.0, checkpoint_every=200),
        "4 x 256 LSTM (the paper's depth), 8k vocabularies, dropout 0.2 (our departure from "
        "the paper, for a 29k-pair corpus), 16 epochs: Multi30k on one CPU thread in about "
        "70 minutes (4,248 s measured)"),
    "cpu-attention": Preset(
        ModelConfig(src_vocab_size=8000, tgt_vocab_size=8000, embed_dim=256, hidden_dim=256,
                    num_layers=2, dropout=0.2, attention="dot"),
        TrainConfig(batch_size=64, epochs=8.0, decay_start_epoch=6.0, checkpoint_every=200),
        "cpu-multi30k's 2 x 256 LSTM with global dot attention (Luong et al. 2015) and "
        "dropout 0.2, 8 epochs, halving from epoch 6: Multi30k on one CPU thread in 5,210 s "
        "measured beside five other trainings on 2 cores (val perplexity 3.46)"),
    "cpu-strong": Preset(
        ModelConfig(src_vocab_size=8000, tgt_vocab_size=8000, embed_dim=256, hidden_dim=256,
                    num_layers=2, dropout=0.2, attention="dot"),
        TrainConfig(batch_size=64, epochs=12.0, checkpoint_every=200, optimizer="adam",
                    lr=0.002, warmup_steps=200, lr_schedule="plateau", patience=4),
        "cpu-attention's model trained with Adam (lr 0.002, 200 warm-up updates, halved after "
        "each validation that is not the best, stopped after 4 without gain) for 12 epochs: "
        "val perplexity 3.10 at epoch 8 and 2.87 at 12 (with --bidirectional, seed 1; 2.97 "
        "with --label-smoothing 0.1, seed 2), against 3.46 for cpu-attention's SGD at 8 "
        "epochs; 4,610 s on one thread beside three other trainings on 2 cores; average the "
        "last checkpoints with --keep-checkpoints 4 and rescore-model average"),
    "cpu-transformer": Preset(
        ModelConfig(src_vocab_size=8000, tgt_vocab_size=8000, embed_dim=256, hidden_dim=256,
                    num_layers=3, reverse_source=False, arch="transformer", heads=4,
                    ff_dim=512, dropout=0.2, attention_dropout=0.1, activation_dropout=0.1,
                    tie_embeddings=True),
        TrainConfig(batch_size=64, epochs=12.0, checkpoint_every=200, optimizer="adam",
                    lr=0.001, warmup_steps=1000, lr_schedule="inverse-sqrt",
                    label_smoothing=0.1, patience=6),
        "a 3 x 256 pre-norm Transformer (4 heads, feed-forward 512, dropout 0.2, attention "
        "and activation dropout 0.1, tied output layer) with Adam at lr 0.001 on the inverse "
        "square-root schedule (1,000 warm-up updates) and label smoothing 0.1, 12 epochs: val "
        "perplexity 2.77 (2.75 at epoch 11.5; feed-forward 1024 with dropout 0.3: 2.89), "
        "3,192 s on one thread in bf16 beside another training on 2 cores; chosen on val "
        "over variants in warm-up, learning rate, heads, depth, width and (shared) subwords "
        "(docs/results.md)"),
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
        raise unknown_choice("preset", name, PRESETS) from None


def replace_fields(config: Any, overrides: dict[str, Any]) -> Any:
    """``config`` with the non-None ``overrides`` applied (unknown names are an error)."""
    names = {f.name for f in dataclasses.fields(config)}
    unknown = set(overrides) - names
    if unknown:
        raise RescoreError(f"unknown {type(config).__name__} option(s) {sorted(unknown)}; valid: "
                           f"{sorted(names)}")
    return dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
