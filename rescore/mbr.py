"""Minimum Bayes risk decoding over an n-best list.

For each sentence, the ``top`` best entries under the weights are the evidence: their
posterior is the softmax of ``scale`` x score (natural-log scale, so ``scale`` 1 reads the
score as a log-probability). Each of them is a candidate, and the output is the candidate with
the highest expected utility against the evidence, E[u(h)] = sum_j p_j u(h, h_j), the
candidate itself included. Utilities are sacrebleu's sentence-level metrics with the evidence
entry as the reference: smoothed sentence BLEU (exp smoothing, effective order) or chrF.

Utilities are computed for all candidate pairs at once from n-gram count matrices: the clipped
matches of every pair are sum_t [C >= t] [C >= t]^T over the count thresholds t (a few binary
matrix products), not K^2 metric calls; a test checks them against sacrebleu to 1e-6.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sacrebleu.metrics import BLEU, CHRF
from tqdm import tqdm

from rescore.checks import read_json
from rescore.errors import InputError, RescoreError, unknown_choice
from rescore.metrics import DEFAULT_TOKENIZE, STATS_DIM, make_bleu, make_chrf
from rescore.metrics import sentence_bleu_from_stats as _sentence_bleu
from rescore.nbest import NbestBlock, check_feature_name, distinct, iter_sentences
from rescore.outputs import SystemOutputs
from rescore.rerank import rerank_order
from rescore.weights import Weights

UTILITIES = ("bleu", "chrf")


def _count_matrix(grams: Sequence[Sequence[object]]) -> np.ndarray:
    """``(len(grams), distinct n-grams)`` counts: row i counts the n-grams of item i."""
    index: dict[object, int] = {}
    rows, cols = [], []
    for i, items in enumerate(grams):
        for g in items:
            rows.append(i)
            cols.append(index.setdefault(g, len(index)))
    counts = np.zeros((len(grams), max(1, len(index))), dtype=np.int64)
    np.add.at(counts, (np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64)), 1)
    return counts


def _clipped_matches(counts: np.ndarray) -> np.ndarray:
    """``(K, K)``: sum over n-grams of min(count in i, count in j), for every pair."""
    out = np.zeros((counts.shape[0], counts.shape[0]), dtype=np.int64)
    for t in range(1, int(counts.max(initial=0)) + 1):
        at_least = (counts >= t).astype(np.float64)
        out += np.rint(at_least @ at_least.T).astype(np.int64)
    return out


def bleu_utilities(texts: Sequence[str], bleu: BLEU | None = None) -> np.ndarray:
    """``U[i, j]``: smoothed sentence BLEU of text i with text j as the reference (sacrebleu's
    ``sentence_score`` with effective order), for all pairs at once."""
    bleu = bleu or make_bleu(DEFAULT_TOKENIZE, sentence=True)
    words = [bleu._preprocess_segment(t).split() for t in texts]
    lengths = np.array([len(w) for w in words], dtype=np.int64)
    k = len(texts)
    stats = np.zeros((k, k, STATS_DIM), dtype=np.int64)
    stats[..., 0] = lengths[:, None]
    stats[..., 1] = lengths[None, :]
    for n in range(1, 5):
        grams = [[tuple(w[i:i + n]) for i in range(len(w) - n + 1)] for w in words]
        stats[..., 1 + n] = _clipped_matches(_count_matrix(grams))
        stats[..., 5 + n] = np.maximum(lengths - n + 1, 0)[:, None]
    return _sentence_bleu(stats)


def chrf_utilities(texts: Sequence[str], chrf: CHRF | None = None) -> np.ndarray:
    """``U[i, j]``: sentence chrF of text i with text j as the reference (sacrebleu's
    defaults: character 6-grams without whitespace, beta 2, effective-order averaging)."""
    chrf = chrf or make_chrf()
    if chrf.word_order or chrf.whitespace or chrf.eps_smoothing:
        raise RescoreError("MBR supports chrF with sacrebleu's defaults only (no word n-grams, "
                           "no whitespace, no eps smoothing)")
    chars = ["".join(chrf._preprocess_segment(t).split()) for t in texts]
    k = len(texts)
    factor = chrf.beta ** 2
    avg_prec = np.zeros((k, k))
    avg_rec = np.zeros((k, k))
    orders = np.zeros((k, k))
    for n in range(1, chrf.char_order + 1):
        grams = [[c[i:i + n] for i in range(len(c) - n + 1)] for c in chars]
        total = np.array([len(g) for g in grams], dtype=np.float64)
        match = _clipped_matches(_count_matrix(grams)).astype(np.float64)
        hyp = np.broadcast_to(total[:, None], (k, k))
        ref = np.broadcast_to(total[None, :], (k, k))
        both = (hyp > 0) & (ref > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            avg_prec += np.where(both, match / hyp, 0.0)
            avg_rec += np.where(both, match / ref, 0.0)
        orders += both
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(orders > 0, avg_prec / orders, 0.0)
        r = np.where(orders > 0, avg_rec / orders, 0.0)
        score = 100 * (1 + factor) * p * r / (factor * p + r)
    return np.where(p + r > 0, score, 0.0)


@dataclass
class MbrChoice:
    """One sentence: the candidates (the top entries, best first under the weights), their
    posterior and expected utilities, and the candidates ordered by expected utility."""

    entries: np.ndarray  # indices into the block, the top entries
    posterior: np.ndarray
    expected: np.ndarray
    order: np.ndarray  # positions in ``entries``, highest expected utility first (stable)


def mbr_block(block: NbestBlock, weights: Weights, top: int, scale: float,
              utility: str = "bleu", metric: BLEU | CHRF | None = None) -> MbrChoice:
    """MBR over one sentence's list (see the module's docstring)."""
    scores = block.values @ weights.vector(block.schema, (block.path, block.first_line))
    entries = rerank_order(scores)[:top]
    logits = scale * scores[entries]
    posterior = np.exp(logits - logits.max())
    posterior /= posterior.sum()
    texts = [block.hypothesis(int(i)) for i in entries]
    unique, which = distinct(texts)
    if utility == "bleu":
        table = bleu_utilities(unique, metric if isinstance(metric, BLEU) else None)
    else:
        table = chrf_utilities(unique, metric if isinstance(metric, CHRF) else None)
    expected = table[which][:, which] @ posterior
    return MbrChoice(entries, posterior, expected, rerank_order(expected))


@dataclass
class MbrResult:
    sentences: int
    changed_1best: int


def run_mbr(nbest: str | Path, weights: Weights, output_1best: str | Path | None = None,
            output_nbest: str | Path | None = None, top: int = 100, scale: float = 1.0,
            utility: str = "bleu", tokenize: str = DEFAULT_TOKENIZE, feature: str = "MBR0",
            progress: bool = False) -> MbrResult:
    """MBR over a whole list: the 1-best of every sentence and, with ``output_nbest``, each
    sentence's top entries reordered by expected utility with it appended as ``feature`` and
    as the total. Outputs appear atomically; a sentence without entries is an error."""
    check_mbr_options(top, scale, utility)
    if output_1best is None and output_nbest is None:
        raise RescoreError("nothing to write: give --output-1best and/or --output-nbest")
    try:
        check_feature_name(feature)
    except ValueError as err:
        raise RescoreError(str(err)) from None
    metric: BLEU | CHRF = make_bleu(tokenize, sentence=True) if utility == "bleu" \
        else make_chrf()
    result = MbrResult(0, 0)
    with SystemOutputs(output_1best, output_nbest) as out:
        for sent_id, block in tqdm(iter_sentences(nbest), unit="sent", desc="mbr",
                                   disable=not progress, file=sys.stderr):
            if block is None:
                raise InputError(nbest, None, f"no hypotheses for sentence {sent_id}")
            if out.wants_nbest and feature in block.schema.names:
                raise InputError(nbest, block.first_line, f"the list already has a feature "
                                 f"{feature!r} (an earlier rescore-mbr's output?): give "
                                 "--feature another name")
            choice = mbr_block(block, weights, top, scale, utility, metric)
            picked = choice.entries[choice.order]
            result.sentences += 1
            result.changed_1best += block.hypothesis(int(picked[0])) != \
                block.hypothesis(int(choice.entries[0]))
            lines = ""
            if out.wants_nbest:
                values = choice.expected[choice.order]
                kept = block.reordered(picked).with_feature(feature, values)
                lines = kept.with_totals(values).text()
            out.write(sent_id, block.hypothesis(int(picked[0])), lines)
    return result


def check_mbr_options(top: int, scale: float, utility: str) -> None:
    if top < 1:
        raise RescoreError(f"--top must be at least 1, not {top}")
    if not (scale > 0 and math.isfinite(scale)):
        raise RescoreError(f"--scale must be a positive number, not {scale}")
    if utility not in UTILITIES:
        raise unknown_choice("utility", utility, UTILITIES)


# tuned weights come in any scale (MERT's are L1-normalised: scores differ by hundredths), so
# the posterior's scale is searched over six orders of magnitude
DEFAULT_SCALES = tuple(float(f"{x:.3g}") for x in np.logspace(-2, 4, 25))


@dataclass
class ScaleCurve:
    """Dev BLEU of MBR's choices at each scale (``points``: ``[(scale, BLEU)]``) and of the
    weights' own 1-best (``plain_bleu``), the start MBR is measured against."""

    points: list[tuple[float, float]]
    plain_bleu: float


def scale_curve(nbest: str | Path, references: Sequence[str], weights: Weights, top: int = 100,
                utility: str = "bleu", scales: Sequence[float] = DEFAULT_SCALES,
                tokenize: str = DEFAULT_TOKENIZE, ref_name: str = "the reference",
                progress: bool = False) -> ScaleCurve:
    """Corpus BLEU on a dev list of MBR's 1-best at each posterior scale, and of the weights'
    own 1-best (no MBR). Each sentence's utilities are computed once and shared by every
    scale."""
    for scale in scales:
        check_mbr_options(top, scale, utility)
    metric: BLEU | CHRF = make_bleu(tokenize, sentence=True) if utility == "bleu" \
        else make_chrf()
    picks: dict[float, list[str]] = {s: [] for s in scales}
    plain: list[str] = []  # the weights' own 1-best
    for sent_id, block in tqdm(iter_sentences(nbest, len(references), ref_name), unit="sent",
                               desc="mbr scales", disable=not progress, file=sys.stderr):
        if block is None:
            raise InputError(ref_name, sent_id + 1, f"the list {nbest} has no hypotheses for "
                             f"sentence {sent_id}; the reference and the list do not match")
        scores = block.values @ weights.vector(block.schema, (block.path, block.first_line))
        entries = rerank_order(scores)[:top]
        texts = [block.hypothesis(int(i)) for i in entries]
        plain.append(texts[0])
        unique, which = distinct(texts)
        table = bleu_utilities(unique, metric) if isinstance(metric, BLEU) \
            else chrf_utilities(unique, metric)
        pairs = table[which][:, which]
        for scale in scales:
            logits = scale * scores[entries]
            posterior = np.exp(logits - logits.max())
            picks[scale].append(texts[int(np.argmax(pairs @ (posterior / posterior.sum())))])
    corpus = make_bleu(tokenize)
    refs = [list(references)]
    return ScaleCurve([(s, float(corpus.corpus_score(picks[s], refs).score)) for s in scales],
                      float(corpus.corpus_score(plain, refs).score))


def choose_scale(nbest: str | Path, references: Sequence[str], weights: Weights,
                 weights_name: str, top: int = 100, utility: str = "bleu",
                 scales: Sequence[float] = DEFAULT_SCALES, tokenize: str = DEFAULT_TOKENIZE,
                 ref_name: str = "the reference") -> dict[str, object]:
    """The posterior scale of the best dev BLEU (the first of equal maxima), as the report
    ``rescore-tune --method mbr-scale`` writes and :func:`tuned_scale` reads: the scale, dev
    BLEU of the weights' own 1-best and of MBR at that scale, the whole curve, and what it
    holds for (``top``, ``utility``, ``tokenize``, the weights)."""
    curve = scale_curve(nbest, references, weights, top, utility, scales, tokenize, ref_name)
    scale, bleu = max(curve.points, key=lambda t: t[1])
    return {"method": "mbr-scale", "scale": scale, "dev_bleu_start": curve.plain_bleu,
            "dev_bleu_tuned": bleu, "curve": curve.points, "top": top, "utility": utility,
            "tokenize": tokenize, "weights": weights_name}


def tuned_scale(report: Path, top: int, utility: str) -> float:
    """The scale a :func:`choose_scale` report chose; it must have been tuned for the same
    ``top`` and ``utility``."""
    try:
        info = read_json(report)
        method, scale = info["method"], float(info["scale"])
    except (KeyError, TypeError, ValueError) as err:
        missing = f"no {err} in it" if isinstance(err, KeyError) else str(err)
        raise RescoreError(f"{report}: not a report of rescore-tune --method mbr-scale "
                           f"({missing}; such a report is the .report.json beside the "
                           "scale's tuning output)") from None
    if method != "mbr-scale":
        raise RescoreError(f"{report}: a report of --method {method}, not mbr-scale")
    if (info.get("top"), info.get("utility")) != (top, utility):
        raise RescoreError(f"{report}: the scale was tuned for --top {info.get('top')} "
                           f"--utility {info.get('utility')}; this run has --top {top} "
                           f"--utility {utility}")
    return scale
