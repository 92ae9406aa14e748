"""The options every pipeline script shares, defined once: where it works, its threads, the
dry run, trained models instead of training, and the overrides of a mode's sizes."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def parser(doc: str | None) -> argparse.ArgumentParser:
    """A pipeline's parser, described by the first paragraph of its docstring."""
    return argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])


def add_common(p: argparse.ArgumentParser, workdir: str, *, threads: bool = True,
               dry_run_help: str = "list the stages and commands; run nothing") -> None:
    """``--workdir`` (default: ``workdir``, which may name the mode), ``--threads``,
    ``--dry-run``, ``--jobs``."""
    p.add_argument("--workdir", type=Path, help=f"default {workdir}")
    if threads:
        p.add_argument("--threads", type=int, default=1,
                       help="CPU threads for every stage (not part of the stages' identity; "
                       "1 never collapses when other work shares the machine)")
    p.add_argument("--dry-run", action="store_true", help=dry_run_help)
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="run up to N independent stages side by side, each as its own "
                   "process (each with --threads threads: N x threads should not exceed the "
                   "cores; default 1, every stage in this process, one after the other)")


def add_models(p: argparse.ArgumentParser, names: str) -> None:
    """``--models DIR``: trained models ``DIR/{names}`` instead of training them."""
    p.add_argument("--models", type=Path,
                   help=f"use trained models DIR/{{{names}}} instead of training them")


def add_data(p: argparse.ArgumentParser) -> None:
    """``--data DIR --src-lang L --tgt-lang L --test NAME``: another Moses system's data
    folder (pipelines/engine/layout.py), every file checked before anything runs."""
    p.add_argument("--data", type=Path, metavar="DIR",
                   help="another Moses system's data folder, laid out as "
                   "../shared/data/multi30k-en-fr (train, val, TEST, nbest/, baseline/, "
                   "moses.ini.tuned, lm/; pipelines/engine/layout.py); every file is "
                   "checked before anything trains (default: the shared Multi30k en-fr)")
    p.add_argument("--src-lang", default="en", help="the folder's source language code")
    p.add_argument("--tgt-lang", default="fr", help="the folder's target language code")
    p.add_argument("--test", metavar="NAME", help="the test set (default: the folder's "
                   "only nbest/NAME.1000best.gz besides val; test2016 among several)")


def add_overrides(p: argparse.ArgumentParser) -> None:
    """The sizes of a mode (``--quick`` or full) that a run may override."""
    p.add_argument("--train-pairs", type=int, help="override the mode's training pairs")
    p.add_argument("--sentences", type=int, help="override the mode's val/test sentences")
    p.add_argument("--epochs", type=float, help="override the mode's epochs")


def with_overrides(mode: T, args: argparse.Namespace) -> T:
    """``mode`` (a dataclass) with the sizes given on the command line."""
    given: dict[str, Any] = {k: getattr(args, k) for k in ("train_pairs", "sentences",
                                                           "epochs")
                             if getattr(args, k, None) is not None}
    return dataclasses.replace(mode, **given)  # type: ignore[type-var]


def workdir(args: argparse.Namespace, default: str) -> Path:
    """``--workdir``, else ``work/DEFAULT`` in the checkout; absolute."""
    return (args.workdir or ROOT / "work" / default).resolve()


def use_threads(args: argparse.Namespace) -> None:
    """``--threads`` for the stages: those run as processes (OMP_NUM_THREADS) and those run
    in this one (torch)."""
    threads = getattr(args, "threads", None)
    if threads is None:
        return
    import torch

    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


def models_dir(args: argparse.Namespace) -> Path | None:
    return args.models.resolve() if getattr(args, "models", None) else None
