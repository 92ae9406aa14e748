"""Project exceptions. Library code raises these; only the CLI turns them into exit codes."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class RescoreError(Exception):
    """Any error the user can fix (bad input, bad option); the CLI prints it and exits 2."""


class InputError(RescoreError):
    """Bad content in an input file, located by file and 1-based line number."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


def unknown_choice(kind: str, value: object, valid: Iterable[object]) -> RescoreError:
    """The error for a value outside a fixed set: ``unknown KIND 'x'; valid: a, b, c``."""
    return RescoreError(f"unknown {kind} {value!r}; valid: {', '.join(map(str, valid))}")
