"""The vectorised corpus BLEU must equal sacrebleu's."""

from __future__ import annotations

import random

import numpy as np
import pytest

from rescore.metrics import corpus_bleu_from_stats, make_bleu, segment_stats

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
