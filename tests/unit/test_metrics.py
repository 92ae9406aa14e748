"""BLEU statistics and the vectorised BLEU must equal sacrebleu's own computations."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pytest

from rescore.errors import InputError
from rescore.files import read_lines
from rescore.metrics import (
    ReferenceStats,
    corpus_bleu_from_stats,
    list_stats,
    make_bleu,
    segment_stats,
    sentence_bleu_from_stats,
)
from rescore.nbest import read_nbest

WORDS = ["a", "b", "c", "d", "e", "f", "g"]


def random_corpus(rng: random.Random, size: int, max_len: int) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, max_len)))
            for _ in range(size)]


@pytest.mark.parametrize("seed", range(8))
def test_corpus_bleu_from_stats_equals_sacrebleu(seed: int) -> None:
    rng = random.Random(seed)
    max_len = [1, 2, 3, 8][seed % 4]  # short sentences give zero n-gram matches: smoothing
    hyps, refs = random_corpus(rng, 20, max_len), random_corpus(rng, 20, max_len + 2)
    bleu = make_bleu()
    expected = bleu.corpus_score(hyps, [refs]).score
    stats = np.sum([segment_stats(make_bleu(sentence=True), h, r)[0]
                    for h, r in zip(hyps, refs, strict=True)], axis=0)
    assert corpus_bleu_from_stats(stats) == pytest.approx(expected, abs=1e-9)


def test_vectorised_over_rows() -> None:
    rows = np.array([[4, 4, 4, 3, 2, 1, 4, 3, 2, 1], [0, 4, 0, 0, 0, 0, 0, 0, 0, 0]])
    np.testing.assert_allclose(corpus_bleu_from_stats(rows), [100.0, 0.0])


@pytest.mark.parametrize("seed", range(6))
def test_sentence_bleu_from_stats_equals_sacrebleu_sentence_score(seed: int) -> None:
    rng = random.Random(seed)
    bleu = make_bleu(sentence=True)
    hyps = random_corpus(rng, 40, [1, 2, 3, 8, 5, 12][seed])
    refs = random_corpus(rng, 40, 6)
    rows, expected = zip(*(segment_stats(bleu, h, r) for h, r in zip(hyps, refs, strict=True)),
                         strict=True)
    np.testing.assert_allclose(sentence_bleu_from_stats(np.stack(rows)), expected, atol=1e-9)


@pytest.mark.parametrize("tokenize", ["none", "13a"])
def test_reference_stats_equal_sacrebleu_on_a_real_list(multi30k: Path, tokenize: str) -> None:
    """The shared builder extracts each reference once; its rows must equal sacrebleu's own
    sentence_score, hypothesis by hypothesis, on the first sentences of the real val list."""
    refs = read_lines(multi30k / "val.fr")
    bleu = make_bleu(tokenize, sentence=True)
    for block in itertools.islice(read_nbest(multi30k / "nbest/val.1000best.gz"), 3):
        ref = refs[block.sent_id]
        fast = ReferenceStats(make_bleu(tokenize, sentence=True), ref).rows(block.hypotheses)
        slow = np.stack([segment_stats(bleu, h, ref)[0] for h in block.hypotheses])
        np.testing.assert_array_equal(fast, slow)


def test_list_stats_dedupes_and_requires_every_reference(tmp_path: Path) -> None:
    nbest = tmp_path / "l.nbest"
    nbest.write_text("0 ||| a b ||| F= 1 ||| 1\n0 ||| a c ||| F= 1 ||| 1\n"
                     "0 ||| a b ||| F= 2 ||| 2\n2 ||| x ||| F= 1 ||| 1\n")
    with pytest.raises(InputError, match=r"ref:2: .* no hypotheses for 1 of the 3 reference"):
        list(list_stats(nbest, ["a b", "b", "x"], ref_name="ref"))
    with pytest.raises(InputError, match="past the end of ref"):
        list(list_stats(nbest, ["a b", "x"], ref_name="ref"))
    nbest.write_text("0 ||| a b ||| F= 1 ||| 1\n0 ||| a c ||| F= 1 ||| 1\n"
                     "0 ||| a b ||| F= 2 ||| 2\n1 ||| x ||| F= 1 ||| 1\n")
    first, last = list_stats(nbest, ["a b", "x"], ref_name="ref")
    assert first.texts == ["a b", "a c"] and first.first_pos.tolist() == [0, 1]
    assert first.inverse.tolist() == [0, 1, 0] and len(first.entry_stats()) == 3
    assert last.texts == ["x"] and last.stats[0].tolist() == [1, 1, 1, 0, 0, 0, 1, 0, 0, 0]
