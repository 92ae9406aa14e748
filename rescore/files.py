"""File access shared by every tool: gzip by extension, strict UTF-8 with line numbers,
LF-only line ends, and atomic outputs (a temporary file renamed into place on success)."""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import logging
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

from rescore.errors import InputError, RescoreError

CHUNK_BYTES = 1 << 20
# the longest line any input may have (a Moses n-best line is a few kB): a file with no line
# ends (/dev/zero, a binary) is refused here instead of filling memory
MAX_LINE_BYTES = 4 << 20
UTF8_BOM = b"\xef\xbb\xbf"
# a write that fails for want of room names the output; other errors keep their own message
FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}

log = logging.getLogger(__name__)

# the input file or model directory opened last: what the CLI's last-resort message names
last_input: list[str] = []


def note_input(name: str | Path) -> None:
    """Record ``name`` as the input being read (for the CLI's message on an unexpected
    error)."""
    last_input[:] = [str(name)]


def open_binary(path: str | Path) -> BinaryIO:
    """Open ``path`` for reading bytes, decompressing ``.gz`` files; ``-`` is stdin."""
    name = str(path)
    note_input(name)
    if name == "-":
        import sys

        return sys.stdin.buffer
    try:
        if name.endswith(".gz"):
            return gzip.open(name, "rb")  # type: ignore[return-value]
        return open(name, "rb")
    except OSError as err:
        raise RescoreError(f"{name}: cannot open: {err.strerror or err}") from err


def iter_line_chunks(path: str | Path) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(first_line_number, lines)`` chunks of a text file, lines without their ``\\n``.

    Line numbers are 1-based. Only ``\\n`` ends a line (never the other Unicode line
    separators ``str.splitlines`` knows), so a hypothesis containing U+2028 stays one line.
    Invalid UTF-8 and CRLF line ends are rejected with the offending line's number:
    Moses writes LF-only UTF-8, and a stray ``\\r`` would end up inside the last field. A
    UTF-8 byte-order mark at the start of the file (common in files from other tools) is
    skipped.
    """
    name = str(path)
    line_no = 1
    carry = b""
    first = True
    with open_binary(path) as stream:
        while True:
            try:
                data = stream.read(CHUNK_BYTES)
            except (OSError, EOFError) as err:
                raise InputError(name, line_no, f"cannot read: {err}") from err
            if not data:
                break
            if first:
                first = False
                data = data.removeprefix(UTF8_BOM)
            data = carry + data
            cut = data.rfind(b"\n") + 1
            carry = data[cut:]
            if len(carry) > MAX_LINE_BYTES:
                raise InputError(name, line_no + data.count(b"\n", 0, cut),
                                 f"a line longer than {MAX_LINE_BYTES:,} bytes: not a text file "
                                 "of sentences, lists or weights")
            if cut:
                yield line_no, _decode_lines(name, line_no, data[:cut])
                line_no += data.count(b"\n", 0, cut)
        if carry:
            yield line_no, _decode_lines(name, line_no, carry + b"\n")


def _decode_lines(name: str, line_no: int, data: bytes) -> list[str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        bad = line_no + data.count(b"\n", 0, err.start)
        raise InputError(name, bad, f"invalid UTF-8 (byte {data[err.start]:#04x})") from None
    if "\r" in text:
        bad = line_no + text.count("\n", 0, text.index("\r"))
        raise InputError(
            name, bad, "carriage return (CRLF line ends?): only LF line ends are accepted; "
            "convert the file with dos2unix"
        )
    lines = text.split("\n")
    lines.pop()  # data always ends with "\n"
    return lines


def sha256_of(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def read_lines(path: str | Path) -> list[str]:
    """All lines of a small text file (sources, references), without line ends."""
    out: list[str] = []
    for _, lines in iter_line_chunks(path):
        out.extend(lines)
    return out


@contextlib.contextmanager
def atomic_output(path: str | Path, *, compresslevel: int = 6) -> Iterator[IO[str]]:
    """Write a text file atomically: to a temporary file beside ``path``, renamed on success.

    On any exception the temporary file is removed and ``path`` is left as it was, so a
    failed run never leaves a half-written output; a full disk (or quota, or file size limit)
    is a :class:`RescoreError` naming ``path``. ``.gz`` paths are gzip-compressed. A run
    killed outright (SIGKILL) cannot remove its temporary file: the next one writing the same
    ``path`` does (:func:`remove_stale_temporaries`).
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise RescoreError(f"{target}: output folder {directory} does not exist")
    fd, tmp_name = _temporary(target)
    try:
        os.chmod(tmp_name, 0o666 & ~_umask())
        raw = os.fdopen(fd, "wb")
        if target.name.endswith(".gz"):
            stream: IO[str] = gzip.open(  # noqa: SIM115 (closed in the finally below)
                raw, "wt", encoding="utf-8", newline="\n", compresslevel=compresslevel)
        else:
            stream = open(  # noqa: SIM115 (closed in the finally below)
                raw.fileno(), "w", encoding="utf-8", newline="\n", closefd=False,
                buffering=CHUNK_BYTES)
        try:
            yield stream
        finally:
            try:
                stream.close()
            finally:
                raw.close()
        os.replace(tmp_name, target)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        _raise_full(err, target)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file beside it, then rename)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that wants a file name (torch.save,
    safetensors, parquet), renamed to ``path`` on success and removed on any error."""
    target = Path(path)
    fd, tmp_name = _temporary(target)
    os.close(fd)
    try:
        os.chmod(tmp_name, 0o666 & ~_umask())
        yield Path(tmp_name)
        os.replace(tmp_name, target)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        _raise_full(err, target)
        raise


def _raise_full(err: BaseException, target: Path) -> None:
    if isinstance(err, OSError) and err.errno in FULL:
        raise RescoreError(f"{target}: cannot write it: {err.strerror} (nothing was written; "
                           "free some space or write elsewhere)") from None


def _owner() -> str:
    """Who writes a temporary file: ``PID@HOST`` (a host's name may hold dots, not ``@``)."""
    return f"{os.getpid()}@{socket.gethostname()}"


def _temporary(target: Path) -> tuple[int, str]:
    """A new temporary file ``.NAME.PID@HOST.<random>.tmp`` beside ``target``, after removing
    the stale ones of ``target`` (left by killed runs)."""
    remove_stale_temporaries(target)
    return tempfile.mkstemp(prefix=f".{target.name}.{_owner()}.", suffix=".tmp",
                            dir=target.parent)


def remove_stale_temporaries(target: str | Path) -> list[Path]:
    """Remove the temporary files of ``target`` whose writer is gone: a process of this host
    that no longer runs (killed before it could clean up). Files of other outputs, of live
    processes and of other hosts (a shared folder) are left alone. Returns those removed."""
    target = Path(target)
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(\d+)@(.+)\.[A-Za-z0-9_]+\.tmp")
    host = socket.gethostname()
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(target.parent):  # Path("out").parent is Path(".")
            match = pattern.fullmatch(entry.name)
            if match and match.group(2) == host and not _alive(int(match.group(1))):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
                    log.info("removed %s, a temporary file left by process %s (gone)",
                             entry.path, match.group(1))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_outputs(*paths: str | Path | None) -> Iterator[list[IO[str] | None]]:
    """Several atomic outputs that all appear together or not at all (``None`` entries skip)."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(atomic_output(p)) if p is not None else None for p in paths]


def format_seconds(seconds: float) -> str:
    """A duration for people: ``45 s``, ``12 min``, ``2.5 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

