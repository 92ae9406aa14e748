"""Encoding, line ends and atomic outputs."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rescore.errors import InputError, RescoreError
from rescore.files import (
    CHUNK_BYTES,
    atomic_output,
    atomic_outputs,
    atomic_write_bytes,
    iter_line_chunks,
    read_lines,
)


def test_lines_split_on_newline_only(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("a\u2028b\x85c\nd\n", encoding="utf-8")
    assert read_lines(path) == ["a\u2028b\x85c", "d"]


def test_missing_final_newline_and_chunk_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    lines = [f"line {i} " + "é" * (i % 7) for i in range(CHUNK_BYTES // 8)]
    path.write_text("\n".join(lines), encoding="utf-8")
    numbered = [(first, chunk) for first, chunk in iter_line_chunks(path)]
    assert len(numbered) > 1
    assert [ln for _, chunk in numbered for ln in chunk] == lines
    assert all(chunk[0] == lines[first - 1] for first, chunk in numbered)


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok\nstill ok\nbad \xff byte\n")
    with pytest.raises(InputError, match=r"bad.txt:3: invalid UTF-8"):
        read_lines(path)


def test_crlf_is_rejected_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "dos.txt"
    path.write_bytes(b"a\nb\r\nc\r\n")
    with pytest.raises(InputError, match=r"dos.txt:2: carriage return"):
        read_lines(path)


def test_atomic_output_leaves_nothing_on_error(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_output(target) as out:
        out.write("half")
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_atomic_outputs_appear_together(tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt.gz"
    with atomic_outputs(a, None, b) as (fa, none, fb):
        assert none is None
        assert fa is not None and fb is not None
        fa.write("x\n")
        fb.write("y\n")
        assert not a.exists()
    assert read_lines(a) == ["x"] and read_lines(b) == ["y"]


def dead_pid() -> int:
    """The pid of a process that has finished (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_a_killed_runs_temporaries_are_removed_by_the_next_run_of_the_same_output(
        tmp_path: Path) -> None:
    host = socket.gethostname()
    stale = tmp_path / f".out.txt.{dead_pid()}@{host}.abc_12xy.tmp"
    kept = [tmp_path / f".out.txt.{os.getpid()}@{host}.live1234.tmp",   # a live writer
            tmp_path / f".out.txt.{dead_pid()}@other.host.abcd1234.tmp",  # another machine
            tmp_path / f".other.txt.{dead_pid()}@{host}.abcd1234.tmp",   # another output
            tmp_path / ".out.txt.handmade"]
    for path in [stale, *kept]:
        path.write_text("half")
    with atomic_output(tmp_path / "out.txt") as out:
        out.write("whole\n")
    assert not stale.exists()
    assert all(path.exists() for path in kept)
    assert sorted(tmp_path.iterdir()) == sorted([*kept, tmp_path / "out.txt"])
    stale.write_text("half")
    atomic_write_bytes(tmp_path / "out.txt", b"again\n")
    assert not stale.exists() and read_lines(tmp_path / "out.txt") == ["again"]


class FullDisk:
    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("name", ["out.txt", "out.txt.gz"])
def test_a_full_disk_names_the_output_and_leaves_nothing(tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    with pytest.raises(RescoreError, match=rf"{name}: cannot write it: No space left"), \
            atomic_output(target) as out:
        out.write("x" * 100)
        FullDisk().write("more")
    assert list(tmp_path.iterdir()) == []


def test_other_os_errors_keep_their_message(tmp_path: Path) -> None:
    with pytest.raises(PermissionError), atomic_output(tmp_path / "out.txt"):
        raise PermissionError(errno.EACCES, "Permission denied", "/some/input")
    assert list(tmp_path.iterdir()) == []
