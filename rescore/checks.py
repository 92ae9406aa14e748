"""Checks on what a user hands rescore, made before anything is read into memory or written.

- :func:`read_json` / :func:`parse_json`: JSON of bounded size and nesting depth, with
  integers of bounded length and finite numbers only (``NaN``, ``Infinity`` and ``1e999`` are
  refused): the standard library alone recurses without bound, parses integers of any length
  and reads ``1e999`` as infinity;
- :func:`regular_file`: a file that is a regular file (not a FIFO, a device or a directory),
  of bounded size, and optionally inside a given folder (no symlink out of it);
- :func:`finite` and :func:`finite_float`: a number that is finite (weights, scales);
- :func:`refuse_overwriting_inputs`: no output of a command is one of its inputs (the same
  file, by device and inode, so also through a symlink or another spelling of the path).

Each failure is a :class:`~rescore.errors.RescoreError` naming the file (and line where
there is one): the CLI prints it as one line and exits 2.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from rescore.errors import InputError, RescoreError

MAX_JSON_DEPTH = 64  # nesting of objects and arrays: rescore's own files need 4
MAX_JSON_BYTES = 64 << 20  # config.json, weights, report specs: a few kB in practice
MAX_INT_DIGITS = 30  # an integer in JSON: sizes, steps, seeds


class _Refused(Exception):
    """A value the JSON hooks refuse (caught and located by :func:`parse_json`)."""


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(f"an integer of {len(text.lstrip('-'))} digits (at most "
                       f"{MAX_INT_DIGITS})")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:40]} is too large for a float")
    return value


def _parse_constant(text: str) -> float:
    raise _Refused(f"{text} is not a finite number")


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_depth(text: str) -> int:
    """The deepest nesting of objects and arrays in JSON text (strings ignored), counted
    without recursion."""
    bare = _STRING.sub('""', text)
    codes = np.frombuffer(bare.encode("utf-8"), dtype=np.uint8)
    steps = (np.isin(codes, (ord("["), ord("{"))).astype(np.int64)
             - np.isin(codes, (ord("]"), ord("}"))).astype(np.int64))
    return int(np.cumsum(steps).max(initial=0))


def parse_json(text: str, source: str | Path, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """JSON text from ``source`` (for messages), nested at most ``max_depth`` deep, with
    integers of at most :data:`MAX_INT_DIGITS` digits and finite numbers only."""
    depth = json_depth(text)
    if depth > max_depth:
        raise InputError(source, None, f"JSON nested {depth} deep (at most {max_depth})")
    try:
        return json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                          parse_constant=_parse_constant)
    except json.JSONDecodeError as err:
        raise InputError(source, err.lineno, f"invalid JSON: {err.msg}") from None
    except _Refused as err:
        raise InputError(source, None, f"invalid JSON: {err}") from None
    except RecursionError:  # cannot happen after the depth check; never a traceback
        raise InputError(source, None, "JSON nested too deep") from None


def read_json(path: str | Path, max_bytes: int = MAX_JSON_BYTES,
              max_depth: int = MAX_JSON_DEPTH, inside: Path | None = None) -> Any:
    """A JSON file: a regular file of at most ``max_bytes`` (:func:`regular_file`), strict
    UTF-8, parsed by :func:`parse_json`."""
    from rescore.files import note_input

    note_input(path)
    path = regular_file(path, max_bytes, inside)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(path, None, f"invalid UTF-8 (byte {err.start})") from None
    return parse_json(text, path, max_depth)


def regular_file(path: str | Path, max_bytes: int, inside: Path | None = None,
                 what: str = "file") -> Path:
    """``path`` if it is a regular file of at most ``max_bytes`` bytes (and, with ``inside``,
    one whose real path lies in that folder); else one clear error naming it. Nothing is
    opened: a FIFO or a device (``/dev/zero``) is refused before a read could hang or fill
    memory."""
    path = Path(path)
    if inside is not None:
        try:
            link = path.is_symlink()
            real = path.resolve(strict=False)
            home = inside.resolve(strict=False)
        except (OSError, RuntimeError) as err:  # a symlink loop
            raise RescoreError(f"{path}: cannot resolve it ({err})") from None
        if link and not real.is_relative_to(home):
            raise RescoreError(f"{path}: a symlink to {real}, outside {inside}: every file of "
                               "a model directory must lie inside it")
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise RescoreError(f"{path}: no such {what}") from None
    except OSError as err:
        raise RescoreError(f"{path}: cannot read it: {err.strerror or err}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = ("a directory" if stat.S_ISDIR(info.st_mode) else "a FIFO"
                if stat.S_ISFIFO(info.st_mode) else "a device" if stat.S_ISCHR(info.st_mode)
                or stat.S_ISBLK(info.st_mode) else "not a regular file")
        raise RescoreError(f"{path}: {kind}, not a regular {what}")
    if info.st_size > max_bytes:
        raise RescoreError(f"{path}: {info.st_size:,} bytes; a {what} of this kind is at most "
                           f"{max_bytes:,}")
    return path


def finite(value: float, what: str) -> float:
    """``value`` if finite, else an error naming ``what``."""
    if not math.isfinite(value):
        raise RescoreError(f"{what}: {value} is not a finite number")
    return value


def finite_float(text: str) -> float:
    """argparse type: a finite float (``nan``, ``inf`` and ``1e999`` are refused)."""
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, not {text!r}")
    return value


Named = tuple[str, "str | Path | None"]


def _identity(path: str | Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def refuse_overwriting_inputs(outputs: Iterable[Named], inputs: Iterable[Named]) -> None:
    """One clear error when an output (``(option, path)``; None and ``-`` skipped) is one of
    the inputs: the same file by device and inode (a symlink to it, a hard link, ``./x`` for
    ``x``) or, for an output that does not exist yet, the same resolved path. Called before
    anything is read, so nothing is lost."""
    known: dict[tuple[int, int], tuple[str, str]] = {}
    names: dict[Path, tuple[str, str]] = {}
    for option, path in inputs:
        if path is None or str(path) == "-":
            continue
        ident = _identity(path)
        if ident is not None:
            known.setdefault(ident, (option, str(path)))
        names.setdefault(Path(path).resolve(), (option, str(path)))
    seen: dict[tuple[int, int] | Path, str] = {}
    for option, path in outputs:
        if path is None or str(path) == "-":
            continue
        ident = _identity(path)
        key: tuple[int, int] | Path = ident if ident is not None else Path(path).resolve()
        hit = known.get(ident) if ident is not None else names.get(Path(path).resolve())
        if hit is not None:
            raise RescoreError(f"{path}: {option} is the input {hit[0]} {hit[1]}: refusing to "
                               "overwrite an input; write the output elsewhere")
        if key in seen:
            raise RescoreError(f"{path}: given as both {seen[key]} and {option}")
        seen[key] = option
