"""Encoding, line ends and atomic outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from rescore.errors import InputError
from rescore.files import CHUNK_BYTES, atomic_output, atomic_outputs, iter_line_chunks, read_lines


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
