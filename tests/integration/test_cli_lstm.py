"""rescore-nbest with LSTM models: sharded under torchrun, ensembles, bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from rescore import model_dir
from rescore.nbest import read_nbest
from rescore.scoring import score_pairs
from rescore.vocab import Vocab
from tests.helpers import head_of_list, run_cli, write_tiny_model

SENTENCES = 12


@pytest.fixture(scope="module")
def small(multi30k: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The first sentences of test2016 (100-best), their sources, and two random-init models
    with vocabularies from those sentences (a third with another vocabulary)."""
    root = tmp_path_factory.mktemp("lstm")
    lines = head_of_list(multi30k / "nbest" / "test2016.100best-align.gz", SENTENCES)
    (root / "list.nbest").write_text("".join(lines), encoding="utf-8")
    src = (multi30k / "test2016.en").read_text(encoding="utf-8").splitlines()[:SENTENCES]
    (root / "src.en").write_text("\n".join(src) + "\n", encoding="utf-8")
    src_vocab = Vocab.build(Counter(w for s in src for w in s.split()), 60)
    tgt_vocab = Vocab.build(Counter(w for ln in lines for w in ln.split("|||")[1].split()), 80)
    paths = {"nbest": root / "list.nbest", "src": root / "src.en"}
    for name, seed, tv in (("m0", 0, tgt_vocab), ("m1", 1, tgt_vocab),
                           ("other", 2, Vocab.build(Counter({"x": 1}), 10))):
        paths[name] = write_tiny_model(root / name, src_vocab, tv, seed)
    return paths


@pytest.mark.system  # DDP: two processes under torchrun
def test_two_processes_write_what_one_writes(small: dict[str, Path], tmp_path: Path) -> None:
    args = ["--nbest", small["nbest"], "--source", small["src"], "--model", small["m0"],
            "--model", small["m1"], "--ensemble", "--combine", "average"]
    one = run_cli("rescore-nbest", *args, "--output-nbest", tmp_path / "one.nbest",
                  "--output-1best", tmp_path / "one.1best")
    assert one.returncode == 0, one.stderr
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "rescore.cli.nbest", *map(str, args), "--output-nbest", str(tmp_path / "two.nbest"),
         "--output-1best", str(tmp_path / "two.1best")],
        capture_output=True, text=True, env=env, check=False, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    assert (tmp_path / "one.nbest").read_bytes() == (tmp_path / "two.nbest").read_bytes()
    assert (tmp_path / "one.1best").read_bytes() == (tmp_path / "two.1best").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "one.1best", "one.nbest", "two.1best", "two.nbest"]  # shards removed
    blocks = list(read_nbest(tmp_path / "one.nbest"))
    assert len(blocks) == SENTENCES
    assert blocks[0].schema.names[-3:] == ("LSTM0", "LSTM1", "LSTMEnsemble0")
    assert len(blocks[0].fields[0]) == 5  # the alignment field survives


@pytest.mark.parametrize(("extra", "message"), [
    (["--model", "M0", "--model", "OTHER"], "an ensemble needs equal vocabularies"),
    (["--model", "M0", "--model", "M1", "--combine", "average"], "needs --ensemble"),
    (["--combine", "average"], "needs an LSTM model"),
    (["--model", "NOWHERE"], "nowhere: no such model directory"),
    (["--model", "M0", "--threads", "0"], "argument --threads: must be at least 1"),
])
def test_bad_model_options(small: dict[str, Path], tmp_path: Path, extra: list[str],
                           message: str) -> None:
    names = {"M0": small["m0"], "M1": small["m1"], "OTHER": small["other"],
             "NOWHERE": tmp_path / "nowhere"}
    extra = [str(names.get(a, a)) for a in extra]
    out = tmp_path / "o.nbest"
    result = run_cli("rescore-nbest", "--nbest", small["nbest"], "--source", small["src"],
                     *extra, "--output-nbest", out)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_model_needs_source(small: dict[str, Path], tmp_path: Path) -> None:
    result = run_cli("rescore-nbest", "--nbest", small["nbest"], "--model", small["m0"],
                     "--output-nbest", tmp_path / "o")
    assert result.returncode == 2 and "--model needs --source" in result.stderr


def test_source_shorter_than_list(small: dict[str, Path], tmp_path: Path) -> None:
    short = tmp_path / "short.en"
    short.write_text("a b\n")
    result = run_cli("rescore-nbest", "--nbest", small["nbest"], "--source", short,
                     "--model", small["m0"], "--output-nbest", tmp_path / "o")
    assert result.returncode == 2 and "past the end of" in result.stderr


def test_feature_name_already_in_the_list(small: dict[str, Path], tmp_path: Path) -> None:
    first = tmp_path / "first.nbest"
    ok = run_cli("rescore-nbest", "--nbest", small["nbest"], "--source", small["src"],
                 "--model", small["m0"], "--model", small["m1"], "--ensemble",
                 "--output-nbest", first)
    assert ok.returncode == 0, ok.stderr
    for extra in (["--model", small["m0"]], ["--ensemble", "LSTM0,LSTM1"]):
        out = tmp_path / "again.nbest"
        result = run_cli("rescore-nbest", "--nbest", first, "--source", small["src"], *extra,
                         "--output-nbest", out)
        assert result.returncode == 2 and "the list already has a feature" in result.stderr
        assert f"{first}:1:" in result.stderr and "Traceback" not in result.stderr
        assert not out.exists()
    named = run_cli("rescore-nbest", "--nbest", first, "--ensemble", "LSTM0,LSTM1",
                    "--ensemble-name", "Mean2", "--output-nbest", tmp_path / "named.nbest")
    assert named.returncode == 0, named.stderr
    assert read_nbest(tmp_path / "named.nbest").__next__().schema.names[-1] == "Mean2"


def test_overly_long_and_empty_hypotheses(small: dict[str, Path], tmp_path: Path) -> None:
    """A hypothesis over --max-hyp-tokens is an error naming its line (no output); an empty
    one is scored as </s> alone."""
    lines = small["nbest"].read_text(encoding="utf-8").splitlines(keepends=True)
    first = [ln for ln in lines if ln.startswith("0 |||")]
    fields = first[2].split(" ||| ")
    long_line = " ||| ".join([fields[0], " ".join(["un"] * 600) + " ", *fields[2:]])
    empty_line = " ||| ".join([fields[0], "", *fields[2:]])
    listed = tmp_path / "odd.nbest"
    listed.write_text("".join([first[0], first[1], long_line, empty_line, *first[3:]]),
                      encoding="utf-8")
    one_src = tmp_path / "one.en"
    one_src.write_text(small["src"].read_text(encoding="utf-8").splitlines()[0] + "\n")
    out = tmp_path / "o.nbest"
    args = ["--nbest", listed, "--source", one_src, "--model", small["m0"], "--output-nbest", out]
    bad = run_cli("rescore-nbest", *args)
    assert bad.returncode == 2 and f"{listed}:3: hypothesis of 600 tokens" in bad.stderr
    assert "Traceback" not in bad.stderr and not out.exists()
    ok = run_cli("rescore-nbest", *args, "--max-hyp-tokens", "600")
    assert ok.returncode == 0, ok.stderr
    block = next(iter(read_nbest(out)))
    lstm = block.feature("LSTM0")[:, 0]
    loaded = model_dir.load(small["m0"])
    src = one_src.read_text(encoding="utf-8").split()
    alone = score_pairs(loaded.model, loaded.src_vocab, loaded.tgt_vocab, [src],
                        [[]]).totals[0]  # ln P(</s> | source)
    assert lstm[3] == pytest.approx(alone, abs=1e-4)
    assert lstm[2] < lstm[3]  # 600 words cost more than stopping at once
