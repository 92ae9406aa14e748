"""Session set-up and shared fixtures (helpers live in tests/helpers.py).

Torch runs one thread in the test process and in every command the tests start: the models
are tiny, and extra threads on a busy 2-core machine only slow them down. Tests that need
../shared/data skip with a clear reason when it is absent, and fail instead when
RESCORE_REQUIRE_SHARED_DATA=1 (as in CI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from pipelines.engine.paths import multi30k_dir, shared_data_dir
from tests.helpers import need

THREADS = os.environ.get("RESCORE_TEST_THREADS", "1")  # for benchmarks/bench_threads.py only
os.environ["OMP_NUM_THREADS"] = THREADS
os.environ["MKL_NUM_THREADS"] = THREADS
torch.set_num_threads(int(THREADS))


@pytest.fixture(scope="session")
def multi30k() -> Path:
    """../shared/data/multi30k-en-fr: real Moses 1000-best lists, weights and references."""
    return need(multi30k_dir() / "README.md").parent


@pytest.fixture(scope="session")
def moses_formats() -> Path:
    """../shared/data/moses-formats: real lists in Moses' older colon-labelled format."""
    return need(shared_data_dir() / "moses-formats" / "README.md").parent


SYSTEM_DIR = Path(__file__).parent / "system"
SHARED_FIXTURES = {"multi30k", "moses_formats"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tiers: everything under tests/system is ``system`` (with the tests marked so
    elsewhere: whole 1000-best lists, SIGKILL, several processes), excluded from the default
    run; a test that uses the shared data is ``shared_data``."""
    for item in items:
        if SYSTEM_DIR in Path(item.path).parents:
            item.add_marker(pytest.mark.system)
        if SHARED_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.shared_data)
