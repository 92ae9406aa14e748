"""MBR: vectorised utilities equal sacrebleu's sentence scores; the choice equals a direct
computation with sacrebleu calls; options and lists are checked."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pytest
from sacrebleu.metrics import BLEU, CHRF

from rescore.errors import InputError, RescoreError
from rescore.mbr import bleu_utilities, chrf_utilities, mbr_block, run_mbr, scale_curve
from rescore.nbest import read_nbest
from rescore.weights import Weights, load_weights

WORDS = ["a", "b", "c", "d", "e", "f"]


@pytest.mark.parametrize("seed", range(3))
def test_utilities_equal_sacrebleu(seed: int) -> None:
    rng = random.Random(seed)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 9))) for _ in range(25)]
    bleu, chrf = BLEU(tokenize="none", force=True, effective_order=True), CHRF()
    expected_b = [[bleu.sentence_score(h, [r]).score for r in texts] for h in texts]
    expected_c = [[chrf.sentence_score(h, [r]).score for r in texts] for h in texts]
    np.testing.assert_allclose(bleu_utilities(texts, bleu), expected_b, atol=1e-6)
    np.testing.assert_allclose(chrf_utilities(texts, chrf), expected_c, atol=1e-6)


@pytest.mark.parametrize("utility", ["bleu", "chrf"])
def test_choice_equals_a_direct_sacrebleu_loop_on_real_lists(multi30k: Path,
                                                             utility: str) -> None:
    weights = load_weights(multi30k / "moses.ini.tuned")
    metric = BLEU(tokenize="none", force=True, effective_order=True) if utility == "bleu" \
        else CHRF()
    for block in itertools.islice(read_nbest(multi30k / "nbest/val.1000best.gz"), 3):
        choice = mbr_block(block, weights, top=20, scale=0.5, utility=utility)
        scores = block.values @ weights.vector(block.schema)
        top = np.argsort(-scores, kind="stable")[:20]
        p = np.exp(0.5 * (scores[top] - scores[top].max()))
        p /= p.sum()
        texts = [block.hypothesis(int(i)) for i in top]
        expected = [sum(pj * metric.sentence_score(h, [r]).score
                        for pj, r in zip(p, texts, strict=True)) for h in texts]
        np.testing.assert_allclose(choice.expected, expected, atol=1e-6)
        assert choice.entries.tolist() == top.tolist()
        assert choice.order[0] == int(np.argmax(expected))


def write_list(path: Path) -> Path:
    rows = [(0, "a b c d", -1.0), (0, "a b c e", -1.1), (0, "a b c d", -1.2),
            (0, "x y", -0.5), (1, "e f", -2.0), (1, "e f g", -2.5)]
    path.write_text("".join(f"{i} ||| {t} ||| F= {s} ||| {s}\n" for i, t, s in rows))
    return path


def test_run_mbr_writes_1best_and_a_reordered_list(tmp_path: Path) -> None:
    nbest = write_list(tmp_path / "l.nbest")
    one, out = tmp_path / "one", tmp_path / "out.nbest"
    result = run_mbr(nbest, Weights({"F": (1.0,)}), one, out, top=4, scale=1.0)
    # "x y" scores best but shares nothing with the rest: the consensus "a b c d" wins
    assert one.read_text().splitlines() == ["a b c d", "e f"]
    assert result.sentences == 2 and result.changed_1best == 1
    blocks = list(read_nbest(out))
    assert blocks[0].schema.names == ("F", "MBR0") and len(blocks[0]) == 4
    mbr = blocks[0].feature("MBR0")[:, 0]
    assert (np.diff(mbr) <= 0).all() and blocks[0].totals.tolist() == mbr.tolist()
    curve = scale_curve(nbest, ["a b c d", "e f g"], Weights({"F": (1.0,)}), top=4,
                        scales=(0.1, 100.0))
    assert [s for s, _ in curve.points] == [0.1, 100.0]
    assert curve.points[0][1] > curve.points[1][1]  # a sharp posterior: the plain 1-best
    assert curve.plain_bleu == pytest.approx(curve.points[1][1])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"top": 0}, "--top must be at least 1"),
    ({"scale": 0.0}, "--scale must be a positive number"),
    ({"scale": -1.0}, "--scale must be a positive number"),
    ({"utility": "ter"}, "unknown utility 'ter'"),
])
def test_bad_options(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    nbest = write_list(tmp_path / "l.nbest")
    with pytest.raises(RescoreError, match=message):
        run_mbr(nbest, Weights({"F": (1.0,)}), tmp_path / "one", **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "one").exists()


def test_weights_naming_features_the_list_lacks(tmp_path: Path) -> None:
    nbest = write_list(tmp_path / "l.nbest")
    with pytest.raises(InputError, match=r"l\.nbest:1: .*G that the list lacks"):
        run_mbr(nbest, Weights({"F": (1.0,), "G": (1.0,)}), tmp_path / "one")
    assert not (tmp_path / "one").exists()
