"""Feature weights: read from a Moses ini ``[weight]`` section or JSON, written as both.

JSON: ``{"LM0": [0.0687], "TranslationModel0": [0.06, 0.005, 0.058, 0.027]}`` (a bare number
is accepted for one-value features). The baseline system's total may be ONE weighted feature
beside new ones: ``{"LSTM0": [0.01], "baseline": {"weight": 0.9, "weights": {...Moses'
weights...}}}`` reads as the full vector with 0.9 x each of Moses' weights. Moses ini: the
lines of the ``[weight]`` section, ``Name= v1 v2 ...``; other sections are ignored.

Moses does not print every feature it scores with: ``UnknownWordPenalty0`` (weight 1, -100
per source word copied through untranslated) is in the decoder's total but not in the n-best
list. Such weights are allowed without a matching feature and ignored when scoring. The
penalty is the same for every hypothesis of a sentence (each must copy the same unknown
words), so leaving it out never changes the order within a sentence; totals this toolkit
recomputes cover the listed features only.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rescore.checks import parse_json
from rescore.errors import InputError, RescoreError
from rescore.files import atomic_output, read_lines
from rescore.nbest import FeatureSchema, format_score

UNPRINTED_FEATURES = frozenset({"UnknownWordPenalty0"})
BASELINE_KEY = "baseline"  # JSON: the baseline system's total as one weighted feature


@dataclass(frozen=True)
class Weights:
    """Weights by feature name, one per value, in the order the list prints the values."""

    values: dict[str, tuple[float, ...]]
    source: str = "<weights>"
    _cache: dict[FeatureSchema, np.ndarray] = field(default_factory=dict, compare=False,
                                                    repr=False)

    def vector(self, schema: FeatureSchema, where: tuple[str, int] | None = None,
               default: float | None = None) -> np.ndarray:
        """The ``(schema.dim,)`` weight vector for a list's features.

        Raises InputError (at ``where``, the list's file and line) when the weights name a
        feature the list lacks, miss one it has (unless ``default`` gives missing features a
        weight), or give a different number of values.
        """
        cached = self._cache.get(schema) if default is None else None
        if cached is not None:
            return cached
        path, line = where if where is not None else ("<n-best list>", None)
        missing = [n for n in schema.names if n not in self.values]
        extra = [n for n in self.values if n not in schema.names
                 and n not in UNPRINTED_FEATURES and "_" not in n]
        if missing and default is None:
            close = [(n, difflib.get_close_matches(n, extra, 1, 0.6)) for n in missing]
            hint = "; ".join(f"is {m[0]!r} in the weights meant to be {n!r}?"
                             for n, m in close if m)
            raise InputError(path, line, f"the list has feature(s) {', '.join(missing)} that "
                             f"the weights in {self.source} lack (give them a weight, 0 to "
                             "ignore)" + (f"; the weights name {', '.join(extra)}, which the "
                                          f"list lacks: {hint}" if hint else ""))
        if extra:
            raise InputError(path, line, f"the weights in {self.source} name feature(s) "
                             f"{', '.join(extra)} that the list lacks (its features: "
                             f"{', '.join(schema.names)})")
        parts: list[float] = []
        for name, size in zip(schema.names, schema.sizes, strict=True):
            w = self.values.get(name, (default or 0.0,) * size)
            if len(w) != size:
                raise InputError(path, line, f"feature {name!r} has {size} value(s) in the "
                                 f"list but {len(w)} weight(s) in {self.source}")
            parts.extend(w)
        vec = np.array(parts, dtype=np.float64)
        if default is None:
            self._cache[schema] = vec
        return vec

    def with_weight(self, name: str, values: tuple[float, ...]) -> Weights:
        new = dict(self.values)
        new[name] = values
        return Weights(new, self.source)

    def to_json(self) -> str:
        return json.dumps({k: list(v) for k, v in self.values.items()}, indent=2) + "\n"

    def to_moses_ini(self) -> str:
        """A ``[weight]`` section that Moses (and :func:`load_weights`) reads."""
        lines = ["[weight]"]
        lines += [f"{k}= {' '.join(format_score(x) for x in v)}" for k, v in self.values.items()]
        return "\n".join(lines) + "\n"

    def save(self, path: str | Path) -> None:
        """Write as Moses ini when ``path`` ends in ``.ini``, as JSON otherwise."""
        text = self.to_moses_ini() if str(path).endswith(".ini") else self.to_json()
        with atomic_output(path) as out:
            out.write(text)


def load_weights(path: str | Path) -> Weights:
    """Read weights from a Moses ini (any file with a ``[weight]`` section) or JSON."""
    name = str(path)
    lines = read_lines(path)
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    if not first:
        raise InputError(name, 1, "empty weights file")
    if first.startswith("{"):
        return _parse_json(name, "\n".join(lines))
    return _parse_ini(name, lines)


def _parse_json(name: str, text: str) -> Weights:
    data = parse_json(text, name)  # bounded depth, finite numbers, short integers
    if not isinstance(data, dict) or not data:
        raise InputError(name, 1, "weights JSON must be a non-empty object "
                         '{"Name": [w1, ...], ...}')
    if "method" in data and BASELINE_KEY not in data and isinstance(data.get("method"), str):
        raise InputError(name, 1, f"a report of rescore-tune --method {data['method']}, not "
                         "weights: give the weights file it was written beside (the same "
                         "name without .report)")
    out: dict[str, tuple[float, ...]] = {}
    for key, value in data.items():
        if key == BASELINE_KEY:
            continue
        vals = value if isinstance(value, list) else [value]
        if not vals or not all(isinstance(v, int | float) and not isinstance(v, bool)
                               for v in vals):
            raise InputError(name, None, f"weight of {key!r} must be a number or a non-empty "
                             "list of numbers")
        out[key.rstrip("=:")] = tuple(float(v) for v in vals)
    if BASELINE_KEY in data:
        for key, expanded in _expand_baseline(name, data[BASELINE_KEY]).items():
            if key in out:
                raise InputError(name, None, f"feature {key!r} has a weight of its own and one "
                                 f"in \"{BASELINE_KEY}\"")
            out[key] = expanded
    return Weights(out, name)


def _expand_baseline(name: str, spec: object) -> dict[str, tuple[float, ...]]:
    """``{"weight": w, "weights": {...}}``: the baseline system's total as one feature with
    weight w, its own weights kept as they are, expanded to w x each of them."""
    if not isinstance(spec, dict) or not isinstance(spec.get("weights"), dict) \
            or not isinstance(spec.get("weight"), int | float):
        raise InputError(name, None, f'"{BASELINE_KEY}" must be {{"weight": w, "weights": '
                         '{"Name": [w1, ...], ...}}')
    inner = _parse_json(name, json.dumps(spec["weights"]))
    return {k: tuple(float(spec["weight"]) * x for x in v) for k, v in inner.values.items()}


def baseline_json(weight: float, baseline: Weights, others: dict[str, tuple[float, ...]]) -> str:
    """Weights that treat the baseline's total as ONE feature (``weight``) beside ``others``:
    the JSON :func:`load_weights` expands to the equivalent full weight vector."""
    data: dict[str, object] = {k: list(v) for k, v in others.items()}
    data[BASELINE_KEY] = {"weight": weight,
                          "weights": {k: list(v) for k, v in baseline.values.items()}}
    return json.dumps(data, indent=2) + "\n"


def _parse_ini(name: str, lines: list[str]) -> Weights:
    out: dict[str, tuple[float, ...]] = {}
    in_weights = found = False
    for i, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            in_weights = line == "[weight]"
            found = found or in_weights
            continue
        if not in_weights:
            continue
        key, sep, rest = line.partition("=")
        if not sep or not key.strip():
            raise InputError(name, i, f"expected 'Name= value ...' in [weight], got {line!r}")
        try:
            vals = tuple(float(t) for t in rest.split())
        except ValueError:
            raise InputError(name, i, f"non-numeric weight in {line!r}") from None
        if not all(math.isfinite(v) for v in vals):
            raise InputError(name, i, f"non-finite weight (inf or nan) in {line!r}: weights "
                             "must be finite numbers")
        if not vals:
            raise InputError(name, i, f"feature {key.strip()!r} has no weights")
        if key.strip() in out:
            raise InputError(name, i, f"feature {key.strip()!r} given twice")
        out[key.strip()] = vals
    if not found or not out:
        raise RescoreError(f"{name}: no [weight] section with weights (expected a Moses ini "
                           "or a JSON object)")
    return Weights(out, name)
