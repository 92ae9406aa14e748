"""Oracles on small constructed candidate sets."""

from __future__ import annotations

import numpy as np

from rescore.metrics import corpus_bleu_from_stats, make_bleu, segment_stats
from rescore.oracle import OracleCandidates, choose, corpus_oracle, sentence_oracle


def candidates(hyps: list[str], ref: str) -> OracleCandidates:
    bleu = make_bleu(sentence=True)
    rows = [segment_stats(bleu, h, ref) for h in hyps]
    return OracleCandidates(hyps, np.arange(len(hyps)), np.stack([r[0] for r in rows]),
                      np.array([r[1] for r in rows]))


CANDS = [
    candidates(["a dog runs", "the dog runs fast", "the dog runs"], "the dog runs fast"),
    candidates(["a cat", "the cat sits", "cat sits on mat"], "the cat sits on the mat"),
]


def test_sentence_oracle_picks_best_sentence_bleu_within_depth() -> None:
    assert sentence_oracle(CANDS).tolist() == [1, 2]
    assert sentence_oracle(CANDS, k=1).tolist() == [0, 0]
    assert choose(CANDS, "sentence", k=2) == ["the dog runs fast", "the cat sits"]


def test_corpus_oracle_never_below_sentence_oracle_and_is_a_local_optimum() -> None:
    def bleu(choice: np.ndarray) -> float:
        rows = [c.stats[j] for c, j in zip(CANDS, choice, strict=True)]
        return float(corpus_bleu_from_stats(np.sum(rows, axis=0)))

    greedy = corpus_oracle(CANDS)
    assert bleu(greedy) >= bleu(sentence_oracle(CANDS))
    for i, c in enumerate(CANDS):  # no single change improves it
        for j in range(len(c.texts)):
            changed = greedy.copy()
            changed[i] = j
            assert bleu(changed) <= bleu(greedy) + 1e-9
