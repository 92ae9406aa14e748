"""BLEU/chrF comparison tables: one row per system, differences to the first system (the
baseline) and paired bootstrap resampling p-values, all through sacrebleu. Rendering several
tables into a report is :mod:`rescore.report`'s job."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.significance import PairedTest, Result

from rescore.errors import InputError, RescoreError
from rescore.files import atomic_output, read_lines
from rescore.metrics import DEFAULT_TOKENIZE, make_bleu, make_chrf

DEFAULT_BOOTSTRAP = 1000


@dataclass
class Comparison:
    """The table (pandas) and the sacrebleu signatures of its metrics."""

    table: pd.DataFrame
    signatures: dict[str, str]
    settings: dict[str, object]

    def to_markdown(self) -> str:
        body = display_table(self.table).to_markdown(index=False, disable_numparse=True)
        sigs = "\n".join(f"- {name}: `{sig}`" for name, sig in self.signatures.items())
        return f"{body}\n\nsacrebleu signatures:\n{sigs}\n"

    def to_json(self) -> str:
        rows = json.loads(self.table.to_json(orient="records"))
        return json.dumps({"systems": rows, "signatures": self.signatures,
                           "settings": self.settings}, indent=2) + "\n"

    def save(self, prefix: str | Path) -> list[Path]:
        """Write ``PREFIX.md``, ``PREFIX.json`` and ``PREFIX.csv``; returns their paths."""
        paths = [Path(f"{prefix}.{ext}") for ext in ("md", "json", "csv")]
        for path, text in zip(paths, (self.to_markdown(), self.to_json(),
                                      self.table.to_csv(index=False)), strict=True):
            with atomic_output(path) as out:
                out.write(text)
        return paths


def format_p(p: object) -> str:
    """A p-value for people: ``< 0.001`` below the bootstrap's resolution, 3 decimals
    otherwise; empty for the baseline (no test against itself)."""
    if not isinstance(p, int | float) or p != p:  # None or NaN
        return ""
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def display_table(table: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """The table as reports show it: scores with ``digits`` decimals, differences signed,
    p-values by :func:`format_p`, no ``nan``."""
    out = pd.DataFrame(index=table.index)
    for col in table.columns:
        values = table[col]
        if col.endswith(" p"):
            out[col] = [format_p(v) for v in values]
        elif col.endswith(" diff"):
            out[col] = [f"{v:+.{digits}f}" if v == v else "" for v in values]
        elif pd.api.types.is_float_dtype(values):
            out[col] = [f"{v:.{digits}f}" if v == v else "" for v in values]
        else:
            out[col] = ["" if v is None or v != v else str(v) for v in values]
    return out


def difference_interval(metric: BLEU | CHRF, system: Sequence[str], baseline: Sequence[str],
                        refs: list[list[str]], samples: int) -> tuple[float, float]:
    """The 95% interval of ``score(system) - score(baseline)`` over paired bootstrap resamples
    of the test set: the same resamples as sacrebleu's paired bootstrap test (its seed,
    ``$SACREBLEU_SEED`` or 12345, and its index draw), the same percentile rule as its
    ``estimate_ci``, applied to the differences."""
    seed = os.environ.get("SACREBLEU_SEED", "12345")
    rng = np.random.default_rng(None if seed.lower() == "none" else int(seed))
    idxs = rng.choice(len(system), size=(samples, len(system)), replace=True)
    sys_stats = np.array(metric._extract_corpus_statistics(list(system), refs), dtype="float32")
    base_stats = np.array(metric._extract_corpus_statistics(list(baseline), refs),
                          dtype="float32")
    diffs = np.sort([metric._compute_score_from_stats(s.sum(0)).score
                     - metric._compute_score_from_stats(b.sum(0)).score
                     for s, b in zip(sys_stats[idxs], base_stats[idxs], strict=True)])
    low = len(diffs) // 40  # sacrebleu's estimate_ci: 1/40 from each end
    return float(diffs[low]), float(diffs[len(diffs) - low - 1])


def load_system(path: str | Path, num_lines: int, ref_name: str) -> list[str]:
    lines = read_lines(path)
    if len(lines) != num_lines:
        raise InputError(path, min(len(lines), num_lines) + 1,
                         f"{len(lines)} lines but the reference {ref_name} has {num_lines}")
    return lines


def compare_systems(
    reference: Sequence[str], systems: Sequence[tuple[str, Sequence[str]]],
    tokenize: str = DEFAULT_TOKENIZE, bootstrap: int = DEFAULT_BOOTSTRAP,
    versus_above: bool = False,
) -> Comparison:
    """Score ``systems`` (the first is the baseline) against one reference.

    BLEU and chrF come from sacrebleu; p-values from sacrebleu's paired bootstrap resampling
    (``bootstrap`` samples, seed ``$SACREBLEU_SEED`` or 12345) of each system against the
    first: the probability that the difference arose by chance; with each difference, its
    95% interval over the same resamples (:func:`difference_interval`). ``versus_above``:
    also each row's difference to the row above it and that pair's paired bootstrap p-value
    (what one step of a table adds).
    """
    if not systems:
        raise RescoreError("no systems to compare")
    names = [n for n, _ in systems]
    if len(set(names)) != len(names):
        raise RescoreError(f"system names must be distinct: {', '.join(names)}")
    refs = [list(reference)]
    metrics: dict[str, BLEU | CHRF] = {"BLEU": make_bleu(tokenize), "chrF": make_chrf()}
    rows: list[dict[str, object]] = []
    if len(systems) > 1 and bootstrap > 0:
        test = PairedTest([(n, list(h)) for n, h in systems], metrics, refs, test_type="bs",
                          n_samples=bootstrap)
        sigs, results = test()
        signatures = {k: str(v) for k, v in sigs.items()}
        for i, name in enumerate(names):
            row: dict[str, object] = {"system": name}
            for metric in (k for k in results if k != "System"):  # BLEU, chrF2
                res = results[metric][i]
                base = results[metric][0]
                assert isinstance(res, Result) and isinstance(base, Result)  # not user input
                row[metric] = res.score
                row[f"{metric} diff"] = res.score - base.score
                if i > 0:
                    low, high = difference_interval(
                        metrics["BLEU" if metric == "BLEU" else "chrF"], systems[i][1],
                        systems[0][1], refs, bootstrap)
                    row[f"{metric} diff 95% CI"] = f"[{low:+.2f}, {high:+.2f}]"
                else:
                    row[f"{metric} diff 95% CI"] = ""
                row[f"{metric} p"] = _p_value(res.p_value, res.score - base.score)
            rows.append(row)
    else:
        signatures = {}
        for name, hyps in systems:
            row = {"system": name}
            for scorer in metrics.values():
                score = scorer.corpus_score(list(hyps), refs)
                row[score.name] = score.score
                signatures[score.name] = str(scorer.get_signature())
            rows.append(row)
        for metric in signatures:
            first = float(rows[0][metric])  # type: ignore[arg-type]
            for row in rows:
                row[f"{metric} diff"] = float(row[metric]) - first  # type: ignore[arg-type]
    if versus_above and len(systems) > 1 and bootstrap > 0:
        _add_versus_above(rows, systems, metrics, refs, bootstrap)
    table = pd.DataFrame(rows)
    return Comparison(table, signatures, {"tokenize": tokenize, "bootstrap": bootstrap,
                                          "baseline": names[0], "versus_above": versus_above})


def _p_value(p: float | None, difference: float) -> float | None:
    """sacrebleu's paired bootstrap p, except for no difference at all: when the two scores
    are equal (identical outputs, or outputs that differ only where neither scores, such as
    MBR changing one sentence for another with the same n-gram matches), every resample's
    difference is 0 and its test gives 1/(samples+1), which reads as significant; no observed
    difference is p = 1."""
    return 1.0 if difference == 0 else p


def _add_versus_above(rows: list[dict[str, object]],
                      systems: Sequence[tuple[str, Sequence[str]]],
                      metrics: dict[str, BLEU | CHRF], refs: list[list[str]],
                      bootstrap: int) -> None:
    """Columns ``METRIC vs above diff`` and ``METRIC vs above p``: each row against the row
    above it (sacrebleu's paired bootstrap test of that pair, the same seed and samples)."""
    scored = [k for k in rows[0] if k in ("BLEU", "chrF2")]
    for i, row in enumerate(rows):
        for metric in scored:
            row[f"{metric} vs above diff"] = float("nan")
            row[f"{metric} vs above p"] = float("nan")
        if i == 0:
            continue
        (above_name, above), (name, hyps) = systems[i - 1], systems[i]
        if list(above) == list(hyps):
            results = None
        else:
            test = PairedTest([(above_name, list(above)), (name, list(hyps))], metrics, refs,
                              test_type="bs", n_samples=bootstrap)
            results = test()[1]
        for metric in scored:
            row[f"{metric} vs above diff"] = (float(row[metric])  # type: ignore[arg-type]
                                              - float(rows[i - 1][metric]))  # type: ignore[arg-type]
            if results is None:
                row[f"{metric} vs above p"] = 1.0  # identical outputs: no difference
            else:
                res, above_res = results[metric][1], results[metric][0]
                assert isinstance(res, Result) and isinstance(above_res, Result)
                row[f"{metric} vs above p"] = _p_value(res.p_value,
                                                       res.score - above_res.score)
