"""Reranking: a pure reranker for one sentence's hypotheses, and a driver over whole files."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

from rescore.errors import InputError
from rescore.features.base import FeatureScorer
from rescore.files import atomic_outputs, read_lines
from rescore.nbest import NbestBlock, iter_sentences
from rescore.weights import Weights

MissingPolicy = Literal["empty", "error"]
MISSING_POLICIES: tuple[MissingPolicy, ...] = ("empty", "error")


def rerank_order(scores: np.ndarray) -> np.ndarray:
    """Indices sorting ``scores`` best first; ties keep their listed order (stable)."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")


def rerank_block(block: NbestBlock, weights: Weights) -> NbestBlock:
    """``block`` with totals recomputed as features x weights, sorted best first."""
    vec = weights.vector(block.schema, (block.path, block.first_line))
    scores = block.values @ vec
    return block.with_totals(scores).reordered(rerank_order(scores))


@dataclass
class RerankStats:
    """What a run did, for the CLI's summary line."""

    sentences: int = 0
    hypotheses: int = 0
    missing: list[int] = field(default_factory=list)
    changed_1best: int = 0


def rerank_file(
    nbest: str | Path,
    *,
    weights: Weights | None = None,
    features: Sequence[FeatureScorer] = (),
    source: str | Path | None = None,
    output_nbest: str | Path | None = None,
    output_1best: str | Path | None = None,
    missing: MissingPolicy = "empty",
    progress: bool = False,
) -> RerankStats:
    """Add ``features`` to every hypothesis, rerank with ``weights`` (if given) and write.

    Without weights the order and totals are kept (the list is only annotated). A sentence
    for which the list has no hypotheses gets an empty 1-best line (``missing="empty"``) or
    is an error (``"error"``); later sentences never shift. Outputs appear atomically.
    """
    sources = read_lines(source) if source is not None else None
    num = len(sources) if sources is not None else None
    stats = RerankStats()
    sentences = iter_sentences(nbest, num, str(source))
    with atomic_outputs(output_nbest, output_1best) as (out_nbest, out_1best), \
            tqdm(total=num, unit="sent", disable=not progress, file=sys.stderr,
                 desc="rerank") as bar:
        for sent_id, block in sentences:
            bar.update(1)
            stats.sentences += 1
            if block is None:
                if missing == "error":
                    raise InputError(nbest, None, f"no hypotheses for sentence {sent_id} "
                                     "(use --missing empty to write an empty 1-best line)")
                stats.missing.append(sent_id)
                if out_1best is not None:
                    out_1best.write("\n")
                continue
            stats.hypotheses += len(block)
            src = sources[sent_id] if sources is not None else None
            for scorer in features:
                block = block.with_feature(scorer.name, scorer.score_block(block, src))
            before = block.hypothesis(0)
            if weights is not None:
                block = rerank_block(block, weights)
            best = block.hypothesis(0)
            stats.changed_1best += best != before
            if out_nbest is not None:
                out_nbest.write(block.text())
            if out_1best is not None:
                out_1best.write(best + "\n")
    return stats
