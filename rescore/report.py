"""Full reports: several comparison tables (:mod:`rescore.compare`) with a shared baseline,
the oracle, the paper's figures (:mod:`rescore.figures`), rendered as Markdown, a
self-contained HTML page, JSON and CSV."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rescore import model_dir
from rescore.checks import read_json
from rescore.compare import (
    DEFAULT_BOOTSTRAP,
    Comparison,
    compare_systems,
    display_table,
    load_system,
)
from rescore.errors import InputError, RescoreError
from rescore.files import atomic_output, atomic_write_bytes, read_lines
from rescore.metrics import DEFAULT_TOKENIZE


@dataclass
class ReportSpec:
    """What a report holds. ``tables``: (title, [(name, file)]); every table is compared with
    ``baseline`` (its first row) when given, else with its own first system. ``source`` and
    ``vocab`` enable Figure 3 (BLEU by length and by word frequency); ``pca_model`` and
    ``phrases`` Figure 2; ``oracle``: a rescore-oracle --report JSON. ``models`` (name,
    model directory) and ``weights`` (system name -> the weights file it was reranked with)
    are described in the report's provenance section."""

    ref: Path
    tables: list[tuple[str, list[tuple[str, Path]]]]
    baseline: tuple[str, Path] | None = None
    source: Path | None = None
    vocab: Path | None = None
    pca_model: Path | None = None
    phrases: Path | None = None
    oracle: Path | None = None
    tokenize: str = DEFAULT_TOKENIZE
    bootstrap: int = DEFAULT_BOOTSTRAP
    bins: int = 7
    plot: list[str] | None = None  # systems drawn in Figure 3 (default: all but oracles)
    models: list[tuple[str, Path]] = field(default_factory=list)
    weights: dict[str, Path] = field(default_factory=dict)
    versus_above: bool = False  # also each row against the row above it
    notes: list[str] = field(default_factory=list)  # shown first: what kind of run this is

    def inputs(self) -> list[tuple[str, Path | None]]:
        """Every file the report reads, named as the spec names it (outputs must be none of
        them)."""
        named: list[tuple[str, Path | None]] = [("the reference", self.ref)]
        named += [(f"system {n}", p) for _, rows in self.tables for n, p in rows]
        if self.baseline is not None:
            named.append((f"baseline {self.baseline[0]}", self.baseline[1]))
        named += [(k, getattr(self, k)) for k in ("source", "vocab", "phrases", "oracle")]
        named += [(f"weights of {n}", p) for n, p in self.weights.items()]
        return named


def load_spec(path: str | Path) -> ReportSpec:
    """A JSON report spec (see :class:`ReportSpec`); relative paths are taken from the
    current directory."""
    try:
        data = read_json(path)
        if not isinstance(data, dict):
            raise TypeError(f"a JSON {type(data).__name__}, not an object with \"ref\" and "
                            "\"tables\"")
        opt = {k: Path(data[k]) for k in ("source", "vocab", "pca_model", "phrases", "oracle")
               if data.get(k)}
        base = data.get("baseline")
        return ReportSpec(
            ref=Path(data["ref"]),
            tables=[(str(t["title"]), [(str(s["name"]), Path(s["file"])) for s in t["systems"]])
                    for t in data["tables"]],
            baseline=(str(base["name"]), Path(base["file"])) if base else None,
            tokenize=str(data.get("tokenize", DEFAULT_TOKENIZE)),
            bootstrap=int(data.get("bootstrap", DEFAULT_BOOTSTRAP)),
            bins=int(data.get("bins", 7)), versus_above=bool(data.get("versus_above", False)),
            notes=[str(n) for n in data.get("notes", [])],
            plot=[str(n) for n in data["plot"]] if data.get("plot") else None,
            models=[(str(m["name"]), Path(m["dir"])) for m in data.get("models", [])],
            weights=_tuned_rows(data["tables"]), **opt)
    except FileNotFoundError:
        raise RescoreError(f"{path}: no such report spec") from None
    except KeyError as err:
        raise RescoreError(f"{path}: invalid report spec (no {err} in it)") from None
    except (json.JSONDecodeError, TypeError, ValueError, AttributeError) as err:
        raise RescoreError(f"{path}: invalid report spec ({err})") from None


@dataclass
class Report:
    spec: ReportSpec
    comparisons: list[tuple[str, Comparison]]
    oracle: dict[str, object] | None
    figure3: dict[str, pd.DataFrame]  # "length" / "frequency" -> bins x systems
    images: dict[str, bytes]  # figure name -> PNG
    pca: pd.DataFrame | None
    provenance: list[str] = field(default_factory=list)  # what was evaluated, with what

    def to_markdown(self, image_names: dict[str, str] | None = None) -> str:
        parts = ["# rescore report", "", *(f"> **{note}**\n" for note in self.spec.notes),
                 INTRO, "", "## What was evaluated", "",
                 *(f"- {line}" for line in self.provenance), ""]
        for title, cmp in self.comparisons:
            parts += [f"## {title}", "", cmp.to_markdown()]
        if self.oracle:
            parts += ["## Oracle of the n-best lists", "",
                      display_table(_oracle_table(self.oracle)).to_markdown(
                          index=False, disable_numparse=True), ""]
        if self.pca is not None:
            parts += ["## Figure 2: PCA of the encoder's final states", "",
                      f"The encoder of `{self.spec.pca_model}`.", ""]
            if image_names and "pca" in image_names:
                parts += [f"![PCA]({image_names['pca']})", ""]
            parts += [display_table(self.pca, 3).to_markdown(index=False,
                                                             disable_numparse=True), ""]
        for key, table in self.figure3.items():
            parts += [f"## Figure 3: BLEU by {FIGURE3[key][0]}", ""]
            if image_names and key in image_names:
                parts += [f"![BLEU by {FIGURE3[key][0]}]({image_names[key]})", ""]
            parts += [display_table(table).to_markdown(index=False, disable_numparse=True), ""]
        return "\n".join(parts)

    def to_html(self) -> str:
        import base64
        import html

        def table_html(df: pd.DataFrame, digits: int = 2) -> str:
            return display_table(df, digits).to_html(index=False, border=0, classes="results")

        def img(key: str, alt: str) -> str:
            data = base64.b64encode(self.images[key]).decode("ascii")
            return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'

        facts = "".join(f"<li>{html.escape(line).replace('`', '')}</li>"
                        for line in self.provenance)
        notes = "".join(f"<p class='note'><strong>{html.escape(n)}</strong></p>"
                        for n in self.spec.notes)
        body = [f"<h1>rescore report</h1>{notes}<p>{html.escape(INTRO)}</p>"
                f"<section class='provenance'><h2>What was evaluated</h2><ul>{facts}</ul>"
                "</section>"]
        for title, cmp in self.comparisons:
            sigs = "".join(f"<li>{html.escape(k)}: <code>{html.escape(v)}</code></li>"
                           for k, v in cmp.signatures.items())
            body.append(f"<h2>{html.escape(title)}</h2>{table_html(cmp.table)}"
                        f"<ul class='sig'>{sigs}</ul>")
        if self.oracle:
            body.append(f"<h2>Oracle of the n-best lists</h2>"
                        f"{table_html(_oracle_table(self.oracle))}")
        if self.pca is not None:
            body.append("<h2>Figure 2: PCA of the encoder's final states</h2>"
                        f"<p>The encoder of <code>{html.escape(str(self.spec.pca_model))}"
                        "</code>.</p>"
                        f"{img('pca', 'PCA of encoder states')}"
                        f"{table_html(self.pca, 3)}")
        for key, table in self.figure3.items():
            title, _ = FIGURE3[key]
            body.append(f"<h2>Figure 3: BLEU by {html.escape(title)}</h2>"
                        f"{img(key, 'BLEU by ' + title)}{table_html(table)}")
        style = ("body{font-family:sans-serif;max-width:70em;margin:auto;padding:1em}"
                 "table.results{border-collapse:collapse;margin:.5em 0}"
                 "table.results td,table.results th{border:1px solid #ccc;padding:2px 6px;"
                 "text-align:right}table.results td:first-child{text-align:left}"
                 "img{max-width:100%;display:block;margin:.5em 0}ul.sig{font-size:80%}"
                 "section.provenance li{margin:.2em 0}"
                 "p.note{background:#fff4d6;border-left:4px solid #e0a800;padding:.5em}")
        return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
                f"<title>rescore report</title><style>{style}</style></head><body>\n"
                + "\n".join(body) + "\n</body></html>\n")

    def to_json(self) -> str:
        first = self.comparisons[0][1]
        data: dict[str, object] = {
            "tables": [{"title": t, "systems": json.loads(c.table.to_json(orient="records")),
                        "signatures": c.signatures} for t, c in self.comparisons],
            "signatures": first.signatures, "settings": first.settings,
            "oracle": self.oracle, "provenance": self.provenance,
            "figure3": {k: json.loads(v.to_json(orient="records"))
                        for k, v in self.figure3.items()},
            "figure2": json.loads(self.pca.to_json(orient="records"))
            if self.pca is not None else None}
        return json.dumps(data, indent=2) + "\n"

    def to_csv(self) -> str:
        frames = [c.table.assign(table=t)[["table", *c.table.columns]]
                  for t, c in self.comparisons]
        return pd.concat(frames, ignore_index=True).to_csv(index=False)

    def save(self, prefix: str | Path) -> list[Path]:
        """``PREFIX.md`` (figures as ``PREFIX-NAME.png`` beside it), ``PREFIX.html`` (self-
        contained: figures embedded), ``PREFIX.json`` and ``PREFIX.csv``."""
        base = Path(prefix)
        names = {k: f"{base.name}-{k}.png" for k in self.images}
        written = []
        for key, png in self.images.items():
            path = base.with_name(names[key])
            atomic_write_bytes(path, png)
            written.append(path)
        for ext, text in (("md", self.to_markdown(names)), ("html", self.to_html()),
                          ("json", self.to_json()), ("csv", self.to_csv())):
            path = Path(f"{base}.{ext}")
            with atomic_output(path) as out:
                out.write(text)
            written.append(path)
        return written


INTRO = ("BLEU and chrF by sacrebleu (signatures under each table). \"diff\" is a system's "
         "score minus the first row's (the baseline), with its 95% interval over paired "
         "bootstrap resamples of the test set; p is sacrebleu's paired bootstrap p-value of "
         "that difference (the chance of a difference at least this large without a real "
         "one). Rows whose weights were tuned on a dev set also show \"dev BLEU\" (the tuned "
         "weights' BLEU on that dev set), \"dev diff\" (that minus the dev BLEU of the "
         "weights tuning started from: the gain tuning found where it could see the "
         "references) and, when tuned with --folds, \"cv dev BLEU\" (every dev sentence "
         "reranked by weights tuned without it: an estimate of the BLEU on unseen text).")

FIGURE3 = {"length": ("sentence length (source words)", "source words per sentence"),
           "frequency": ("average word frequency rank", "average frequency rank of the "
                         "source words")}


def _oracle_table(oracle: dict[str, object]) -> pd.DataFrame:
    at_k = oracle.get("oracle_bleu_at_k", {})
    rows = [{"first k hypotheses": int(k), "oracle BLEU": float(v)}
            for k, v in (at_k.items() if isinstance(at_k, dict) else [])]
    return pd.DataFrame(rows)


def _tuned_rows(tables: list[dict[str, Any]]) -> dict[str, Path]:
    """System name -> the weights file its row was reranked with. A name is a row's key
    (its dev columns, its weights line): two rows of one name with different weights would
    show one row's tuning beside the other's BLEU, so they are refused."""
    weights: dict[str, Path] = {}
    for table in tables:
        for system in table["systems"]:
            if not system.get("weights"):
                continue
            name, path = str(system["name"]), Path(system["weights"])
            if weights.setdefault(name, path) != path:
                raise ValueError(f"two rows named {name!r} with different weights: give "
                                 "each tuned row a name of its own")
    return weights


def add_dev_columns(table: pd.DataFrame, weights: dict[str, Path]) -> None:
    """Columns ``dev BLEU`` and ``dev diff`` (tuned minus start, the gain tuning found on the
    dev list) for the rows reranked with tuned weights, from each weights file's report;
    compared with the test difference they show how much of the dev gain was overfitting."""
    dev, gain, held = [], [], []
    for name in table["system"]:
        info = _tune_report(weights[name]) if name in weights else {}
        start, tuned = info.get("dev_bleu_start"), info.get("dev_bleu_tuned")
        ok = isinstance(start, int | float) and isinstance(tuned, int | float)
        dev.append(float(tuned) if ok else float("nan"))  # type: ignore[arg-type]
        gain.append(float(tuned) - float(start) if ok else float("nan"))  # type: ignore[arg-type]
        cv = info.get("dev_bleu_cross_validated")
        held.append(float(cv) if isinstance(cv, int | float) else float("nan"))
    if any(v == v for v in dev):
        table["dev BLEU"] = dev
        table["dev diff"] = gain
    if any(v == v for v in held):  # k-fold cross-validated dev BLEU (rescore-tune --folds)
        table["cv dev BLEU"] = held


def _tune_report(weights: Path) -> dict[str, object]:
    """The ``.report.json`` rescore-tune wrote beside a weights file (empty if none)."""
    path = weights.with_suffix(".report.json")
    try:
        data = read_json(path)
    except RescoreError:
        return {}
    return data if isinstance(data, dict) else {}


def build_report(spec: ReportSpec) -> Report:
    """Score every table, load the oracle, compute the figures the spec enables."""
    from rescore import figures

    refs = read_lines(spec.ref)
    if not refs:
        raise RescoreError(f"{spec.ref}: empty reference file")
    loaded: dict[Path, list[str]] = {}

    def system(path: Path) -> list[str]:
        if path not in loaded:
            loaded[path] = load_system(path, len(refs), str(spec.ref))
        return loaded[path]

    comparisons = []
    plotted: dict[str, list[str]] = {}
    group_of: dict[str, str] = {}  # system name -> the first table it is in
    for title, systems in spec.tables:
        rows = [(n, system(p)) for n, p in systems]
        if spec.baseline is not None:
            rows.insert(0, (spec.baseline[0], system(spec.baseline[1])))
        comparison = compare_systems(refs, rows, spec.tokenize, spec.bootstrap,
                                     spec.versus_above)
        add_dev_columns(comparison.table, spec.weights)
        comparisons.append((title, comparison))
        for name, hyps in rows:
            if not name.startswith("oracle"):
                plotted.setdefault(name, hyps)
                group_of.setdefault(name, title)
    oracle = None
    if spec.oracle is not None:
        try:
            oracle = read_json(spec.oracle)
        except RescoreError as err:
            raise RescoreError(f"{spec.oracle}: unreadable oracle report ({err})") from None
        if not isinstance(oracle, dict) or not isinstance(oracle.get("oracle_bleu_at_k"), dict):
            raise RescoreError(f"{spec.oracle}: not a report of rescore-oracle --report (no "
                               "\"oracle_bleu_at_k\" in it)")
    figure3: dict[str, pd.DataFrame] = {}
    images: dict[str, bytes] = {}
    if spec.source is not None:
        sources = read_lines(spec.source)
        if len(sources) != len(refs):
            raise InputError(spec.source, min(len(sources), len(refs)) + 1,
                             f"{len(sources)} lines but the reference has {len(refs)}")
        keys = {"length": [float(len(s.split())) for s in sources]}
        if spec.vocab is not None:
            ranks = figures.frequency_ranks(read_lines(spec.vocab))
            keys["frequency"] = [figures.average_rank(s, ranks) for s in sources]
        if spec.plot is not None:
            unknown = [n for n in spec.plot if n not in plotted]
            if unknown:
                raise RescoreError(f"systems to plot not in any table: {', '.join(unknown)}")
            plotted = {n: plotted[n] for n in spec.plot}
        base_name = spec.baseline[0] if spec.baseline is not None else None
        named = list(plotted.items())
        if base_name is not None and base_name not in plotted:
            named.insert(0, (base_name, system(spec.baseline[1])))  # type: ignore[index]
        groups: dict[str, list[str]] = {}
        for name, _ in named:
            if name != base_name:
                groups.setdefault(group_of.get(name, ""), []).append(name)
        for key, values in keys.items():
            table = figures.bleu_by_bins(refs, named, values, spec.bins, spec.tokenize)
            figure3[key] = table
            images[key] = figures.plot_bins(table, groups, base_name, FIGURE3[key][1],
                                            f"BLEU by {FIGURE3[key][0]}")
    pca = None
    if spec.pca_model is not None and spec.phrases is not None:
        phrases = figures.load_phrases(spec.phrases)
        coords, explained = figures.pca_2d(figures.encoder_states(spec.pca_model, phrases))
        pca = pd.DataFrame({"phrase": phrases, "pc1": coords[:, 0], "pc2": coords[:, 1]})
        images["pca"] = figures.plot_pca(coords, phrases, explained, str(spec.pca_model))
    return Report(spec, comparisons, oracle, figure3, images, pca,
                  provenance(spec, len(refs), oracle))


def provenance(spec: ReportSpec, sentences: int, oracle: dict[str, object] | None
               ) -> list[str]:
    """Lines saying what was evaluated: the test set, the models, how each tuned row's weights
    were found (a tuned weight of 0 on every added feature means the row is the baseline)."""
    lines = [f"Test set: `{spec.ref}`, {sentences} sentences"
             + (f" (source `{spec.source}`)" if spec.source else "")
             + f"; sacrebleu tokenization `{spec.tokenize}`, {spec.bootstrap} bootstrap samples."]
    if oracle and oracle.get("nbest"):
        lines.append(f"n-best lists: `{oracle['nbest']}`.")
    for name, directory in spec.models:
        try:
            info = model_dir.describe(directory)
        except RescoreError as err:
            lines.append(f"Model {name}: `{directory}` (not readable: {err}).")
            continue
        ppl = (f", validation perplexity {info['validation perplexity']:.2f} at epoch "
               f"{info['at epoch']:g}" if "validation perplexity" in info else "")
        took = f", trained {info['training seconds']:,} s" if "training seconds" in info else ""
        if info.get("trained with"):  # what decides its exact numbers
            took += f" (trained with {'; then '.join(info['trained with'])})"
        langs = info.get("languages")
        lines.append(f"Model {name}: `{directory}`: {info['shape']}, {info['vocabulary']} words, "
                     f"{info['parameters']:,} parameters"
                     + (f", {langs['source']} -> {langs['target']}" if langs else "")
                     + (", reversed source" if info["reversed source"] else "")
                     + (", right-to-left target" if info.get("right to left") else "")
                     + (f", dropout {info['dropout']:g}" if info["dropout"] else "")
                     + f"{ppl}{took}.")
    for system, path in spec.weights.items():
        lines.append(f"{system}: {_weights_line(path)}")
    return lines


def _weights_line(path: Path) -> str:
    """How a weights file of rescore-tune was made, from its report beside it."""
    text = f"weights `{path}`"
    info = _tune_report(path)
    if not info:
        return text + "."
    method = info.get("method", "?")
    dev = (f"dev BLEU {info['dev_bleu_start']:.2f} -> {info['dev_bleu_tuned']:.2f}"
           if "dev_bleu_start" in info and "dev_bleu_tuned" in info else "")
    if "dev_bleu_cross_validated" in info:
        dev += (f" ({info.get('folds')}-fold cross-validated: "
                f"{info['dev_bleu_cross_validated']:.2f}; the mean of the folds' weights)")
    if method == "grid":
        lam = float(info.get("lambda", 0.0))  # type: ignore[arg-type]
        same = " (weight 0: this row equals the baseline)" if lam == 0 else ""
        return f"{text}: grid-tuned interpolation weight {lam:g}{same}; {dev}."
    if method == "mbr-scale":
        return (f"{text}: MBR over the top {info.get('top')} entries under these weights, "
                f"{info.get('utility')} utility, posterior scale {info.get('scale')} tuned on "
                f"the dev list; {dev}.")
    try:
        weights = read_json(path)
        shown = ", ".join(_weight_text(k, v) for k, v in weights.items())
    except (RescoreError, TypeError, AttributeError, ValueError, KeyError):
        shown = ""
    return f"{text}: {method}; {dev}; {shown}."


def _weight_text(name: str, value: object) -> str:
    """One entry of a weights JSON: ``NAME w1 w2``, or the baseline's total as one feature
    (``"baseline": {"weight": w, "weights": {...}}``)."""
    if isinstance(value, dict):
        return f"{name} total x {float(value['weight']):.3g}"
    if not isinstance(value, list):
        raise TypeError(f"weights of {name}: {value!r}")
    return f"{name} {' '.join(f'{float(x):.3g}' for x in value)}"
