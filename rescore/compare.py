"""BLEU/chrF comparison tables: one row per system, differences to the first system (the
baseline) and paired bootstrap resampling p-values, all through sacrebleu. Rendering several
tables into a report is :mod:`rescore.report`'s job."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
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
        body = self.table.to_markdown(index=False, floatfmt=".2f")
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


def load_system(path: str | Path, num_lines: int, ref_name: str) -> list[str]:
    lines = read_lines(path)
    if len(lines) != num_lines:
        raise InputError(path, min(len(lines), num_lines) + 1,
                         f"{len(lines)} lines but the reference {ref_name} has {num_lines}")
    return lines


def compare_systems(
    reference: Sequence[str], systems: Sequence[tuple[str, Sequence[str]]],
    tokenize: str = DEFAULT_TOKENIZE, bootstrap: int = DEFAULT_BOOTSTRAP,
) -> Comparison:
    """Score ``systems`` (the first is the baseline) against one reference.

    BLEU and chrF come from sacrebleu; p-values from sacrebleu's paired bootstrap resampling
    (``bootstrap`` samples, seed ``$SACREBLEU_SEED`` or 12345) of each system against the
    first: the probability that the difference arose by chance.
    """
    if not systems:
        raise RescoreError("no systems to compare")
    names = [n for n, _ in systems]
    if len(set(names)) != len(names):
        raise RescoreError(f"system names must be distinct: {', '.join(names)}")
    refs = [list(reference)]
    metrics = {"BLEU": make_bleu(tokenize), "chrF": make_chrf()}
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
                row[f"{metric} 95% CI"] = res.ci
                # sacrebleu's test gives about 1/(samples+1) for an output identical to the
                # baseline, which reads as significant: there is no difference, p = 1
                same = i > 0 and list(systems[i][1]) == list(systems[0][1])
                row[f"{metric} p"] = 1.0 if same else res.p_value
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
    table = pd.DataFrame(rows)
    return Comparison(table, signatures, {"tokenize": tokenize, "bootstrap": bootstrap,
                                          "baseline": names[0]})
