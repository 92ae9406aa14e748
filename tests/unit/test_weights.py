"""Weights from Moses ini and JSON, and their match against a list's features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rescore.errors import InputError, RescoreError
from rescore.nbest import FeatureSchema
from rescore.weights import Weights, load_weights

INI = """# comment
[feature]
KENLM name=LM0 factor=0 path=x order=5
[weight]
LexicalReordering0= 0.5 -0.25
LM0= 0.1
UnknownWordPenalty0= 1
[threads]
2
"""
SCHEMA = FeatureSchema(("LexicalReordering0", "LM0"), (2, 1))


def test_ini_weight_section(tmp_path: Path) -> None:
    path = tmp_path / "moses.ini"
    path.write_text(INI)
    w = load_weights(path)
    assert w.values == {"LexicalReordering0": (0.5, -0.25), "LM0": (0.1,),
                        "UnknownWordPenalty0": (1.0,)}
    np.testing.assert_array_equal(w.vector(SCHEMA), [0.5, -0.25, 0.1])


def test_json_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    path.write_text('{"LexicalReordering0": [0.5, -0.25], "LM0=": 0.1}')
    w = load_weights(path)
    np.testing.assert_array_equal(w.vector(SCHEMA), [0.5, -0.25, 0.1])
    for name in ("again.json", "again.ini"):
        w.save(tmp_path / name)
        assert load_weights(tmp_path / name).values == w.values


@pytest.mark.parametrize(("weights", "message"), [
    ({"LexicalReordering0": (1.0, 1.0)}, "the list has feature\\(s\\) LM0"),
    ({"LexicalReordering0": (1.0, 1.0), "LM0": (1.0,), "TM0": (1.0,)}, "name feature\\(s\\) TM0"),
    ({"LexicalReordering0": (1.0,), "LM0": (1.0,)}, "2 value\\(s\\) in the list but 1"),
])
def test_mismatch_with_list(weights: dict, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        Weights(weights, "w.json").vector(SCHEMA, ("list.nbest", 7))
    assert str(info.value).startswith("list.nbest:7:")


def test_unprinted_and_sparse_weights_are_allowed() -> None:
    w = Weights({"LexicalReordering0": (1.0, 2.0), "LM0": (3.0,), "UnknownWordPenalty0": (1.0,),
                 "Rule_ab": (0.5,)})
    np.testing.assert_array_equal(w.vector(SCHEMA), [1.0, 2.0, 3.0])


@pytest.mark.parametrize(("text", "message"), [
    ("[weight]\nLM0= abc\n", ":2: non-numeric weight"),
    ("[weight]\nLM0=\n", ":2: feature 'LM0' has no weights"),
    ("[weight]\nLM0 0.5\n", ":2: expected 'Name= value"),
    ("[feature]\nLM0\n", "no \\[weight\\] section"),
    ('{"LM0": "x"}', "must be a number"),
    ('{"LM0": [1,', ":1: invalid JSON"),
    ("", ":1: empty weights file"),
])
def test_bad_weights(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "w.ini"
    path.write_text(text)
    with pytest.raises(RescoreError, match=message):
        load_weights(path)


def test_default_weight_for_missing_features() -> None:
    w = Weights({"LM0": (2.0,)})
    np.testing.assert_array_equal(w.vector(SCHEMA, default=0.0), [0.0, 0.0, 2.0])
    with pytest.raises(InputError):
        w.vector(SCHEMA)


def test_baseline_as_one_feature_json(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    path.write_text('{"LSTM0": [0.25], "baseline": {"weight": 0.5, "weights": '
                    '{"LM0": [2.0], "TM0": [1.0, -4.0]}}}')
    assert load_weights(path).values == {"LSTM0": (0.25,), "LM0": (1.0,), "TM0": (0.5, -2.0)}
    path.write_text('{"LM0": [1], "baseline": {"weight": 0.5, "weights": {"LM0": [2.0]}}}')
    with pytest.raises(InputError, match="has a weight of its own"):
        load_weights(path)
    path.write_text('{"LM0": [1], "baseline": {"weights": {"X0": [2.0]}}}')
    with pytest.raises(InputError, match='"baseline" must be'):
        load_weights(path)
