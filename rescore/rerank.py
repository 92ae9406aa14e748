"""Reranking: a pure reranker for one sentence's hypotheses (:func:`rerank_block` with a
:class:`Combiner`), and a driver over whole files in three steps: :func:`annotate` adds the
feature scorers' columns, :func:`rerank_block` reorders, :class:`NbestWriter` writes."""

from __future__ import annotations

import heapq
import itertools
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, TypeVar

import numpy as np
from tqdm import tqdm

from rescore.errors import InputError
from rescore.features.base import FeatureScorer
from rescore.files import atomic_outputs, read_lines
from rescore.nbest import NbestBlock, iter_sentences
from rescore.outputs import SystemOutputs
from rescore.weights import Weights

T = TypeVar("T")
MissingPolicy = Literal["empty", "error"]
MISSING_POLICIES: tuple[MissingPolicy, ...] = ("empty", "error")


def rerank_order(scores: np.ndarray) -> np.ndarray:
    """Indices sorting ``scores`` best first; ties keep their listed order (stable)."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")


class Combiner(Protocol):
    """Turns a sentence's feature values into one score per hypothesis (higher is better)."""

    def scores(self, block: NbestBlock) -> np.ndarray: ...


@dataclass(frozen=True)
class LinearCombiner:
    """Features x weights (every feature of the list needs a weight)."""

    weights: Weights

    def scores(self, block: NbestBlock) -> np.ndarray:
        return block.values @ self.weights.vector(block.schema, (block.path, block.first_line))


@dataclass(frozen=True)
class AverageCombiner:
    """The paper's rule: the even average of the list's own total score and one feature
    (the LSTM log-probability, or the ensemble's mean): 0.5 * total + 0.5 * feature."""

    feature: str

    def scores(self, block: NbestBlock) -> np.ndarray:
        if self.feature not in block.schema.names:
            raise InputError(block.path, block.first_line, f"no feature {self.feature!r} to "
                             f"average with the total (features: {', '.join(block.schema.names)})")
        return 0.5 * block.totals + 0.5 * block.feature(self.feature)[:, 0]


def rerank_block(block: NbestBlock, combiner: Combiner | Weights) -> NbestBlock:
    """``block`` with totals recomputed by ``combiner`` (or weights), sorted best first."""
    if isinstance(combiner, Weights):
        combiner = LinearCombiner(combiner)
    scores = combiner.scores(block)
    return block.with_totals(scores).reordered(rerank_order(scores))


@dataclass
class RerankStats:
    """What a run did, for the CLI's summary line."""

    sentences: int = 0
    hypotheses: int = 0
    missing: list[int] = field(default_factory=list)
    changed_1best: int = 0


def annotate(sentences: Iterable[tuple[int, NbestBlock | None]],
             features: Sequence[FeatureScorer], sources: Sequence[str] | None
             ) -> Iterator[tuple[int, NbestBlock | None]]:
    """Add every feature, in order, to each sentence's block (None stays None: a sentence
    without hypotheses). Sentences are scored in groups of the largest ``group_size`` of the
    features, so models batch several sentences' hypotheses."""
    group = max([f.group_size for f in features], default=1)
    for chunk in _chunks(iter(sentences), group):
        present = [b for _, b in chunk if b is not None]
        srcs = [sources[b.sent_id] if sources is not None else None for b in present]
        for scorer in features if present else ():
            values = scorer.score_blocks(present, srcs)
            present = [_add_feature(b, scorer.name, v)
                       for b, v in zip(present, values, strict=True)]
        scored = iter(present)
        for sent_id, original in chunk:
            yield sent_id, (next(scored) if original is not None else None)


class NbestWriter:
    """Writes reranked sentences through ``out`` (the n-best list and the 1-best lines),
    counting what it wrote in ``stats`` and applying the policy for sentences without
    hypotheses."""

    def __init__(self, out: SystemOutputs, nbest: str | Path, missing: MissingPolicy,
                 source: tuple[str, int] | None = None) -> None:
        self.out, self.nbest, self.missing = out, nbest, missing
        self.source = source  # (name, lines) of the source the list is aligned with
        self.stats = RerankStats()

    def write(self, sent_id: int, block: NbestBlock | None, first_before: str | None) -> None:
        """``first_before``: the 1-best before reranking (counts a changed 1-best)."""
        self.stats.sentences += 1
        if block is None:
            if self.missing == "error":
                raise InputError(self.nbest, None, self._missing_message(sent_id))
            self.stats.missing.append(sent_id)
            self.out.write(sent_id, "")
            return
        self.stats.hypotheses += len(block)
        best = block.hypothesis(0)
        self.stats.changed_1best += best != first_before
        self.out.write(sent_id, best, block.text() if self.out.wants_nbest else "")

    def _missing_message(self, sent_id: int) -> str:
        text = f"no hypotheses for sentence {sent_id}"
        if self.source is not None:
            name, lines = self.source
            text += (f" (line {sent_id + 1} of {name}, which has {lines} lines): does the "
                     "source belong to this list?")
        return text + (" Use --missing empty where Moses emitted nothing for some sentences "
                       "(an empty 1-best line is written for them)")


def rerank_file(
    nbest: str | Path,
    *,
    combiner: Combiner | Weights | None = None,
    features: Sequence[FeatureScorer] = (),
    source: str | Path | None = None,
    output_nbest: str | Path | None = None,
    output_1best: str | Path | None = None,
    missing: MissingPolicy = "error",
    progress: bool = False,
    shard: tuple[int, int] = (0, 1),
) -> RerankStats:
    """Read ``nbest``, add ``features`` to every hypothesis (:func:`annotate`), rerank with
    ``combiner`` (feature weights or a rule such as the paper's average; without it the order
    and totals are kept: the list is only annotated) and write.

    A sentence for which the list has no hypotheses (an id the list skips, or a source line
    past the list's end) is an error (``missing="error"``, the default: a source that does
    not belong to the list is caught) or gets an empty 1-best line (``"empty"``, for lists
    where Moses emitted nothing for some sentences); later sentences never shift. Outputs
    appear atomically.

    ``shard=(rank, world)``: this process handles the sentences with ``id % world == rank``
    and writes ``OUTPUT.shardRANK`` files that :func:`merge_shards` joins in id order.
    """
    rank, world = shard
    if world > 1:
        output_nbest = None if output_nbest is None else shard_path(output_nbest, rank)
        output_1best = None if output_1best is None else shard_path(output_1best, rank)
    sources = read_lines(source) if source is not None else None
    num = len(sources) if sources is not None else None
    mine = ((i, b) for i, b in iter_sentences(nbest, num, str(source)) if i % world == rank)
    with SystemOutputs(output_1best, output_nbest, with_ids=world > 1) as out, \
            tqdm(total=num, unit="sent", disable=not progress, file=sys.stderr,
                 desc="rerank") as bar:
        writer = NbestWriter(out, nbest, missing,
                             source=(str(source), len(sources)) if sources is not None else None)
        for sent_id, block in annotate(mine, features, sources):
            bar.update(world)
            before = block.hypothesis(0) if block is not None else None
            if block is not None and combiner is not None:
                block = rerank_block(block, combiner)
            writer.write(sent_id, block, before)
    return writer.stats


def _add_feature(block: NbestBlock, name: str, values: np.ndarray) -> NbestBlock:
    """``block.with_feature``; a name the list already has is an input error (file, line)."""
    if name in block.schema.names:
        raise InputError(block.path, block.line_number(0), f"the list already has a feature "
                         f"{name}: give the new one another name (--model NAME=DIR, "
                         "--ensemble-name NAME)")
    return block.with_feature(name, values)


def _chunks(items: Iterator[T], size: int) -> Iterator[list[T]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def shard_path(path: str | Path, rank: int) -> Path:
    """Where process ``rank`` writes its part of ``path`` (plain text)."""
    base = Path(path)
    return base.with_name(f".{base.name}.shard{rank}")


def merge_shards(output_nbest: str | Path | None, output_1best: str | Path | None,
                 world: int) -> None:
    """Join the shards of :func:`rerank_file` in sentence-id order, then remove them."""
    shards: list[Path] = []
    with atomic_outputs(output_nbest, output_1best) as (out_nbest, out_1best):
        if output_nbest is not None and out_nbest is not None:
            parts = [shard_path(output_nbest, r) for r in range(world)]
            shards += parts
            streams = [p.open(encoding="utf-8") for p in parts]
            try:
                for line in heapq.merge(*streams, key=lambda ln: int(ln.split("|||", 1)[0])):
                    out_nbest.write(line)
            finally:
                for stream in streams:
                    stream.close()
        if output_1best is not None and out_1best is not None:
            parts = [shard_path(output_1best, r) for r in range(world)]
            shards += parts
            lines = []
            for part in parts:
                for line in read_lines(part):
                    sent_id, _, text = line.partition("\t")
                    lines.append((int(sent_id), text))
            out_1best.write("".join(text + "\n" for _, text in sorted(lines)))
    for part in shards:
        part.unlink(missing_ok=True)
