"""The pure reranker."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rescore.nbest import read_nbest
from rescore.rerank import rerank_block, rerank_order
from rescore.weights import Weights


def test_order_is_descending_and_stable_on_ties() -> None:
    scores = np.array([1.0, 3.0, 1.0, 3.0, 2.0])
    assert rerank_order(scores).tolist() == [1, 3, 4, 0, 2]


def test_rerank_block_recomputes_totals(tmp_path: Path) -> None:
    path = tmp_path / "l.nbest"
    path.write_text("0 ||| a ||| LM0= -3 WordPenalty0= -1 ||| 0\n"
                    "0 ||| b ||| LM0= -1 WordPenalty0= -2 ||| 0\n"
                    "0 ||| c ||| LM0= -2 WordPenalty0= -1 ||| 0\n")
    block = next(read_nbest(path))
    out = rerank_block(block, Weights({"LM0": (1.0,), "WordPenalty0": (0.5,)}))
    assert out.hypotheses == ["b", "c", "a"]
    np.testing.assert_allclose(out.totals, [-2.0, -2.5, -3.5])
    assert out.text().splitlines()[0] == "0 ||| b ||| LM0= -1 WordPenalty0= -2 ||| -2"
