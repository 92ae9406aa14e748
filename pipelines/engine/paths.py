"""Where the shared data lives: ``$RESCORE_SHARED_DATA``, else ``../shared/data`` beside
the repository."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "RESCORE_SHARED_DATA"
REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
    """The shared data folder (it may not exist; callers check and say so)."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    return (REPO_ROOT / ".." / "shared" / "data").resolve()


def multi30k_dir() -> Path:
    """Multi30k en->fr with its real Moses n-best lists (see that folder's README)."""
    return shared_data_dir() / "multi30k-en-fr"
