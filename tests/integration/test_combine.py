"""rescore-combine: the union of a Moses list and a neural list, one entry per distinct
hypothesis with both kinds of features, stated fill values and an origin indicator; ids
aligned; one line of error for lists of different sentences; Moses-readable output that
rescore-nbest and rescore-tune take."""

from __future__ import annotations

from pathlib import Path

from rescore.nbest import read_nbest
from tests.helpers import head_of_list, run_cli

MOSES = ("0 ||| a b ||| LM0= -1 TM0= -2 -3 ||| -3\n"
         "0 ||| a b ||| LM0= -1.5 TM0= -2 -3 ||| -3.5\n"   # a second derivation
         "0 ||| a c ||| LM0= -2 TM0= -1 -1 ||| -4\n"
         "2 ||| d ||| LM0= -1 TM0= -1 -1 ||| -2\n")        # sentence 1: no entry
NEURAL = ("0 ||| a  c ||| LSTM0= -3 ||| -3\n"                # the same words as Moses' "a c"
          "0 ||| x y ||| LSTM0= -4 ||| -4\n"
          "1 ||| e ||| LSTM0= -1 ||| -1\n"
          "2 ||| d ||| LSTM0= -0.5 ||| -0.5\n")


def test_the_union_merges_duplicates_and_fills_what_a_list_lacks(tmp_path: Path) -> None:
    moses, neural, out = tmp_path / "m.nbest", tmp_path / "n.nbest", tmp_path / "c.nbest"
    moses.write_text(MOSES)
    neural.write_text(NEURAL)
    result = run_cli("rescore-combine", "--nbest", moses, "--nbest", neural, "--output", out)
    assert result.returncode == 0, result.stderr
    blocks = {b.sent_id: b for b in read_nbest(out)}
    assert sorted(blocks) == [0, 1, 2]
    zero = blocks[0]
    assert zero.hypotheses == ["a b", "a c", "x y"]  # Moses' order, then the new ones
    assert zero.schema.names == ("LM0", "TM0", "LSTM0", "Origin0")
    origin = zero.feature("Origin0").tolist()
    assert origin == [[1, 0], [1, 1], [0, 1]]
    # the first derivation of "a b" is kept; "a c" has both lists' scores
    assert zero.feature("LM0")[:, 0].tolist() == [-1, -2, -2]  # x y: the lowest LM0
    assert zero.feature("TM0").tolist()[2] == [-2, -3]  # the lowest of each value
    assert zero.feature("LSTM0")[:, 0].tolist() == [-4, -3, -4]  # a b: the lowest LSTM0
    assert zero.totals.tolist() == [-3, -4, -4]  # Moses' totals; a new entry: the lowest
    assert blocks[1].hypotheses == ["e"] and blocks[1].feature("LM0").tolist() == [[0.0]]
    assert blocks[2].hypotheses == ["d"] and blocks[2].feature("Origin0").tolist() == [[1, 1]]
    assert "3 sentences, 5 entries (2 in more than one list" in result.stderr
    zeros = run_cli("rescore-combine", "--nbest", moses, "--nbest", neural, "--output",
                    tmp_path / "z.nbest", "--fill", "zero")
    assert zeros.returncode == 0
    z = next(iter(read_nbest(tmp_path / "z.nbest")))
    assert z.feature("LM0")[2, 0] == 0 and z.feature("LSTM0")[0, 0] == 0


def test_lists_of_different_sentences_are_one_error(tmp_path: Path) -> None:
    moses, short, out = tmp_path / "m.nbest", tmp_path / "s.nbest", tmp_path / "c.nbest"
    moses.write_text(MOSES)
    short.write_text("0 ||| a ||| LSTM0= -1 ||| -1\n")
    result = run_cli("rescore-combine", "--nbest", moses, "--nbest", short, "--output", out)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr
    assert f"{short}: ends before sentence 1" in lines[0] and not out.exists()
    source = tmp_path / "src"
    source.write_text("x\n")
    past = run_cli("rescore-combine", "--nbest", moses, "--nbest", short, "--source", source,
                   "--output", out)
    assert past.returncode == 2 and "past the end of" in past.stderr
    same = run_cli("rescore-combine", "--nbest", moses, "--nbest", moses, "--output", moses)
    assert same.returncode == 2 and "refusing to overwrite an input" in same.stderr


def test_a_real_moses_list_and_a_neural_one_combine_and_tune(multi30k: Path,
                                                             tmp_path: Path) -> None:
    """Moses' val 1000-best list (5 sentences) with a "neural" list made of its own 3rd-10th
    entries and two new hypotheses a sentence: rescore-tune takes the union."""
    lines = head_of_list(multi30k / "nbest" / "val.1000best.gz", 5)
    moses = tmp_path / "moses.nbest"
    moses.write_text("".join(lines))
    neural = []
    by_id: dict[int, list[str]] = {}
    for line in lines:
        by_id.setdefault(int(line.split("|||")[0]), []).append(line.split("|||")[1].strip())
    for i, hyps in by_id.items():
        for j, hyp in enumerate([*hyps[2:10], "un chien .", "une femme ."]):
            neural.append(f"{i} ||| {hyp} ||| LSTM0= {-1.0 - j} ||| {-1.0 - j}\n")
    (tmp_path / "nmt.nbest").write_text("".join(neural))
    refs = tmp_path / "ref"
    refs.write_text("".join(ln + "\n" for ln in
                            (multi30k / "val.fr").read_text().splitlines()[:5]))
    out = tmp_path / "union.nbest"
    result = run_cli("rescore-combine", "--nbest", moses, "--nbest", tmp_path / "nmt.nbest",
                     "--output", out)
    assert result.returncode == 0, result.stderr
    union = list(read_nbest(out))
    assert [b.sent_id for b in union] == [0, 1, 2, 3, 4]
    for block in union:
        assert len(set(block.hypotheses)) == len(block)  # one entry per distinct hypothesis
        assert {"un chien .", "une femme ."} <= set(block.hypotheses)
    tuned = run_cli("rescore-tune", "--nbest", out, "--ref", refs, "--output",
                    tmp_path / "w.json", "--restarts", "0", "--iterations", "2")
    assert tuned.returncode == 0, tuned.stderr
    reranked = run_cli("rescore-nbest", "--nbest", out, "--weights", tmp_path / "w.json",
                       "--output-1best", tmp_path / "one")
    assert reranked.returncode == 0, reranked.stderr
    assert len((tmp_path / "one").read_text().splitlines()) == 5
