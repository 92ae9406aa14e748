"""Helpers the tests share: running a command as a user would, a tiny model directory, and
the shared data check (skip, or fail when RESCORE_REQUIRE_SHARED_DATA=1 as in CI)."""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pipelines.engine.paths import ENV_VAR
from rescore.config import ModelConfig, TrainConfig
from rescore.model import Seq2Seq
from rescore.model_dir import SRC_VOCAB, TGT_VOCAB, save_config, save_weights
from rescore.vocab import Vocab

# subprocesses run one torch thread each: the tests' models are tiny, and several threads on
# a busy 2-core machine make them 10-100x slower, never faster
THREADS = os.environ.get("RESCORE_TEST_THREADS", "1")
SUBPROCESS_ENV = {**os.environ, "OMP_NUM_THREADS": THREADS, "MKL_NUM_THREADS": THREADS}
# RESCORE_TEST_IN_PROCESS=0: run_cli starts a process per command, as before (slower; to
# compare, or to rule the in-process runner out when a test fails)
IN_PROCESS = os.environ.get("RESCORE_TEST_IN_PROCESS", "1")


def need(path: Path) -> Path:
    """``path``, or skip (fail under RESCORE_REQUIRE_SHARED_DATA=1) when it is absent."""
    if not path.exists():
        msg = (f"shared data not found: {path} (set ${ENV_VAR} to the folder that holds "
               "multi30k-en-fr/ and moses-formats/)")
        if os.environ.get("RESCORE_REQUIRE_SHARED_DATA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def run_cli(command: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run a console command (``rescore-nbest`` ...) in this process: its ``main`` with these
    arguments, stdout and stderr captured, the exit status from ``SystemExit`` (0 when it
    returns). What a user sees is the same as from a process (the commands print through
    sys.stdout/sys.stderr and exit through sys.exit; an exception escaping ``main`` would be
    a traceback there and fails the test here), without a Python and torch start per call.
    Tests of what only a process shows (a closed pipe, signals, the console scripts) use
    :func:`run_process`."""
    if IN_PROCESS != "1":
        return run_process(command, *args)
    module = importlib.import_module("rescore.cli." + command.removeprefix("rescore-"))
    out, err = io.StringIO(), io.StringIO()
    threads = torch.get_num_threads()
    code: int = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                module.main([str(a) for a in args])
            except SystemExit as exit_:
                if isinstance(exit_.code, str):  # sys.exit("message"): printed, status 1
                    print(exit_.code, file=sys.stderr)
                    code = 1
                else:
                    code = int(exit_.code or 0)
    finally:
        torch.set_num_threads(threads)  # --threads N must not leak into the next test
        logging.getLogger("rescore").handlers.clear()  # the captured stderr is gone
    return subprocess.CompletedProcess([command, *map(str, args)], code, out.getvalue(),
                                       err.getvalue())


def run_process(command: str, *args: str | Path,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a console command (``rescore-nbest`` ...) as a user would, in a subprocess."""
    module = "rescore.cli." + command.removeprefix("rescore-")
    return subprocess.run([sys.executable, "-m", module, *map(str, args)],
                          capture_output=True, text=True, check=False,
                          env=env or SUBPROCESS_ENV)


def write_tiny_model(directory: Path, src_vocab: Vocab, tgt_vocab: Vocab, seed: int,
                     size: int = 8, languages: tuple[str, str] | None = None,
                     right_to_left: bool = False, attention: str = "none",
                     **train: int) -> Path:
    """A random-init model directory as rescore-train writes it (config, vocabularies, weights;
    ``languages``: the (source, target) it records; ``attention``: its attention type)."""
    directory.mkdir(parents=True)
    torch.manual_seed(seed)
    cfg = ModelConfig(src_vocab_size=len(src_vocab), tgt_vocab_size=len(tgt_vocab),
                      embed_dim=size, hidden_dim=size, num_layers=1,
                      reverse_target=right_to_left, attention=attention)
    extra = {"languages": {"source": languages[0], "target": languages[1]}} if languages else {}
    save_config(directory, cfg, TrainConfig(**train), extra)
    src_vocab.save(directory / SRC_VOCAB)
    tgt_vocab.save(directory / TGT_VOCAB)
    save_weights(Seq2Seq(cfg), directory)
    return directory


def head_of_list(path: Path, sentences: int) -> list[str]:
    """The lines of an n-best list (plain or .gz) of its first ``sentences`` sentences."""
    import gzip
    import itertools

    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return list(itertools.takewhile(lambda ln: int(ln.split("|||")[0]) < sentences, f))
