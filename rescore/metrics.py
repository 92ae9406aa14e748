"""BLEU and chrF through sacrebleu, plus a vectorised corpus BLEU over sufficient statistics.

Multi30k here is tokenized and lowercased, so the default tokenization is ``none``: BLEU then
compares with multi-bleu.perl on the same text (58.82 on test2016 for the Moses baseline).
The tokenization always appears in the sacrebleu signature.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sacrebleu.metrics import BLEU, CHRF
from tqdm import tqdm

from rescore.errors import InputError
from rescore.nbest import NbestBlock, distinct, iter_sentences

DEFAULT_TOKENIZE = "none"
BLEU_TOKENIZERS = ("none", "13a", "intl", "char")  # sacrebleu tokenizers
# columns of a statistics row: hypothesis length, reference length, matches and totals n=1..4
STATS_DIM = 10


def make_bleu(tokenize: str = DEFAULT_TOKENIZE, *, sentence: bool = False) -> BLEU:
    """A sacrebleu BLEU: corpus-level by default; ``sentence=True`` uses effective order (the
    usual smoothed sentence BLEU, exp smoothing)."""
    return BLEU(tokenize=tokenize, force=True, effective_order=sentence)


def make_chrf() -> CHRF:
    return CHRF()


class ReferenceStats:
    """BLEU sufficient statistics of hypotheses against ONE reference, whose n-grams are
    extracted once (sacrebleu's sentence_score extracts them again on every call).

    Rows are ``[hyp_len, ref_len, matches n=1..4, totals n=1..4]`` (STATS_DIM), exactly as
    sacrebleu's BLEU computes them with the same tokenizer (its own preprocessing and n-gram
    extraction are used); a test checks equality with ``BLEU.sentence_score`` on real lists.
    """

    def __init__(self, bleu: BLEU, reference: str) -> None:
        self.bleu = bleu
        self.info = bleu._extract_reference_info([bleu._preprocess_segment(reference)])

    def row(self, hypothesis: str) -> np.ndarray:
        bleu = self.bleu
        return np.array(bleu._compute_segment_statistics(bleu._preprocess_segment(hypothesis),
                                                         self.info), dtype=np.int64)

    def rows(self, hypotheses: Sequence[str]) -> np.ndarray:
        """``(len(hypotheses), STATS_DIM)`` statistics."""
        if not hypotheses:
            return np.zeros((0, STATS_DIM), dtype=np.int64)
        return np.stack([self.row(h) for h in hypotheses])


@dataclass
class SentenceStats:
    """One sentence of an n-best list judged against its reference: the distinct hypotheses
    (``texts``, in order of first appearance, and ``first_pos``, the first listed position of
    each), their ``(len(texts), STATS_DIM)`` BLEU statistics, and ``inverse``: for every
    listed entry of ``block``, the index of its text."""

    sent_id: int
    block: NbestBlock
    texts: list[str]
    first_pos: np.ndarray
    stats: np.ndarray
    inverse: np.ndarray

    def entry_stats(self) -> np.ndarray:
        """Statistics of every listed entry: ``(len(block), STATS_DIM)``."""
        return self.stats[self.inverse]


def list_stats(nbest: str | Path, references: Sequence[str], tokenize: str = DEFAULT_TOKENIZE,
               ref_name: str = "the reference", progress: bool = False,
               desc: str = "BLEU statistics") -> Iterator[SentenceStats]:
    """BLEU statistics of every sentence of a list against its reference line, each reference's
    n-grams extracted once and each distinct hypothesis scored once (the one builder that
    tuning and the oracle share).

    The list must cover the references: a reference line without hypotheses is an error
    naming it (after the whole list is read, with the count), since BLEU over part of the set
    would judge another corpus. Ids past the references' end are an error too.
    """
    bleu = make_bleu(tokenize, sentence=True)
    missing: list[int] = []
    sentences = iter_sentences(nbest, len(references), ref_name)
    for sent_id, block in tqdm(sentences, total=len(references), unit="sent", desc=desc,
                               disable=not progress, file=sys.stderr):
        if block is None:
            missing.append(sent_id)
            continue
        texts, inverse = distinct(block.hypotheses)
        first_pos = np.full(len(texts), len(block), dtype=np.int64)
        np.minimum.at(first_pos, inverse, np.arange(len(block)))
        yield SentenceStats(sent_id, block, texts, first_pos,
                            ReferenceStats(bleu, references[sent_id]).rows(texts), inverse)
    if missing:
        raise InputError(ref_name, missing[0] + 1, f"the list {nbest} has no hypotheses for "
                         f"{len(missing)} of the {len(references)} reference lines (first: "
                         f"sentence id {missing[0]}); the reference and the list do not match")


def segment_stats(bleu: BLEU, hypothesis: str, reference: str) -> tuple[np.ndarray, float]:
    """``(stats, smoothed sentence BLEU)`` of one hypothesis by sacrebleu's own
    ``sentence_score``: the reference implementation the fast paths are tested against."""
    score = bleu.sentence_score(hypothesis, [reference])
    row = np.array([score.sys_len, score.ref_len, *score.counts, *score.totals], dtype=np.int64)
    return row, float(score.score)


def bleu_from_stats(stats: np.ndarray, *, smooth: str = "exp",
                    effective_order: bool = False) -> np.ndarray:
    """BLEU (0-100) of statistics rows ``(..., STATS_DIM)`` (hypothesis length, reference
    length, matches and totals of orders 1-4), vectorised: one pure function from counts, as
    sacrebleu's ``BLEU.compute_bleu`` is. ``smooth``: ``exp`` (sacrebleu's default: a zero
    match count at order n counts as 1 / 2^k, k the zero orders so far) or ``none``.
    ``effective_order``: the geometric mean over the orders the hypothesis has n-grams for
    (sentence BLEU); otherwise all four, and a row without n-grams of some order scores 0."""
    s = np.asarray(stats, dtype=np.float64)
    sys_len, ref_len = s[..., 0], s[..., 1]
    correct, total = s[..., 2:6], s[..., 6:10]
    # effective order: totals fall with n, so the orders with n-grams are the leading ones
    order = (total > 0).sum(axis=-1) if effective_order else np.full(sys_len.shape, 4)
    used = np.arange(4) < order[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        bp = np.where(sys_len < ref_len,
                      np.where(sys_len > 0, np.exp(1.0 - ref_len / sys_len), 0.0), 1.0)
        prec = 100.0 * correct / total
        if smooth == "exp":
            zero = (correct == 0) & used
            prec = np.where(zero, 100.0 / (np.exp2(np.cumsum(zero, axis=-1)) * total), prec)
        elif smooth != "none":
            raise ValueError(f"smooth: exp or none, not {smooth!r}")
        logs = np.where(used, np.log(np.where(used, prec, 1.0)), 0.0)
        score = bp * np.exp(logs.sum(axis=-1) / np.maximum(order, 1))
    bad = (order == 0) | ~(correct > 0).any(axis=-1)
    if not effective_order:
        bad |= (total == 0).any(axis=-1)
    return np.where(bad, 0.0, score)


def sentence_bleu_from_stats(stats: np.ndarray) -> np.ndarray:
    """Smoothed sentence BLEU: :func:`bleu_from_stats` with exp smoothing and effective
    order, as sacrebleu's ``sentence_score`` gives it (a test checks the two)."""
    return bleu_from_stats(stats, effective_order=True)


def corpus_bleu_from_stats(stats: np.ndarray) -> np.ndarray:
    """Corpus BLEU of summed statistics: :func:`bleu_from_stats` with sacrebleu's corpus
    defaults (exp smoothing, no effective order; a test checks it against sacrebleu)."""
    return bleu_from_stats(stats)


def corpus_scores(
    hypotheses: Sequence[str], reference: Sequence[str], tokenize: str = DEFAULT_TOKENIZE
) -> tuple[float, float, str, str]:
    """``(BLEU, chrF, BLEU signature, chrF signature)`` of one system."""
    bleu, chrf = make_bleu(tokenize), make_chrf()
    b = bleu.corpus_score(list(hypotheses), [list(reference)])
    c = chrf.corpus_score(list(hypotheses), [list(reference)])
    return b.score, c.score, str(bleu.get_signature()), str(chrf.get_signature())
