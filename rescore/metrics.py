"""BLEU and chrF through sacrebleu, plus a vectorised corpus BLEU over sufficient statistics.

Multi30k here is tokenized and lowercased, so the default tokenization is ``none``: BLEU then
compares with multi-bleu.perl on the same text (58.82 on test2016 for the Moses baseline).
The tokenization always appears in the sacrebleu signature.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sacrebleu.metrics import BLEU, CHRF

DEFAULT_TOKENIZE = "none"
TOKENIZERS = ("none", "13a", "intl", "char")
# columns of a statistics row: hypothesis length, reference length, matches and totals n=1..4
STATS_DIM = 10


def make_bleu(tokenize: str = DEFAULT_TOKENIZE, *, sentence: bool = False) -> BLEU:
    """A sacrebleu BLEU: corpus-level by default; ``sentence=True`` uses effective order (the
    usual smoothed sentence BLEU, exp smoothing)."""
    return BLEU(tokenize=tokenize, force=True, effective_order=sentence)


def make_chrf() -> CHRF:
    return CHRF()


def segment_stats(bleu: BLEU, hypothesis: str, reference: str) -> tuple[np.ndarray, float]:
    """``(stats, smoothed sentence BLEU)`` of one hypothesis; stats is a STATS_DIM row."""
    score = bleu.sentence_score(hypothesis, [reference])
    row = np.array([score.sys_len, score.ref_len, *score.counts, *score.totals], dtype=np.int64)
    return row, float(score.score)


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
