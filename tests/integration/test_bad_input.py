"""Every kind of bad input: one line on stderr naming file and line, exit status 2, no
traceback, and no output file left behind."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import SUBPROCESS_ENV, run_cli

GOOD = ("0 ||| a b ||| LM0= -1 WordPenalty0= -2 ||| -3\n"
        "0 ||| a c ||| LM0= -2 WordPenalty0= -2 ||| -4\n"
        "1 ||| d ||| LM0= -1 WordPenalty0= -1 ||| -2\n")
WEIGHTS = '{"LM0": 1.0, "WordPenalty0": 0.5}'

# (case, n-best bytes, weights text, expected "file:line" suffix, words in the message)
NBEST_CASES = [
    ("wrong number of fields", b"0 ||| a ||| LM0= -1 WordPenalty0= -2\n", WEIGHTS,
     "list.nbest:1", "3 field(s)"),
    ("non-numeric feature value", GOOD.replace("-2 ||| -4", "x2 ||| -4").encode(), WEIGHTS,
     "list.nbest:2", "non-numeric feature value 'x2'"),
    ("non-numeric total", GOOD.replace("||| -4", "||| four").encode(), WEIGHTS,
     "list.nbest:2", "non-numeric total score 'four'"),
    ("feature name with no values", GOOD.replace("WordPenalty0= -1", "WordPenalty0=").encode(),
     WEIGHTS, "list.nbest:3", "'WordPenalty0' has no values"),
    ("decreasing ids", (GOOD + "0 ||| e ||| LM0= -1 WordPenalty0= -1 ||| -2\n").encode(), WEIGHTS,
     "list.nbest:4", "sentence id 0 after id 1"),
    ("ids past the end of the source",
     (GOOD + "5 ||| e ||| LM0= -1 WordPenalty0= -1 ||| -2\n").encode(),
     WEIGHTS, "list.nbest:4", "past the end of"),
    ("empty file", b"", WEIGHTS, "list.nbest:1", "empty n-best list"),
    ("invalid UTF-8", GOOD.encode().replace(b"a c", b"a \xe9c"), WEIGHTS, "list.nbest:2",
     "invalid UTF-8"),
    ("CRLF line ends", GOOD.replace("\n", "\r\n").encode(), WEIGHTS, "list.nbest:1",
     "carriage return"),
    ("weights name a feature the list lacks", GOOD.encode(),
     '{"LM0": 1, "WordPenalty0": 1, "TM0": 1}', "list.nbest:1", "name feature(s) TM0"),
    ("weights miss a feature the list has", GOOD.encode(), '{"LM0": 1}', "list.nbest:1",
     "feature(s) WordPenalty0 that the weights"),
    ("bad weights file", GOOD.encode(), '{"LM0": [1,', "w.json:1", "invalid JSON"),
    # from a user's report: inf was accepted and ranked first
    ("infinite feature value", GOOD.replace("LM0= -2", "LM0= inf").encode(), WEIGHTS,
     "list.nbest:2", "non-finite feature value"),
    ("NaN total", GOOD.replace("||| -2\n", "||| nan\n").encode(), WEIGHTS, "list.nbest:3",
     "non-finite total score"),
]


def check_failure(result, where: str, words: str, outputs: list[Path]) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert where in lines[0] and words in lines[0], lines[0]
    for path in outputs:
        assert not path.exists(), path
    assert not [p for p in outputs[0].parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(("case", "data", "weights", "where", "words"), NBEST_CASES,
                         ids=[c[0] for c in NBEST_CASES])
def test_rescore_nbest_bad_input(tmp_path: Path, case: str, data: bytes, weights: str,
                                 where: str, words: str) -> None:
    nbest, wfile, src = tmp_path / "list.nbest", tmp_path / "w.json", tmp_path / "src.en"
    nbest.write_bytes(data)
    wfile.write_text(weights)
    src.write_text("x\ny\n")
    out, one = tmp_path / "out" / "o.nbest", tmp_path / "out" / "o.1best"
    out.parent.mkdir()
    result = run_cli("rescore-nbest", "--nbest", nbest, "--weights", wfile, "--source", src,
                     "--output-nbest", out, "--output-1best", one)
    check_failure(result, where, words, [out, one])


def test_error_after_output_started_leaves_no_file(tmp_path: Path) -> None:
    """The bad line comes after many good sentences have been written."""
    good = "".join(f"{i} ||| w{i} ||| LM0= -{i} ||| -{i}\n" for i in range(5000))
    nbest = tmp_path / "list.nbest"
    nbest.write_text(good + "4999 ||| z ||| LM0= oops ||| 0\n")
    out = tmp_path / "out" / "o.nbest"
    out.parent.mkdir()
    result = run_cli("rescore-nbest", "--nbest", nbest, "--output-nbest", out)
    check_failure(result, "list.nbest:5001", "non-numeric feature value 'oops'", [out])


def test_reference_with_wrong_line_count(tmp_path: Path) -> None:
    ref, sys1 = tmp_path / "ref", tmp_path / "sys1"
    ref.write_text("a\nb\nc\n")
    sys1.write_text("a\nb\n")
    prefix = tmp_path / "out" / "r"
    prefix.parent.mkdir()
    result = run_cli("rescore-report", "--ref", ref, f"base={sys1}", "--output-prefix", prefix)
    check_failure(result, "sys1:3", "2 lines but the reference", [Path(f"{prefix}.md")])


def test_oracle_reference_shorter_than_list(tmp_path: Path) -> None:
    nbest, ref = tmp_path / "list.nbest", tmp_path / "ref"
    nbest.write_text(GOOD)
    ref.write_text("a b\n")
    out = tmp_path / "out" / "oracle"
    out.parent.mkdir()
    result = run_cli("rescore-oracle", "--nbest", nbest, "--ref", ref, "--output", out)
    check_failure(result, "list.nbest:3", "past the end of", [out])


def test_missing_input_file(tmp_path: Path) -> None:
    out = tmp_path / "o"
    result = run_cli("rescore-nbest", "--nbest", tmp_path / "nope.gz", "--output-1best", out)
    check_failure(result, "nope.gz", "cannot open", [out])


def test_byte_order_mark_is_skipped(tmp_path: Path) -> None:
    """From a user's report: a list written by another tool started with a UTF-8 BOM and was
    refused ("sentence id '\\ufeff0' is not a non-negative integer")."""
    nbest, src, one = tmp_path / "bom.nbest", tmp_path / "src.en", tmp_path / "one"
    nbest.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    src.write_bytes(b"\xef\xbb\xbfx\ny\n")
    weights = tmp_path / "w.json"
    weights.write_text(WEIGHTS)
    result = run_cli("rescore-nbest", "--nbest", nbest, "--weights", weights, "--source", src,
                     "--output-1best", one)
    assert result.returncode == 0, result.stderr
    assert one.read_text() == "a b\nd\n"


def test_a_file_size_limit_names_the_output_and_leaves_nothing(tmp_path: Path) -> None:
    """A full disk, as the kernel reports a file size limit (EFBIG; ENOSPC and quotas go the
    same way): the output's name in one line, no output, no temporary file."""
    nbest = tmp_path / "list.nbest"
    nbest.write_text("".join(f"{i} ||| word{i} and more words ||| LM0= -{i} ||| -{i}\n"
                             for i in range(5000)), encoding="utf-8")
    out = tmp_path / "out" / "reranked.nbest"
    out.parent.mkdir()

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, resource.RLIM_INFINITY))

    result = subprocess.run([sys.executable, "-m", "rescore.cli.nbest", "--nbest", str(nbest),
                             "--output-nbest", str(out)], capture_output=True, text=True,
                            check=False, env={**SUBPROCESS_ENV, "PYTHONDONTWRITEBYTECODE": "1"},
                            preexec_fn=limit)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (f"rescore-nbest: error: {out}: cannot write it: File too "
                                     "large (nothing was written; free some space or write "
                                     "elsewhere)")
    assert list(out.parent.iterdir()) == []
