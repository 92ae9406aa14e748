"""The dev list as a table every tuner reads: each hypothesis' sentence, feature values, BLEU
statistics against its reference and the list's own total, built once from the list (each
reference's n-grams extracted once) and cached as parquet, so tuning never rescores. MERT,
the grid, batch MIRA and the cross-validation folds all read it; ``corpus_bleu_of`` is the
BLEU of the hypotheses a score vector picks."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rescore.errors import InputError
from rescore.files import atomic_path, sha256_of
from rescore.metrics import DEFAULT_TOKENIZE, STATS_DIM, corpus_bleu_from_stats, list_stats
from rescore.nbest import FeatureSchema

logger = logging.getLogger(__name__)


@dataclass
class FeatureTable:
    """Every hypothesis of a dev list: its sentence, features ``(N, d)``, BLEU statistics
    ``(N, STATS_DIM)`` and the list's own totals; sentences are contiguous."""

    schema: FeatureSchema
    sent: np.ndarray
    values: np.ndarray
    stats: np.ndarray
    totals: np.ndarray
    _orders: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)
    _grid: np.ndarray | None = field(default=None, repr=False, compare=False)

    def grid(self) -> np.ndarray:
        """The row indices as a sentence x hypothesis grid, -1 where a sentence has fewer
        hypotheses than the longest (computed once)."""
        if self._grid is None:
            bounds = self.bounds()
            sizes = np.diff(bounds)
            grid = np.full((len(sizes), int(sizes.max())), -1, dtype=np.int64)
            columns = np.arange(len(self.sent)) - np.repeat(bounds[:-1], sizes)
            grid[np.repeat(np.arange(len(sizes)), sizes), columns] = np.arange(len(self.sent))
            self._grid = grid
        return self._grid

    def order_along(self, d: np.ndarray) -> np.ndarray:
        """The rows sorted by (sentence, slope ``values @ d``, index): each sentence's rows
        sorted on their own (a padded sentence x hypothesis grid, one row each), kept for
        coordinate axes (MERT searches along each many times)."""
        axes = np.flatnonzero(d)
        axis = int(axes[0]) if len(axes) == 1 and d[axes[0]] > 0 else None
        if axis is not None and axis in self._orders:
            return self._orders[axis]
        grid = self.grid()
        slopes = np.where(grid >= 0, (self.values @ d)[grid], np.inf)
        ranked = np.take_along_axis(grid, np.argsort(slopes, axis=1, kind="stable"), 1)
        order = ranked[ranked >= 0]  # the padding sorts last in each row
        if axis is not None:
            self._orders[axis] = order
        return order

    def bounds(self) -> np.ndarray:
        """Start offsets of each sentence's rows, plus the end."""
        change = np.flatnonzero(np.diff(self.sent)) + 1
        return np.concatenate([[0], change, [len(self.sent)]])

    def subset(self, rows: np.ndarray) -> FeatureTable:
        """The table of the rows ``rows`` (a boolean mask that keeps whole sentences)."""
        return FeatureTable(self.schema, self.sent[rows], self.values[rows], self.stats[rows],
                            self.totals[rows])

    def to_frame(self) -> pd.DataFrame:
        cols = {"sent": self.sent, "total": self.totals}
        cols |= {f"f:{c}": self.values[:, j] for j, c in enumerate(self.schema.columns())}
        cols |= {f"s:{j}": self.stats[:, j] for j in range(STATS_DIM)}
        frame = pd.DataFrame(cols)
        frame.attrs["schema"] = {"names": list(self.schema.names),
                                 "sizes": list(self.schema.sizes)}
        return frame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, schema: FeatureSchema) -> FeatureTable:
        fcols = [c for c in frame.columns if c.startswith("f:")]
        scols = [f"s:{j}" for j in range(STATS_DIM)]
        return cls(schema, frame["sent"].to_numpy(), frame[fcols].to_numpy(np.float64),
                   frame[scols].to_numpy(np.int64), frame["total"].to_numpy(np.float64))


def build_table(nbest: str | Path, references: Sequence[str], tokenize: str = DEFAULT_TOKENIZE,
                ref_name: str = "the reference") -> FeatureTable:
    """Read a dev n-best list (features added already) and every hypothesis' BLEU statistics
    against its reference (:func:`rescore.metrics.list_stats`: each distinct hypothesis
    scored once, each reference's n-grams extracted once). The list must cover the
    references and have the same features on every sentence."""
    schema: FeatureSchema | None = None
    sents, values, stats, totals = [], [], [], []
    for sentence in list_stats(nbest, references, tokenize, ref_name):
        block = sentence.block
        if schema is None:
            schema = block.schema
        elif block.schema != schema:
            raise InputError(block.path, block.first_line, "tuning needs the same features on "
                             f"every sentence: {block.schema.names} here, {schema.names} before")
        sents.append(np.full(len(block), sentence.sent_id))
        values.append(block.values)
        stats.append(sentence.entry_stats())
        totals.append(block.totals)
    if schema is None:
        raise InputError(nbest, 1, "no hypotheses to tune on")
    return FeatureTable(schema, np.concatenate(sents), np.concatenate(values),
                        np.concatenate(stats), np.concatenate(totals))


def load_table(nbest: str | Path, references: Sequence[str], cache: Path | None,
               tokenize: str = DEFAULT_TOKENIZE, ref_name: str = "the reference") -> FeatureTable:
    """:func:`build_table`, cached as parquet at ``cache``. The cache records what it was
    built from (the list's size and SHA-256, the references' SHA-256, the tokenization) and
    is rebuilt when any of them differs: another list written to the same path, an older
    list, a copy edited in place."""
    identity = list_identity(nbest) if cache is not None else None
    if cache is not None and cache.exists():
        cached = _read_cache(cache, tokenize, references, identity)
        if cached is not None:
            return cached
    table = build_table(nbest, references, tokenize, ref_name)
    if cache is not None:
        frame = table.to_frame()
        frame.attrs["schema"]["tokenize"] = tokenize
        frame.attrs["schema"]["references"] = references_digest(references)
        frame.attrs["schema"]["list"] = identity
        with atomic_path(cache) as tmp:
            frame.to_parquet(tmp)
    return table


def list_identity(nbest: str | Path) -> dict[str, object] | None:
    """What a cache of ``nbest`` was built from: its size and SHA-256 (None for stdin)."""
    if str(nbest) == "-":
        return None
    path = Path(nbest)
    return {"size": path.stat().st_size, "sha256": sha256_of(path)}


def _read_cache(cache: Path, tokenize: str, references: Sequence[str],
                identity: dict[str, object] | None) -> FeatureTable | None:
    """The cached table, or None when the cache is for another list, other references or
    tokenization, or is not a table this module wrote (it is then rebuilt; parquet holds
    data, never code: pyarrow >= 14.0.1 reads no pickled extension types)."""
    try:
        frame = pd.read_parquet(cache)
        meta = frame.attrs.get("schema") or {}
        if meta.get("tokenize") != tokenize or meta.get("references") != \
                references_digest(references) or not len(frame):
            return None
        if identity is None or meta.get("list") != identity:
            logger.info("%s: built from another list (or another version of it); "
                        "rebuilding it", cache)
            return None
        return FeatureTable.from_frame(frame, FeatureSchema(tuple(meta["names"]),
                                                            tuple(meta["sizes"])))
    except Exception as err:  # pyarrow and pandas raise many kinds for a file of another kind
        logger.info("%s: not a feature-table cache (%s: %s); rebuilding it", cache,
                    type(err).__name__, str(err).splitlines()[0] if str(err) else "")
        return None


def references_digest(references: Sequence[str]) -> str:
    """SHA-256 of the references: the cached BLEU statistics hold only for these."""
    h = hashlib.sha256()
    for line in references:
        h.update(line.encode("utf-8") + b"\n")
    return h.hexdigest()


def picked_stats(table: FeatureTable, scores: np.ndarray) -> np.ndarray:
    """Summed BLEU statistics ``(STATS_DIM,)`` of picking, per sentence, the best-scoring
    hypothesis (ties: first)."""
    grid = table.grid()
    padded = np.where(grid >= 0, scores[grid], -np.inf)
    picks = np.take_along_axis(grid, padded.argmax(axis=1)[:, None], 1)[:, 0]
    return np.asarray(table.stats[picks].sum(axis=0))


def corpus_bleu_of(table: FeatureTable, scores: np.ndarray) -> float:
    """Corpus BLEU of picking, per sentence, the best-scoring hypothesis (ties: first)."""
    return float(corpus_bleu_from_stats(picked_stats(table, scores)))
