"""Moses n-best lists: a streaming reader that yields one sentence's hypotheses at a time.

A line is ``id ||| hypothesis ||| features ||| total [||| field5] [||| field6]``; fields 5 and
6 (phrase segmentation, word alignment) are kept verbatim. Every field is kept exactly as
written (with its surrounding spaces), so writing back what was read gives a byte-identical
file; only fields that change (an appended feature, a recomputed total) are rebuilt.

Feature syntaxes accepted in field 3, one sentence at a time:

* labelled: ``LexicalReordering0= -0.36 0 0 Distortion0= 0 LM0= -38.9`` (several values
  per name);
* the old colon style: ``d: 0 -4.1 lm: -25.8 tm: -3 -9 w: -5``;
* sparse features: ``Name_sub= value`` (present on some lines only; absent means 0, as in
  Moses);
* bare numbers before any label, grouped under the name ``unlabelled``.

Sentence ids must be non-decreasing and each sentence's lines contiguous; a violation is an
error naming the line, never a silently dropped or merged line.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pa_compute
import pyarrow.csv as pa_csv

from rescore.errors import InputError
from rescore.files import iter_line_chunks

FIELD_SEP = "|||"
MIN_FIELDS = 4
MAX_FIELDS = 6
# bounds on what one list may make rescore hold (each refused with the line number): values
# of one line's features, distinct features of one sentence, lines of one sentence, and a gap
# in the ids (without the source's line count to bound it, the missing sentences are filled
# in one by one)
MAX_FEATURE_VALUES = 10_000
MAX_SENTENCE_LINES = 1_000_000
MAX_SENTENCE_VALUES = 50_000_000  # lines x feature values of one sentence (400 MB)
MAX_ID_GAP = 1_000_000
UNLABELLED = "unlabelled"
_MOSES_SAFE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


def distinct(texts: Iterable[str]) -> tuple[list[str], np.ndarray]:
    """The distinct strings of ``texts`` in order of first appearance, and each text's index
    among them: scoring the distinct ones once and indexing back gives every text's score."""
    index: dict[str, int] = {}
    inverse = np.fromiter((index.setdefault(t, len(index)) for t in texts), dtype=np.int64)
    return list(index), inverse


@dataclass(frozen=True)
class FeatureSchema:
    """The feature columns of a sentence's hypotheses: names in order and values per name."""

    names: tuple[str, ...] = ()
    sizes: tuple[int, ...] = ()

    @property
    def dim(self) -> int:
        return sum(self.sizes)

    @functools.cached_property
    def offsets(self) -> dict[str, int]:
        """Column index of each name's first value."""
        out, start = {}, 0
        for name, size in zip(self.names, self.sizes, strict=True):
            out[name] = start
            start += size
        return out

    def columns(self) -> list[str]:
        """One label per column: ``LM0`` for a single value, ``TranslationModel0.2`` else."""
        return [
            name if size == 1 else f"{name}.{i}"
            for name, size in zip(self.names, self.sizes, strict=True)
            for i in range(size)
        ]

    def extended(self, name: str, size: int) -> FeatureSchema:
        return FeatureSchema((*self.names, name), (*self.sizes, size))


def check_feature_name(name: str) -> str:
    """Return ``name`` if Moses' tools read it as a dense feature, else raise ValueError.

    Letters and digits only, starting with a letter: Moses' mert tools treat names with an
    underscore as sparse features.
    """
    if not _MOSES_SAFE_NAME.match(name):
        raise ValueError(
            f"feature name {name!r} is not Moses-safe: use letters and digits only, starting "
            "with a letter (Moses treats names with '_' as sparse features)"
        )
    return name


def parse_features(text: str) -> list[tuple[str | None, str, list[float]]]:
    """Parse one features field into ``(label token, name, values)`` groups, in order.

    The label token is the name as written (``LM0=``, ``lm:``), ``None`` for leading bare
    numbers. Raises ValueError with a message for a non-numeric value, a label without a
    name, a name with no values or a name given twice.
    """
    groups: list[tuple[str | None, str, list[float]]] = []
    tokens = text.split()
    if len(tokens) > 2 * MAX_FEATURE_VALUES:
        raise ValueError(f"{len(tokens):,} feature tokens on one line (at most "
                         f"{MAX_FEATURE_VALUES:,} values)")
    for token in tokens:
        if token[-1] in "=:":
            name = token[:-1]
            if not name:
                raise ValueError(f"feature label {token!r} has no name")
            if groups and not groups[-1][2]:
                raise ValueError(f"feature {groups[-1][1]!r} has no values")
            groups.append((token, name, []))
            continue
        try:
            value = float(token)
        except ValueError:
            raise ValueError(f"non-numeric feature value {token!r}") from None
        if not groups:
            groups.append((None, UNLABELLED, []))
        groups[-1][2].append(value)
    if groups and not groups[-1][2]:
        raise ValueError(f"feature {groups[-1][1]!r} has no values")
    names = [g[1] for g in groups]
    if sum(len(g[2]) for g in groups) > MAX_FEATURE_VALUES:
        raise ValueError(f"{sum(len(g[2]) for g in groups):,} feature values on one line (at "
                         f"most {MAX_FEATURE_VALUES:,})")
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise ValueError(f"feature {twice!r} is given twice")
    return groups


@dataclass
class NbestBlock:
    """All hypotheses of one sentence, as listed (not necessarily distinct).

    ``fields[i]`` are the raw ``|||``-separated fields of hypothesis ``i``; ``values`` is the
    ``(n, schema.dim)`` feature matrix; ``totals`` the ``(n,)`` total scores of field 4.
    ``first_line`` is the 1-based line number of the first hypothesis in ``path``.
    """

    sent_id: int
    fields: list[list[str]]
    schema: FeatureSchema
    values: np.ndarray
    totals: np.ndarray
    path: str = ""
    first_line: int = 0
    line_numbers: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.fields)

    def hypothesis(self, i: int) -> str:
        """Hypothesis ``i``'s text without surrounding whitespace."""
        return self.fields[i][1].strip()

    @property
    def hypotheses(self) -> list[str]:
        return [f[1].strip() for f in self.fields]

    def line_number(self, i: int) -> int:
        """1-based line in ``path`` of hypothesis ``i`` (as read, before any reordering)."""
        if self.line_numbers is not None:
            return int(self.line_numbers[i])
        return self.first_line + i

    def feature(self, name: str) -> np.ndarray:
        """The ``(n, size)`` values of feature ``name``."""
        start = self.schema.offsets[name]
        return self.values[:, start:start + self.schema.sizes[self.schema.names.index(name)]]

    def reordered(self, order: Sequence[int] | np.ndarray) -> NbestBlock:
        """The same hypotheses in the given order (line numbers travel with them)."""
        idx = np.asarray(order, dtype=np.int64)
        lines = self.line_numbers
        if lines is None:
            lines = np.arange(self.first_line, self.first_line + len(self), dtype=np.int64)
        return NbestBlock(
            self.sent_id, [self.fields[i] for i in idx.tolist()], self.schema,
            self.values[idx], self.totals[idx], self.path, self.first_line, lines[idx],
        )

    def with_feature(self, name: str, values: np.ndarray) -> NbestBlock:
        """Append feature ``name`` (``(n,)`` or ``(n, k)`` values) to field 3 of every line."""
        check_feature_name(name)
        if name in self.schema.names:
            raise ValueError(f"feature {name!r} is already in the list")
        vals = np.asarray(values, dtype=np.float64)
        if vals.ndim == 1:
            vals = vals[:, None]
        if vals.shape[0] != len(self):
            raise ValueError(f"{vals.shape[0]} values for {len(self)} hypotheses")
        new_fields = []
        for f, row in zip(self.fields, vals.tolist(), strict=True):
            feats = f[2]
            body = feats.rstrip()
            text = " ".join(format_score(v) for v in row)
            new_fields.append([f[0], f[1], f"{body} {name}= {text}{feats[len(body):]}", *f[3:]])
        return NbestBlock(
            self.sent_id, new_fields, self.schema.extended(name, vals.shape[1]),
            np.hstack([self.values, vals]), self.totals, self.path, self.first_line,
            self.line_numbers,
        )

    def with_totals(self, totals: np.ndarray) -> NbestBlock:
        """Replace field 4 by ``totals`` (Moses' 6 significant digits), keeping the spaces
        around the field as the sentence's first line has them."""
        tot = np.asarray(totals, dtype=np.float64)
        old = self.fields[0][3]
        lead = old[: len(old) - len(old.lstrip())]
        trail = old[len(old.rstrip()):]
        new_fields = []
        for f, t in zip(self.fields, tot.tolist(), strict=True):
            g = f.copy()
            g[3] = f"{lead}{t:.6g}{trail}"
            new_fields.append(g)
        return NbestBlock(self.sent_id, new_fields, self.schema, self.values, tot, self.path,
                          self.first_line, self.line_numbers)

    def text(self) -> str:
        """The block as n-best lines, each ending in ``\\n``."""
        return "".join([FIELD_SEP.join(f) + "\n" for f in self.fields])


def format_score(value: float) -> str:
    """Scores as Moses prints them: 6 significant digits (``-3.11269``, ``-9``, ``1e-05``)."""
    return f"{value:.6g}"


def read_nbest(path: str | Path) -> Iterator[NbestBlock]:
    """Stream the sentences of an n-best list (plain or ``.gz``), one block at a time.

    Memory is bounded by the largest sentence, never the whole list. Raises InputError for
    an empty file, a wrong number of fields, a non-numeric id, value or total, a label with
    no values and ids that decrease (each sentence's lines must be contiguous).
    """
    name = str(path)
    cur_key: str | None = None
    cur_id = -1
    cur_first = 0
    cur: list[list[str]] = []
    seen_any = False
    for first, lines in iter_line_chunks(path):
        for offset, line in enumerate(lines):
            parts = line.split(FIELD_SEP)
            key = parts[0]
            if key != cur_key:
                line_no = first + offset
                _check_field_count(parts, name, line_no)
                sent_id = _parse_id(key, name, line_no)
                if sent_id != cur_id:
                    if sent_id < cur_id:
                        raise InputError(
                            name, line_no, f"sentence id {sent_id} after id {cur_id}: ids must "
                            "not decrease and each sentence's lines must be contiguous")
                    if cur:
                        yield build_block(name, cur_id, cur_first, cur)
                    cur, cur_id, cur_first = [], sent_id, line_no
                cur_key = key
            if len(cur) >= MAX_SENTENCE_LINES:
                raise InputError(name, first + offset, f"sentence {cur_id} has more than "
                                 f"{MAX_SENTENCE_LINES:,} lines")
            cur.append(parts)
            seen_any = True
    if not seen_any:
        raise InputError(name, 1, "empty n-best list (no lines)")
    if cur:
        yield build_block(name, cur_id, cur_first, cur)


def iter_sentences(
    path: str | Path, num_sentences: int | None = None, source_name: str = "the source",
) -> Iterator[tuple[int, NbestBlock | None]]:
    """Yield ``(sentence_id, block)`` for every id from 0 on, ``block`` None where the list has
    no hypotheses for that sentence (Moses can emit none), so that later sentences never shift.

    With ``num_sentences`` (the source's line count) ids go up to ``num_sentences - 1`` and an
    id past the end is an error; without it they go up to the list's last id.
    """
    expected = 0
    for block in read_nbest(path):
        if num_sentences is not None and block.sent_id >= num_sentences:
            raise InputError(
                block.path, block.first_line,
                f"sentence id {block.sent_id} is past the end of {source_name} "
                f"({num_sentences} lines)")
        if num_sentences is None and block.sent_id - expected > MAX_ID_GAP:
            raise InputError(
                block.path, block.first_line,
                f"sentence id {block.sent_id} after {expected - 1}: a gap of more than "
                f"{MAX_ID_GAP:,} sentences without hypotheses (give --source to allow ids up "
                "to its length)")
        while expected < block.sent_id:
            yield expected, None
            expected += 1
        yield block.sent_id, block
        expected += 1
    while num_sentences is not None and expected < num_sentences:
        yield expected, None
        expected += 1


def write_blocks(stream: IO[str], blocks: Iterable[NbestBlock]) -> None:
    for block in blocks:
        stream.write(block.text())


def build_block(path: str, sent_id: int, first_line: int, fields: list[list[str]]) -> NbestBlock:
    """Parse the features and totals of one sentence's raw field lists."""
    if not {len(f) for f in fields} <= {4, 5, 6}:
        for i, f in enumerate(fields):
            _check_field_count(f, path, first_line + i)
    schema, values = _parse_block_features([f[2] for f in fields], path, first_line)
    try:
        totals = np.array([f[3] for f in fields], dtype=np.float64)
    except ValueError:
        for i, f in enumerate(fields):
            try:
                float(f[3])
            except ValueError:
                raise InputError(path, first_line + i,
                                 f"non-numeric total score {f[3].strip()!r}") from None
        raise
    if not (np.isfinite(values).all() and np.isfinite(totals).all()):
        _reject_non_finite(values, totals, fields, path, first_line)
    return NbestBlock(sent_id, fields, schema, values, totals, path, first_line)


def _reject_non_finite(values: np.ndarray, totals: np.ndarray, fields: list[list[str]],
                       path: str, first_line: int) -> None:
    """Infinite or NaN scores are an error naming the line: they would rank first (inf) or
    arbitrarily, and no Moses feature produces them."""
    bad = ~(np.isfinite(values).all(axis=1) & np.isfinite(totals))
    i = int(np.flatnonzero(bad)[0])
    where = "total score" if not np.isfinite(totals[i]) else "feature value"
    text = fields[i][3].strip() if where == "total score" else fields[i][2].strip()
    raise InputError(path, first_line + i, f"non-finite {where} (inf or nan) in {text!r}: "
                     "scores must be finite numbers")


def _check_field_count(parts: list[str], path: str, line_no: int) -> None:
    if not MIN_FIELDS <= len(parts) <= MAX_FIELDS:
        raise InputError(
            path, line_no, f"{len(parts)} field(s) separated by '|||'; an n-best line has "
            f"{MIN_FIELDS} to {MAX_FIELDS} (id ||| hypothesis ||| features ||| total "
            "[||| segmentation] [||| alignment])")


def _parse_id(key: str, path: str, line_no: int) -> int:
    text = key.strip()
    if not (text.isascii() and text.isdigit()):
        raise InputError(path, line_no, f"sentence id {text!r} is not a non-negative integer")
    return int(text)


def _parse_block_features(
    feats: list[str], path: str, first_line: int
) -> tuple[FeatureSchema, np.ndarray]:
    """Features of one sentence: a fast path when every line repeats the first line's layout
    (Moses prints dense features in a fixed order), a line-by-line path otherwise.

    The fast path parses the whole block as space-separated columns with Arrow's CSV reader
    (C++, exact float parsing) and checks that every label column holds its label; any
    deviation (another layout, a sparse feature, a bad value) falls back to the line-by-line
    parser, which also produces the error message with the line number.
    """
    try:
        groups = parse_features(feats[0])
    except ValueError as err:
        raise InputError(path, first_line, str(err)) from None
    schema = FeatureSchema(tuple(g[1] for g in groups), tuple(len(g[2]) for g in groups))
    if schema.dim * len(feats) > MAX_SENTENCE_VALUES:
        raise InputError(path, first_line, f"{len(feats):,} lines of {schema.dim:,} feature "
                         f"values: more than rescore holds for one sentence (at most "
                         f"{MAX_SENTENCE_VALUES:,} values)")
    values = _parse_uniform_block(feats, groups, schema.dim)
    if values is None:
        return _parse_features_by_line(feats, path, first_line)
    return schema, values


def _parse_uniform_block(
    feats: list[str], groups: list[tuple[str | None, str, list[float]]], dim: int
) -> np.ndarray | None:
    """The ``(n, dim)`` values if every line has the first line's layout, else None."""
    first = feats[0]
    lead = len(first) - len(first.lstrip(" "))
    trail = len(first) - len(first.rstrip(" "))
    if lead > 1 or trail > 1 or "  " in first.strip(" ") or "\t" in first:
        return None  # not single-space separated: let the general parser handle it
    labels: dict[int, str] = {}
    numeric: list[int] = []
    col = lead
    for label, _, vals in groups:
        if label is not None:
            labels[col] = label
            col += 1
        numeric.extend(range(col, col + len(vals)))
        col += len(vals)
    ncols = col + trail
    names = [str(i) for i in range(ncols)]
    convert = pa_csv.ConvertOptions(
        column_types={str(i): pa.float64() for i in numeric}
        | {str(i): pa.string() for i in labels},
        include_columns=[str(i) for i in sorted([*labels, *numeric])],
        null_values=[], strings_can_be_null=False, quoted_strings_can_be_null=False)
    try:
        table = pa_csv.read_csv(
            io.BytesIO("\n".join(feats).encode("utf-8")),
            read_options=pa_csv.ReadOptions(column_names=names, use_threads=False,
                                            block_size=1 << 24),
            parse_options=_ARROW_PARSE, convert_options=convert)
    except pa.ArrowException:
        return None
    if table.num_rows != len(feats):
        return None
    for i, label in labels.items():
        if not pa_compute.all(pa_compute.equal(table.column(str(i)), label)).as_py():
            return None
    if not numeric:
        return np.zeros((len(feats), 0))
    out = np.empty((len(feats), dim))
    for j, i in enumerate(numeric):
        out[:, j] = table.column(str(i)).to_numpy()
    return out


_ARROW_PARSE = pa_csv.ParseOptions(delimiter=" ", quote_char=False, escape_char=False,
                                   double_quote=False, newlines_in_values=False)


def _parse_features_by_line(
    feats: list[str], path: str, first_line: int
) -> tuple[FeatureSchema, np.ndarray]:
    rows: list[dict[str, list[float]]] = []
    names: dict[str, int] = {}
    dim = 0
    for i, text in enumerate(feats):
        try:
            groups = parse_features(text)
        except ValueError as err:
            raise InputError(path, first_line + i, str(err)) from None
        row = {}
        for _, name, vals in groups:
            if name not in names:
                dim += len(vals)
                if dim > MAX_FEATURE_VALUES or dim * len(feats) > MAX_SENTENCE_VALUES:
                    raise InputError(path, first_line + i, f"the sentence's lines name "
                                     f"{len(names) + 1:,} distinct features ({dim:,} values a "
                                     f"line x {len(feats):,} lines): more than rescore holds (at "
                                     f"most {MAX_FEATURE_VALUES:,} values a line and "
                                     f"{MAX_SENTENCE_VALUES:,} a sentence)")
            size = names.setdefault(name, len(vals))
            if size != len(vals):
                raise InputError(path, first_line + i,
                                 f"feature {name!r} has {len(vals)} values here but {size} "
                                 "on an earlier line of this sentence")
            row[name] = vals
        rows.append(row)
    schema = FeatureSchema(tuple(names), tuple(names.values()))
    values = np.zeros((len(feats), schema.dim))
    offsets = schema.offsets
    for i, row in enumerate(rows):
        for name, vals in row.items():
            values[i, offsets[name]:offsets[name] + len(vals)] = vals
    return schema, values
