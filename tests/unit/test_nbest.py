"""The Moses n-best reader and writer on small hand-made lists (the real lists are in
tests/integration)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from rescore.errors import InputError
from rescore.nbest import (
    UNLABELLED,
    FeatureSchema,
    _parse_features_by_line,
    _parse_uniform_block,
    iter_sentences,
    parse_features,
    read_nbest,
)

LABELLED = (
    "0 ||| a b  ||| LexicalReordering0= -0.36 0 0 Distortion0= 0 LM0= -38.9 "
    "WordPenalty0= -2 ||| -3.5\n"
    "0 ||| a c  ||| LexicalReordering0= -0.5 0 1 Distortion0= -1 LM0= -40 "
    "WordPenalty0= -2 ||| -3.75\n"
    "1 ||| d  ||| LexicalReordering0= 0 0 0 Distortion0= 0 LM0= -5 WordPenalty0= -1 ||| -1\n"
)


def write(tmp_path: Path, text: str, name: str = "list.nbest") -> Path:
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8", newline="") as f:
            f.write(text)
    else:
        path.write_bytes(text.encode("utf-8"))
    return path


@pytest.mark.parametrize(("text", "expected"), [
    ("LexicalReordering0= -0.36 0 0 Distortion0= 0 LM0= -38.9",
     [("LexicalReordering0", [-0.36, 0, 0]), ("Distortion0", [0]), ("LM0", [-38.9])]),
    ("d: 0 -4.1 lm: -25.8 tm: -3 -9 w: -5",
     [("d", [0, -4.1]), ("lm", [-25.8]), ("tm", [-3, -9]), ("w", [-5])]),
    ("LM0= -2 Rule_ab= 1 Rule_cd= 2.5", [("LM0", [-2]), ("Rule_ab", [1]), ("Rule_cd", [2.5])]),
    ("-1 -2.5 3e-05", [(UNLABELLED, [-1, -2.5, 3e-05])]),
    ("-1 LM0= -2", [(UNLABELLED, [-1]), ("LM0", [-2])]),
    ("", []),
])
def test_parse_features_syntaxes(text: str, expected: list) -> None:
    got = [(name, vals) for _, name, vals in parse_features(text)]
    assert got == expected


@pytest.mark.parametrize(("text", "message"), [
    ("LM0= -2 WordPenalty0=", "'WordPenalty0' has no values"),
    ("LM0= WordPenalty0= -1", "'LM0' has no values"),
    ("LM0= -2 x7", "non-numeric feature value 'x7'"),
    ("= 1", "has no name"),
    ("LM0= 1 LM0= 2", "given twice"),
])
def test_parse_features_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_features(text)


def test_read_groups_sentences_and_parses(tmp_path: Path) -> None:
    blocks = list(read_nbest(write(tmp_path, LABELLED)))
    assert [b.sent_id for b in blocks] == [0, 1]
    first = blocks[0]
    assert first.schema == FeatureSchema(
        ("LexicalReordering0", "Distortion0", "LM0", "WordPenalty0"), (3, 1, 1, 1))
    assert first.hypotheses == ["a b", "a c"]
    np.testing.assert_array_equal(first.totals, [-3.5, -3.75])
    np.testing.assert_array_equal(first.values[1], [-0.5, 0, 1, -1, -40, -2])
    np.testing.assert_array_equal(first.feature("LM0")[:, 0], [-38.9, -40])
    assert (first.first_line, blocks[1].first_line) == (1, 3)


def test_fast_path_equals_line_by_line_parser(tmp_path: Path) -> None:
    feats = [line.split("|||")[2] for line in LABELLED.splitlines()]
    groups = parse_features(feats[0])
    fast = _parse_uniform_block(feats, groups, 6)
    schema, slow = _parse_features_by_line(feats, "x", 1)
    assert fast is not None
    np.testing.assert_array_equal(fast, slow)
    assert schema.dim == 6


def test_sparse_features_absent_are_zero(tmp_path: Path) -> None:
    text = ("0 ||| a ||| LM0= -1 Rule_x= 2 ||| 0\n"
            "0 ||| b ||| LM0= -2 Rule_y= 3 ||| 0\n")
    (block,) = read_nbest(write(tmp_path, text))
    assert block.schema.names == ("LM0", "Rule_x", "Rule_y")
    np.testing.assert_array_equal(block.values, [[-1, 2, 0], [-2, 0, 3]])


def test_old_format_without_spaces_and_extra_fields_round_trip(tmp_path: Path) -> None:
    text = ("0||| this is  ||| d: 0 -7.6 lm: -41.3 -40.3 w: -9 ||| -14.6262\n"
            "0 ||| a b  ||| d: 0 -1 lm: -2 -3 w: -2 ||| -1 ||| 0-0 1-1 \n"
            "2|||x|||d: 0 0 lm: -1 -1 w: -1|||-2|||0-1|||0-0 \n")
    blocks = list(read_nbest(write(tmp_path, text)))
    assert [b.sent_id for b in blocks] == [0, 2]
    assert blocks[0].hypotheses == ["this is", "a b"]
    assert "".join(b.text() for b in blocks) == text
    np.testing.assert_array_equal(blocks[1].values, [[0, 0, -1, -1, -1]])


def test_gzip_by_extension(tmp_path: Path) -> None:
    blocks = list(read_nbest(write(tmp_path, LABELLED, "list.nbest.gz")))
    assert "".join(b.text() for b in blocks) == LABELLED


def test_with_feature_appends_moses_safe_name_and_keeps_spacing(tmp_path: Path) -> None:
    block = next(read_nbest(write(tmp_path, LABELLED)))
    out = block.with_feature("LSTM0", np.array([-1.25, -2.0]))
    assert out.text().splitlines()[0] == (
        "0 ||| a b  ||| LexicalReordering0= -0.36 0 0 Distortion0= 0 LM0= -38.9 "
        "WordPenalty0= -2 LSTM0= -1.25 ||| -3.5")
    assert out.schema.names[-1] == "LSTM0"
    np.testing.assert_array_equal(out.feature("LSTM0")[:, 0], [-1.25, -2.0])
    for bad in ("LSTM_0", "0LSTM", "LM0"):
        with pytest.raises(ValueError):
            block.with_feature(bad, np.zeros(2))


def test_with_totals_and_reordered(tmp_path: Path) -> None:
    block = next(read_nbest(write(tmp_path, LABELLED)))
    out = block.with_totals(np.array([-1.0, 2.123456789])).reordered([1, 0])
    assert out.hypotheses == ["a c", "a b"]
    assert out.text().splitlines()[0].endswith("||| 2.12346")
    assert [out.line_number(0), out.line_number(1)] == [2, 1]


def test_iter_sentences_fills_gaps_and_end(tmp_path: Path) -> None:
    text = LABELLED.replace("1 |||", "3 |||")
    got = [(i, b is not None) for i, b in iter_sentences(write(tmp_path, text), 5)]
    assert got == [(0, True), (1, False), (2, False), (3, True), (4, False)]


def test_iter_sentences_rejects_id_past_source(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"list.nbest:3: sentence id 1 is past the end"):
        list(iter_sentences(write(tmp_path, LABELLED), 1, "src.txt"))


@pytest.mark.parametrize(("text", "line", "message"), [
    ("0 ||| a ||| LM0= 1\n", 1, "3 field"),
    ("0 ||| a ||| LM0= 1 ||| 2\n0 ||| a ||| LM0= 1\n", 2, "3 field"),
    ("0 ||| a ||| LM0= 1 ||| 2 ||| x ||| y ||| z\n", 1, "7 field"),
    ("0 ||| a ||| LM0= 1 ||| 2\n0 ||| b ||| LM0= zz ||| 2\n", 2, "non-numeric feature value 'zz'"),
    ("0 ||| a ||| LM0= 1 ||| 2\n0 ||| b ||| LM0= 1 ||| nope\n", 2, "non-numeric total"),
    ("0 ||| a ||| LM0= 1 WordPenalty0= ||| 2\n", 1, "has no values"),
    ("1 ||| a ||| LM0= 1 ||| 2\n0 ||| b ||| LM0= 1 ||| 2\n", 2, "id 0 after id 1"),
    ("0 ||| a ||| LM0= 1 ||| 2\n1 ||| b ||| LM0= 1 ||| 2\n0 ||| c ||| LM0= 1 ||| 2\n", 3,
     "id 0 after id 1"),
    ("x ||| a ||| LM0= 1 ||| 2\n", 1, "not a non-negative integer"),
    ("0 ||| a ||| LM0= 1 ||| 2\n\n", 2, "1 field"),
    ("", 1, "empty n-best list"),
    ("0 ||| a ||| LM0= 1 ||| 2\n0 ||| b ||| LM0= 1 2 ||| 2\n", 2, "2 values here but 1"),
])
def test_bad_lists_name_the_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=message) as info:
        list(read_nbest(path))
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_distinct_keeps_first_appearance_and_indexes_back() -> None:
    from rescore.nbest import distinct

    texts = ["b a", "a", "b a", "", "a", "c"]
    unique, inverse = distinct(texts)
    assert unique == ["b a", "a", "", "c"]
    assert [unique[i] for i in inverse] == texts
    empty, none = distinct([])
    assert empty == [] and none.dtype == np.int64 and len(none) == 0
