"""rescore-nbest end to end on the real Multi30k lists."""

from __future__ import annotations

import gzip
import itertools
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from rescore import __version__
from rescore.nbest import read_nbest
from tests.helpers import run_cli, run_process


@pytest.mark.parametrize("name", [
    pytest.param("test2016.1000best.gz", marks=pytest.mark.system),  # whole 1000-best lists
    pytest.param("val.1000best.gz", marks=pytest.mark.system),
    "test2016.100best-align.gz"])
def test_round_trip_is_byte_identical(multi30k: Path, tmp_path: Path, name: str) -> None:
    src = multi30k / "nbest" / name
    out = tmp_path / "copy.nbest"
    result = run_cli("rescore-nbest", "--nbest", src, "--output-nbest", out)
    assert result.returncode == 0, result.stderr
    with gzip.open(src, "rb") as f:
        assert f.read() == out.read_bytes()


@pytest.mark.system  # whole 1000-best lists
@pytest.mark.parametrize("name", ["test2016", "val"])
def test_tuned_weights_reproduce_moses_1best(multi30k: Path, tmp_path: Path, name: str) -> None:
    one, nbest = tmp_path / "1best", tmp_path / "nbest"
    result = run_cli("rescore-nbest", "--nbest", multi30k / "nbest" / f"{name}.1000best.gz",
                     "--weights", multi30k / "moses.ini.tuned", "--source",
                     multi30k / f"{name}.en", "--output-1best", one, "--output-nbest", nbest)
    assert result.returncode == 0, result.stderr
    assert one.read_bytes() == (multi30k / "baseline" / f"{name}.1best").read_bytes()
    if name == "test2016":  # the reranked list: same entries, sorted by recomputed total
        totals = [b.totals for b in read_nbest(nbest)]
        assert all((np.diff(t) <= 0).all() for t in totals) and len(totals) == 1000


def slice_list(src: Path, dst: Path, sentences: int) -> Path:
    with gzip.open(src, "rt", encoding="utf-8") as f:
        lines = [ln for ln in itertools.takewhile(
            lambda ln: int(ln.split("|||")[0]) < sentences, f)]
    dst.write_text("".join(lines), encoding="utf-8")
    return dst


def test_kenlm_feature_equals_moses_lm0(multi30k: Path, tmp_path: Path) -> None:
    """Moses' LM0 is the same 5-gram model in natural log with <s> and </s>: our KenLM0
    feature must equal it to print precision."""
    small = slice_list(multi30k / "nbest" / "test2016.1000best.gz", tmp_path / "s.nbest", 20)
    out = tmp_path / "lm.nbest"
    result = run_cli("rescore-nbest", "--nbest", small, "--lm",
                     multi30k / "lm" / "train.fr.5g.arpa.gz", "--output-nbest", out)
    assert result.returncode == 0, result.stderr
    assert "Loading the LM" not in result.stderr and "****" not in result.stderr  # quiet
    blocks = list(read_nbest(out))
    assert len(blocks) == 20
    for block in blocks:
        assert block.schema.names[-1] == "KenLM0"
        np.testing.assert_allclose(block.feature("KenLM0"), block.feature("LM0"), atol=5e-4)
    # the rest of every line is unchanged
    original = small.read_text().splitlines()
    written = out.read_text().splitlines()
    assert [ln.split(" KenLM0=")[0] for ln in written] == [
        ln.split("|||")[0] + "|||" + "|||".join(ln.split("|||")[1:3]).rstrip()
        for ln in original]


def test_missing_sentences_keep_alignment(tmp_path: Path) -> None:
    nbest = tmp_path / "gap.nbest"
    nbest.write_text("0 ||| a ||| LM0= -1 ||| -1\n0 ||| b ||| LM0= -0.5 ||| -0.5\n"
                     "2 ||| c ||| LM0= -2 ||| -2\n")
    src = tmp_path / "src"
    src.write_text("x\ny\nz\nw\n")
    weights = tmp_path / "w.json"
    weights.write_text('{"LM0": 1}')
    one = tmp_path / "one"
    result = run_cli("rescore-nbest", "--nbest", nbest, "--weights", weights, "--source", src,
                     "--missing", "empty", "--output-1best", one)
    assert result.returncode == 0, result.stderr
    assert one.read_text() == "b\n\nc\n\n"
    assert "2 sentence(s) have no hypotheses (ids 1, 3)" in result.stderr
    result = run_cli("rescore-nbest", "--nbest", nbest, "--source", src, "--missing", "error",
                     "--output-1best", tmp_path / "two")
    assert result.returncode == 2 and "no hypotheses for sentence 1" in result.stderr
    assert not (tmp_path / "two").exists()
    default = run_cli("rescore-nbest", "--nbest", nbest, "--source", src,  # error by default
                      "--output-1best", tmp_path / "three")
    assert default.returncode == 2 and "line 2 of" in default.stderr
    assert "which has 4 lines" in default.stderr and "--missing empty" in default.stderr


def test_source_of_another_list_is_an_error(multi30k: Path, tmp_path: Path) -> None:
    """From a user's report: test2016's list with val.en (1,014 lines for 1,000 sentences)
    only warned, and --model then scored hypotheses against the wrong sources."""
    nbest = tmp_path / "head.nbest"
    with gzip.open(multi30k / "nbest/test2016.1000best.gz", "rt", encoding="utf-8") as f:
        nbest.write_text("".join(itertools.takewhile(lambda ln: int(ln.split("|||")[0]) < 3, f)))
    src = tmp_path / "val.head.en"
    src.write_text("".join((multi30k / "val.en").read_text().splitlines(True)[:5]))
    result = run_cli("rescore-nbest", "--nbest", nbest, "--source", src, "--output-1best",
                     tmp_path / "out")
    assert result.returncode == 2 and "no hypotheses for sentence 3 (line 4 of" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["rescore-nbest", "rescore-oracle", "rescore-report",
                                     "rescore-train", "rescore-tune", "rescore-translate",
                                     "rescore-mbr", "rescore-model"])
def test_help_and_version(command: str) -> None:
    helped = run_process(command, "--help")  # a real process: the module runs as a user's
    assert helped.returncode == 0 and "usage:" in helped.stdout and "--version" in helped.stdout
    version = run_cli(command, "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"{command} {__version__}"
    assert metadata.version("rescore") == __version__  # pyproject reads rescore.__version__
