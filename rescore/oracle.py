"""Oracle rescoring: the best a reranker could do with an n-best list, judged against references.

``sentence``: per sentence, the hypothesis with the best smoothed sentence BLEU (sacrebleu,
exp smoothing, effective order). ``corpus``: a greedy corpus-BLEU oracle that starts from the
sentence oracle and changes one sentence's choice at a time while corpus BLEU improves
(passes over all sentences until none changes). The top-k variants restrict each sentence to
the hypotheses among its first k listed entries: how much room the list leaves at depth k.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

from rescore.errors import RescoreError
from rescore.files import read_lines
from rescore.metrics import (
    DEFAULT_TOKENIZE,
    STATS_DIM,
    corpus_bleu_from_stats,
    make_bleu,
    segment_stats,
)
from rescore.nbest import iter_sentences

OracleMethod = Literal["sentence", "corpus"]
ORACLE_METHODS: tuple[OracleMethod, ...] = ("sentence", "corpus")
MAX_PASSES = 20


@dataclass
class Candidates:
    """One sentence's distinct hypotheses: text, first listed position (0-based), BLEU
    statistics ``(c, STATS_DIM)`` and smoothed sentence BLEU ``(c,)``. A sentence without
    hypotheses has one candidate, the empty string."""

    texts: list[str]
    first_pos: np.ndarray
    stats: np.ndarray
    sent_bleu: np.ndarray


def collect_candidates(
    nbest: str | Path, references: Sequence[str], tokenize: str = DEFAULT_TOKENIZE,
    ref_name: str = "the reference", progress: bool = False,
) -> list[Candidates]:
    """Distinct hypotheses of every sentence with their BLEU statistics (one sacrebleu call
    per distinct hypothesis)."""
    bleu = make_bleu(tokenize, sentence=True)
    out: list[Candidates] = []
    sentences = iter_sentences(nbest, len(references), ref_name)
    for sent_id, block in tqdm(sentences, total=len(references), unit="sent", desc="oracle",
                               disable=not progress, file=sys.stderr):
        first: dict[str, int] = {}
        for pos, hyp in enumerate(block.hypotheses if block is not None else [""]):
            first.setdefault(hyp, pos)
        texts = list(first)
        rows = [segment_stats(bleu, h, references[sent_id]) for h in texts]
        out.append(Candidates(texts, np.fromiter(first.values(), dtype=np.int64, count=len(first)),
                              np.stack([r[0] for r in rows]),
                              np.array([r[1] for r in rows])))
    return out


def _allowed(c: Candidates, k: int | None) -> np.ndarray:
    return np.ones(len(c.texts), dtype=bool) if k is None else c.first_pos < k


def sentence_oracle(cands: Sequence[Candidates], k: int | None = None) -> np.ndarray:
    """Per sentence, the index of the best sentence-BLEU candidate among the first k entries
    (ties: the earliest listed)."""
    choice = np.empty(len(cands), dtype=np.int64)
    for i, c in enumerate(cands):
        scores = np.where(_allowed(c, k), c.sent_bleu, -np.inf)
        choice[i] = int(np.argmax(scores))  # candidates are in listed order: ties go first
    return choice


def corpus_oracle(cands: Sequence[Candidates], k: int | None = None) -> np.ndarray:
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


def choose(cands: Sequence[Candidates], method: OracleMethod, k: int | None = None) -> list[str]:
    if method not in ORACLE_METHODS:
        raise RescoreError(f"unknown oracle method {method!r}; choose from "
                           f"{', '.join(ORACLE_METHODS)}")
    pick = sentence_oracle if method == "sentence" else corpus_oracle
    return [c.texts[j] for c, j in zip(cands, pick(cands, k), strict=True)]


def first_best(cands: Sequence[Candidates]) -> list[str]:
    """The list's own 1-best (first listed hypothesis) of each sentence."""
    return [c.texts[0] for c in cands]


def stats_total(cands: Sequence[Candidates], texts: Sequence[str]) -> np.ndarray:
    """Summed statistics of the chosen texts (one per sentence)."""
    rows = [c.stats[c.texts.index(t)] for c, t in zip(cands, texts, strict=True)]
    return np.sum(rows, axis=0) if rows else np.zeros(STATS_DIM)


def load_references(path: str | Path) -> list[str]:
    refs = read_lines(path)
    if not refs:
        raise RescoreError(f"{path}: empty reference file")
    return refs
