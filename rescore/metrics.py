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
from rescore.nbest import NbestBlock, iter_sentences

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
        index: dict[str, int] = {}
        inverse = np.fromiter((index.setdefault(h, len(index)) for h in block.hypotheses),
                              dtype=np.int64, count=len(block))
        texts = list(index)
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


def sentence_bleu_from_stats(stats: np.ndarray) -> np.ndarray:
    """Smoothed sentence BLEU (0-100) of statistics rows ``(..., STATS_DIM)``, vectorised:
    sacrebleu's ``BLEU.compute_bleu`` with exp smoothing and effective order (the orders
    with at least one hypothesis n-gram), as ``sentence_score`` with ``effective_order=True``
    gives it; a test checks the two against each other."""
    s = np.asarray(stats, dtype=np.float64)
    sys_len, ref_len = s[..., 0], s[..., 1]
    correct, total = s[..., 2:6], s[..., 6:10]
    order = (total > 0).sum(axis=-1)  # totals fall with n: the leading orders with n-grams
    used = np.arange(4) < order[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        bp = np.where(sys_len < ref_len,
                      np.where(sys_len > 0, np.exp(1.0 - ref_len / sys_len), 0.0), 1.0)
        zero = (correct == 0) & used
        smooth = np.exp2(np.cumsum(zero, axis=-1))
        prec = np.where(zero, 100.0 / (smooth * total), 100.0 * correct / total)
        logs = np.where(used, np.log(np.where(used, prec, 1.0)), 0.0)
        score = bp * np.exp(logs.sum(axis=-1) / np.maximum(order, 1))
    bad = (order == 0) | ~(correct > 0).any(axis=-1)
    return np.where(bad, 0.0, score)


def corpus_bleu_from_stats(stats: np.ndarray) -> np.ndarray:
    """Corpus BLEU (0-100) of summed statistics rows ``(..., STATS_DIM)``, vectorised.

    The same numbers as sacrebleu's ``BLEU.compute_bleu`` with its corpus defaults (exp
    smoothing, no effective order): a test checks this against sacrebleu.
    """
    s = np.asarray(stats, dtype=np.float64)
    sys_len, ref_len = s[..., 0], s[..., 1]
    correct, total = s[..., 2:6], s[..., 6:10]
    with np.errstate(divide="ignore", invalid="ignore"):
        bp = np.where(sys_len < ref_len,
                      np.where(sys_len > 0, np.exp(1.0 - ref_len / sys_len), 0.0), 1.0)
        zero = correct == 0
        smooth = np.exp2(np.cumsum(zero, axis=-1))
        prec = np.where(zero, 100.0 / (smooth * total), 100.0 * correct / total)
        log_mean = np.log(prec).mean(axis=-1)
        score = bp * np.exp(log_mean)
    bad = (total == 0).any(axis=-1) | ~(correct > 0).any(axis=-1)
    return np.where(bad, 0.0, score)


def corpus_scores(
    hypotheses: Sequence[str], reference: Sequence[str], tokenize: str = DEFAULT_TOKENIZE
) -> tuple[float, float, str, str]:
    """``(BLEU, chrF, BLEU signature, chrF signature)`` of one system."""
    bleu, chrf = make_bleu(tokenize), make_chrf()
    b = bleu.corpus_score(list(hypotheses), [list(reference)])
    c = chrf.corpus_score(list(hypotheses), [list(reference)])
    return b.score, c.score, str(bleu.get_signature()), str(chrf.get_signature())
