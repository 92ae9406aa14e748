"""System combination by reranking: the union of several n-best lists of the same sentences
(a Moses 1000-best list and a neural system's own n-best list, as NICT did at WMT17), one
entry per distinct hypothesis, ready for rescore-nbest's features and rescore-tune's weights.

Per sentence, the entries of every list are merged by hypothesis text (tokens compared after
collapsing whitespace). A hypothesis listed more than once in one list (Moses lists it once
per derivation) keeps that list's first, best-ranked entry. The merged entry carries:

- every feature of every list that lists it, under the feature's own name (a name in two
  lists must have the same number of values there: it is read as the same feature, and the
  first list's value is kept);
- for a feature of a list that does NOT list it, a fill value, stated and documented: with
  ``fill="min"`` (the default) the lowest value that feature takes among the sentence's
  entries that have it (the hypothesis counts as no better than the worst one that list
  scored; a feature absent from the whole sentence is 0), with ``fill="zero"`` 0;
- ``Origin0``: one indicator per list (1 when that list holds the hypothesis, else 0), in the
  order the lists were given, so that tuning learns how much a list's fill values and its
  membership are worth;
- the first list's total where it holds the hypothesis, else the lowest total of that
  sentence's entries (a new entry ranks last until reranked).

Entries come in the first list's order, then each later list's new hypotheses in its order.
Lists must hold the same sentences: the same number (ids from 0, gaps allowed), else one
error naming the shorter list.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rescore.errors import InputError, RescoreError, unknown_choice
from rescore.files import atomic_output
from rescore.nbest import UNLABELLED, NbestBlock, format_score, iter_sentences

FILL_RULES = ("min", "zero")
ORIGIN = "Origin0"


@dataclass
class CombineStats:
    sentences: int = 0
    entries: int = 0
    shared: int = 0  # entries found in more than one list
    per_list: tuple[int, ...] = ()  # distinct entries each list brought


def combine_lists(lists: Sequence[str | Path], output: str | Path, fill: str = "min",
                  num_sentences: int | None = None) -> CombineStats:
    """Write the union of ``lists`` (see the module's description) to ``output`` (Moses
    format, atomically). ``num_sentences``: the source's line count (ids past it are an
    error; sentences after a list's last id are empty)."""
    if fill not in FILL_RULES:
        raise unknown_choice("fill rule", fill, FILL_RULES)
    if len(lists) < 2:
        raise RescoreError("give at least two n-best lists to combine")
    features = union_schema(lists)
    streams = [iter_sentences(path, num_sentences) for path in lists]
    stats = CombineStats(per_list=(0,) * len(lists))
    with atomic_output(output) as out:
        for rows in itertools.zip_longest(*streams):
            ended = [i for i, row in enumerate(rows) if row is None]
            if ended:
                longer = next(i for i, row in enumerate(rows) if row is not None)
                sent_id = rows[longer][0]
                raise InputError(lists[ended[0]], None,
                                 f"ends before sentence {sent_id}, which {lists[longer]} "
                                 "holds: the lists are not of the same sentences (give "
                                 "--source to fix the number of sentences)")
            sent_id = rows[0][0]
            blocks = [row[1] for row in rows]
            text, per_list, shared = _merge(sent_id, blocks, [str(p) for p in lists], fill,
                                            features)
            out.write(text)
            stats.sentences += 1
            stats.entries += text.count("\n")
            stats.shared += shared
            stats.per_list = tuple(a + b for a, b in zip(stats.per_list, per_list, strict=True))
    return stats


def union_schema(lists: Sequence[str | Path]) -> dict[str, int]:
    """Every list's features (name -> number of values) from its first sentence, in list
    order: the combined list has these on every line."""
    features: dict[str, int] = {}
    for path in lists:
        block = next((b for _, b in iter_sentences(path) if b is not None), None)
        if block is None:
            continue
        for feat, size in zip(block.schema.names, block.schema.sizes, strict=True):
            if feat == ORIGIN:
                raise InputError(path, block.first_line, f"the list has a feature {ORIGIN}: "
                                 "combine the original lists, not a combination")
            if features.setdefault(feat, size) != size:
                raise InputError(path, block.first_line, f"feature {feat!r} has {size} "
                                 f"value(s) here but {features[feat]} in an earlier list")
    return features


def _merge(sent_id: int, blocks: list[NbestBlock | None], names: list[str], fill: str,
           features: dict[str, int]) -> tuple[str, list[int], int]:
    """One sentence's merged lines, the new entries each list brought, and how many entries
    more than one list holds."""
    for block, name in zip(blocks, names, strict=True):
        if block is None:
            continue
        for feat, size in zip(block.schema.names, block.schema.sizes, strict=True):
            if features.get(feat) != size:
                raise InputError(name, block.first_line, f"feature {feat!r} ({size} value(s)) "
                                 "is not what the list's first sentence has: rescore-combine "
                                 "takes lists with the same features on every line")
    entries: dict[str, dict[str, list[float]]] = {}
    origin: dict[str, list[int]] = {}
    totals: dict[str, float] = {}
    brought = [0] * len(blocks)
    first_totals: list[float] = []
    for k, block in enumerate(blocks):
        if block is None:
            continue
        spans = [(feat, block.schema.offsets[feat], size)
                 for feat, size in zip(block.schema.names, block.schema.sizes, strict=True)]
        rows = block.values.tolist()
        for i in range(len(block)):
            hyp = " ".join(block.hypothesis(i).split())
            if hyp not in entries:
                entries[hyp] = {}
                origin[hyp] = [0] * len(blocks)
                brought[k] += 1
            if origin[hyp][k]:
                continue  # a second derivation of one hypothesis in this list
            origin[hyp][k] = 1
            for feat, start, size in spans:
                entries[hyp].setdefault(feat, rows[i][start:start + size])
            if k == 0:
                totals[hyp] = float(block.totals[i])
                first_totals.append(float(block.totals[i]))
    worst_total = min(first_totals) if first_totals else 0.0
    fills = {}
    for feat, size in features.items():
        have = [v[feat] for v in entries.values() if feat in v]
        fills[feat] = (np.min(np.array(have), axis=0).tolist() if fill == "min" and have
                       else [0.0] * size)
    lines = []
    for hyp, values in entries.items():
        parts = []
        for feat in features:
            label = "" if feat == UNLABELLED else f"{feat}= "
            parts.append(label + " ".join(format_score(v) for v in values.get(feat, fills[feat])))
        parts.append(f"{ORIGIN}= " + " ".join(str(o) for o in origin[hyp]))
        total = totals.get(hyp, worst_total)
        lines.append(f"{sent_id} ||| {hyp} ||| {' '.join(parts)} ||| {format_score(total)}\n")
    shared = sum(1 for o in origin.values() if sum(o) > 1)
    return "".join(lines), brought, shared
