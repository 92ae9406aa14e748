"""Shared fixtures. Tests that need ../shared/data skip with a clear reason when it is absent,
and fail instead when RESCORE_REQUIRE_SHARED_DATA=1 (as in CI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rescore.config import ModelConfig, TrainConfig, save_config
from rescore.model import Seq2Seq
from rescore.paths import ENV_VAR, multi30k_dir, shared_data_dir
from rescore.train import save_model
from rescore.vocab import Vocab


def _need(path: Path) -> Path:
    if not path.exists():
        msg = (f"shared data not found: {path} (set ${ENV_VAR} to the folder that holds "
               "multi30k-en-fr/ and moses-formats/)")
        if os.environ.get("RESCORE_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def multi30k() -> Path:
    """../shared/data/multi30k-en-fr: real Moses 1000-best lists, weights and references."""
    return _need(multi30k_dir() / "README.md").parent


@pytest.fixture(scope="session")
def moses_formats() -> Path:
    """../shared/data/moses-formats: real lists in Moses' older colon-labelled format."""
    return _need(shared_data_dir() / "moses-formats" / "README.md").parent


def run_cli(command: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run a console command (``rescore-nbest`` ...) as a user would, in a subprocess."""
    module = "rescore.cli." + command.removeprefix("rescore-")
    return subprocess.run([sys.executable, "-m", module, *map(str, args)],
                          capture_output=True, text=True, check=False)


def write_tiny_model(directory: Path, src_vocab: Vocab, tgt_vocab: Vocab, seed: int,
                     size: int = 8, **train: int) -> Path:
    """A random-init model directory as rescore-train writes it (config, vocabularies, weights)."""
    directory.mkdir(parents=True)
    torch.manual_seed(seed)
    cfg = ModelConfig(src_vocab_size=len(src_vocab), tgt_vocab_size=len(tgt_vocab),
                      embed_dim=size, hidden_dim=size, num_layers=1)
    save_config(directory / "config.json", cfg, TrainConfig(**train), {})
    src_vocab.save(directory / "src.vocab")
    tgt_vocab.save(directory / "tgt.vocab")
    save_model(Seq2Seq(cfg), directory / "model.pt")
    return directory
