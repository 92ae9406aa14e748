"""Oracle rescoring: the best a reranker could do with an n-best list, judged against references.

``sentence``: per sentence, the hypothesis with the best smoothed sentence BLEU (sacrebleu,
exp smoothing, effective order). ``corpus``: a greedy corpus-BLEU oracle that starts from the
sentence oracle and changes one sentence's choice at a time while corpus BLEU improves
(passes over all sentences until none changes). The top-k variants restrict each sentence to
the hypotheses among its first k listed entries: how much room the list leaves at depth k.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from rescore.errors import RescoreError, unknown_choice
from rescore.files import read_lines
from rescore.metrics import (
    DEFAULT_TOKENIZE,
    STATS_DIM,
    corpus_bleu_from_stats,
    list_stats,
    make_bleu,
    sentence_bleu_from_stats,
)

OracleMethod = Literal["sentence", "corpus"]
ORACLE_METHODS: tuple[OracleMethod, ...] = ("sentence", "corpus")
MAX_PASSES = 20


@dataclass
class OracleCandidates:
    """One sentence's distinct hypotheses: text, first listed position (0-based), BLEU
    statistics ``(c, STATS_DIM)`` and smoothed sentence BLEU ``(c,)``."""

    texts: list[str]
    first_pos: np.ndarray
    stats: np.ndarray
    sent_bleu: np.ndarray


def collect_candidates(
    nbest: str | Path, references: Sequence[str], tokenize: str = DEFAULT_TOKENIZE,
    ref_name: str = "the reference", progress: bool = False,
) -> list[OracleCandidates]:
    """Distinct hypotheses of every sentence with their BLEU statistics
    (:func:`rescore.metrics.list_stats`; the list must cover the references)."""
    return [OracleCandidates(s.texts, s.first_pos, s.stats, sentence_bleu_from_stats(s.stats))
            for s in list_stats(nbest, references, tokenize, ref_name, progress, "oracle")]


def _allowed(c: OracleCandidates, k: int | None) -> np.ndarray:
    return np.ones(len(c.texts), dtype=bool) if k is None else c.first_pos < k


def sentence_oracle(cands: Sequence[OracleCandidates], k: int | None = None) -> np.ndarray:
    """Per sentence, the index of the best sentence-BLEU candidate among the first k entries
    (ties: the earliest listed)."""
    choice = np.empty(len(cands), dtype=np.int64)
    for i, c in enumerate(cands):
        scores = np.where(_allowed(c, k), c.sent_bleu, -np.inf)
        choice[i] = int(np.argmax(scores))  # candidates are in listed order: ties go first
    return choice


def corpus_oracle(cands: Sequence[OracleCandidates], k: int | None = None) -> np.ndarray:
    """Greedy corpus-BLEU oracle: start from the sentence oracle, then sweep the sentences,
    each time taking the candidate that most raises corpus BLEU, until a pass changes none."""
    choice = sentence_oracle(cands, k)
    total = np.sum([c.stats[j] for c, j in zip(cands, choice, strict=True)], axis=0)
    current = float(corpus_bleu_from_stats(total))
    for _ in range(MAX_PASSES):
        changed = 0
        for i, c in enumerate(cands):
            base = total - c.stats[choice[i]]
            scores = corpus_bleu_from_stats(base + c.stats)
            scores[~_allowed(c, k)] = -np.inf
            best = int(np.argmax(scores))
            if scores[best] > current + 1e-9:
                choice[i], total, current = best, base + c.stats[best], float(scores[best])
                changed += 1
        if not changed:
            break
    return choice


def choose(cands: Sequence[OracleCandidates], method: OracleMethod,
           k: int | None = None) -> list[str]:
    if method not in ORACLE_METHODS:
        raise unknown_choice("oracle method", method, ORACLE_METHODS)
    pick = sentence_oracle if method == "sentence" else corpus_oracle
    return [c.texts[j] for c, j in zip(cands, pick(cands, k), strict=True)]


def first_best(cands: Sequence[OracleCandidates]) -> list[str]:
    """The list's own 1-best (first listed hypothesis) of each sentence."""
    return [c.texts[0] for c in cands]


def stats_total(cands: Sequence[OracleCandidates], texts: Sequence[str]) -> np.ndarray:
    """Summed statistics of the chosen texts (one per sentence)."""
    rows = [c.stats[c.texts.index(t)] for c, t in zip(cands, texts, strict=True)]
    return np.sum(rows, axis=0) if rows else np.zeros(STATS_DIM)


def load_references(path: str | Path) -> list[str]:
    refs = read_lines(path)
    if not refs:
        raise RescoreError(f"{path}: empty reference file")
    return refs


@dataclass
class OracleResult:
    """The oracle's hypotheses and its figures: the list's own 1-best BLEU, the oracle's, and
    the oracle over the first k entries for every depth the lists are deep enough for."""

    texts: list[str]
    report: dict[str, object]


def run_oracle(nbest: str | Path, references: Sequence[str], method: OracleMethod = "sentence",
               depths: Sequence[int] = (1, 10, 100, 1000), tokenize: str = DEFAULT_TOKENIZE,
               ref_name: str = "the reference", progress: bool = False) -> OracleResult:
    """Oracle rescoring of a list against its references (sacrebleu corpus BLEU).

    Depths beyond the deepest list are left out (the oracle over all entries is
    ``oracle_bleu``): a 12-best list reports depths 1 and 10, not 100 and 1000."""
    cands = collect_candidates(nbest, references, tokenize, ref_name, progress)
    bleu = make_bleu(tokenize)

    def score(texts: list[str]) -> float:
        return float(bleu.corpus_score(texts, [list(references)]).score)

    deepest = max((int(c.first_pos.max()) + 1 for c in cands), default=1)
    oracle = choose(cands, method)
    report: dict[str, object] = {
        "nbest": str(nbest), "method": method, "sentences": len(references),
        "distinct_hypotheses": sum(len(c.texts) for c in cands),
        "baseline_1best_bleu": score(first_best(cands)),
        "oracle_bleu": score(oracle),
        "oracle_bleu_at_k": {str(k): score(choose(cands, method, k)) for k in depths
                             if k <= deepest},
        "signature": str(bleu.get_signature()),
    }
    return OracleResult(oracle, report)
