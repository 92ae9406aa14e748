"""rescore.outputs.SystemOutputs: the one writer of 1-best files and n-best lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from rescore.outputs import SystemOutputs


def test_both_outputs_appear_together(tmp_path: Path) -> None:
    best, nbest = tmp_path / "out.1best", tmp_path / "out.nbest"
    with SystemOutputs(best, nbest) as out:
        assert out.wants_nbest
        out.write(0, "a b", "0 ||| a b ||| LM0= -1 ||| -1\n")
        out.write(1, "", [])  # a sentence without hypotheses: an empty 1-best line
        out.write(2, "c", ["2 ||| c ||| LM0= -2 ||| -2\n", "2 ||| d ||| LM0= -3 ||| -3\n"])
        assert not best.exists() and not nbest.exists()  # nothing until the run ends
    assert best.read_text() == "a b\n\nc\n"
    assert nbest.read_text().count("\n") == 3
    assert out.sentences == 3


def test_a_failure_leaves_neither_output(tmp_path: Path) -> None:
    best, nbest = tmp_path / "out.1best", tmp_path / "out.nbest"
    with pytest.raises(RuntimeError), SystemOutputs(best, nbest) as out:
        out.write(0, "a", "0 ||| a ||| LM0= -1 ||| -1\n")
        raise RuntimeError("the scorer failed")
    assert list(tmp_path.iterdir()) == []


def test_ids_for_shards_and_a_detokenized_1best(tmp_path: Path) -> None:
    best = tmp_path / "shard.1best"
    with SystemOutputs(best, None, with_ids=True) as out:
        assert not out.wants_nbest
        out.write(4, "x y", "ignored: no n-best list asked for")
    assert best.read_text() == "4\tx y\n"
    with SystemOutputs(best, None, detokenize="fr") as out:
        out.write(0, "c' est bien .")
    assert best.read_text() == "c'est bien.\n"
