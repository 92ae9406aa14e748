"""Stage factories: the building blocks of the experiment pipelines (pipelines/*.py), each a
:class:`pipelines.engine.pipeline.Stage` running one rescore command, and the blocks of rows that
every rescoring table repeats (the paper's untuned average; weights tuned on a dev list, then
reranking the test list; the oracle; the report).

A pipeline script lists its stages with these and hands them to
:func:`pipelines.engine.pipeline.run_pipeline`. Only commands are built here: nothing runs and no
file is written until the pipeline runs a stage.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.engine.layout import DEFAULT_LAYOUT, Layout
from pipelines.engine.pipeline import Stage
from rescore.errors import RescoreError
from rescore.model_dir import CHECKPOINT, MODEL, finished

PY = sys.executable
ROOT = Path(__file__).resolve().parents[2]  # the checkout: data/ recipes live there
# the dense features of the Multi30k Moses system (../shared/data/multi30k-en-fr/README.md)
MOSES_FEATURES = ("LexicalReordering0,Distortion0,LM0,WordPenalty0,PhrasePenalty0,"
                  "TranslationModel0")
Launcher = Callable[[str], list[str]]


def cli(name: str) -> list[str]:
    """``python -m rescore.cli.NAME`` with this interpreter."""
    return [PY, "-m", f"rescore.cli.{name}"]


def torchrun(gpus: int) -> Launcher:
    """A launcher running a command on ``gpus`` processes of one machine."""
    def launch(name: str) -> list[str]:
        return [PY, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                str(gpus), "-m", f"rescore.cli.{name}"]
    return launch


def check_models(directories: Sequence[Path]) -> None:
    """Trained models a pipeline is given (``--models DIR``) must exist and have finished
    training before any stage runs (and in a dry run): one error naming every missing one.
    A folder with only a checkpoint is a run still going (or stopped): scoring with it would
    report a half-trained model as the experiment's."""
    missing = [d for d in directories if not finished(d) and not (d / CHECKPOINT).exists()]
    unfinished = [d for d in directories if not finished(d) and (d / CHECKPOINT).exists()]
    problems = []
    if missing:
        problems.append("no trained model in " + ", ".join(map(str, missing)) + " (a model "
                        "directory of rescore-train)")
    if unfinished:
        problems.append("training has not finished in " + ", ".join(map(str, unfinished))
                        + " (checkpoint.pt but no model.safetensors: wait for it, or continue it "
                        "with rescore-train --resume --output DIR)")
    if problems:
        raise RescoreError("; ".join(problems))


def data_stage(source: Path, data: Path, *, train_pairs: int | None = None,
               sentences: int | None = None, inputs: Sequence[Path] = (),
               after: Sequence[str] = (), layout: Layout = DEFAULT_LAYOUT) -> Stage:
    """``data/multi30k/slice.py``: Multi30k (and its Moses lists) from ``source`` into the
    pipeline's ``data`` folder, whole or the first ``train_pairs`` / ``sentences``; another
    folder's languages and test set by ``layout``."""
    command = [PY, str(ROOT / "data/multi30k/slice.py"), "--from", str(source),
               "--output", str(data)]
    if layout != DEFAULT_LAYOUT:
        command += ["--src-lang", layout.src, "--tgt-lang", layout.tgt, "--test", layout.test]
    if train_pairs:
        command += ["--train-pairs", str(train_pairs)]
    if sentences:
        command += ["--sentences", str(sentences)]
    return Stage("data", command, [data / f"{layout.test}.{layout.tgt}",
                                   data / f"train.{layout.tgt}.gz"], list(inputs),
                 list(after), description="the data (or a slice)")


def train_stage(name: str, out: Path, args: Sequence[str | Path], *, after: Sequence[str] = (),
                inputs: Sequence[Path] = (), resume_args: Sequence[str] = (),
                launcher: Launcher = cli, description: str = "") -> Stage:
    """``rescore-train ARGS --output OUT``, continued with ``--resume`` after an
    interruption (its checkpoint)."""
    return Stage(name, [*launcher("train"), *map(str, args), "--output", str(out)],
                 [out / MODEL], list(inputs), list(after),
                 resume=[*launcher("train"), "--resume", "--output", str(out), *resume_args],
                 partial=out / CHECKPOINT, description=description or f"train {name}",
                 workspace=out)


def translate_stage(name: str, source: Path, out: Path, models: Sequence[Path], beam: int, *,
                    extra: Sequence[str] = (), inputs: Sequence[Path] = (),
                    after: Sequence[str] = ()) -> Stage:
    """``rescore-translate``: standalone beam search with one model or an ensemble."""
    command = [*cli("translate"), "--input", str(source), "--output", str(out), "--beam",
               str(beam), *extra]
    for model in models:
        command += ["--model", str(model)]
    return Stage(name, command, [out], list(inputs), list(after),
                 description=f"translate with beam {beam}")


def score_stage(name: str, nbest: Path, source: Path, models: Sequence[tuple[str, Path]],
                out: Path, *, ensemble: Sequence[str] = (),
                channel_models: Sequence[tuple[str, Path]] = (), lms: Sequence[Path] = (),
                extra: Sequence[str] = (), launcher: Launcher = cli,
                inputs: Sequence[Path] = (), after: Sequence[str] = ()) -> Stage:
    """``rescore-nbest`` adding an LSTM feature per ``(NAME, DIR)`` model (and their mean as
    LSTMEnsemble0 over the features ``ensemble``), a channel feature per ``channel_models``
    model and a KenLM feature per ``lms`` file to a list."""
    command = [*launcher("nbest"), "--nbest", str(nbest), "--source", str(source), *extra]
    for feat, directory in models:
        command += ["--model", f"{feat}={directory}"]
    for feat, directory in channel_models:
        command += ["--channel-model", f"{feat}={directory}"]
    for lm in lms:
        command += ["--lm", str(lm)]
    if ensemble:
        command += ["--ensemble", ",".join(ensemble)]
    command += ["--output-nbest", str(out)]
    kinds = [k for k, given in (("LSTM", models), ("channel", channel_models), ("KenLM", lms))
             if given]
    return Stage(name, command, [out], list(inputs), list(after),
                 description=f"add {' and '.join(kinds) or 'no'} features to {nbest.name}")


def rerank_stage(name: str, nbest: Path, out: Path, *, weights: Path | None = None,
                 extra: Sequence[str] = (), after: Sequence[str] = ()) -> Stage:
    """``rescore-nbest`` writing the 1-best of a list reranked with ``weights`` (or by the
    rule in ``extra``, e.g. ``--combine average``)."""
    command = [*cli("nbest"), "--nbest", str(nbest), *extra]
    if weights is not None:
        command += ["--weights", str(weights)]
    return Stage(name, [*command, "--output-1best", str(out)], [out], after=list(after))


def tune_stage(name: str, nbest: Path, ref: Path, init: Path, args: Sequence[str],
               weights: Path, cache: Path, *, after: Sequence[str] = (),
               init_text: str | None = None) -> Stage:
    """``rescore-tune`` on a dev list, starting from (or interpolating with) ``init``
    (``init_text``: the pipeline writes ``init`` with this text when the stage runs)."""
    return Stage(name, [*cli("tune"), "--nbest", str(nbest), "--ref", str(ref),
                        "--init-weights", str(init), *args, "--output", str(weights),
                        "--cache", str(cache)], [weights], after=list(after),
                 generated={init: init_text} if init_text is not None else {})


def mbr_stage(name: str, nbest: Path, weights: Path, scale_report: Path, out: Path, *,
              top: int = 100, after: Sequence[str] = ()) -> Stage:
    """``rescore-mbr`` over the ``top`` entries under ``weights``, its posterior scale taken
    from the report of ``rescore-tune --method mbr-scale`` (tuned for the same ``top``)."""
    return Stage(name, [*cli("mbr"), "--nbest", str(nbest), "--weights", str(weights),
                        "--scale-from", str(scale_report), "--top", str(top),
                        "--output-1best", str(out)], [out], after=list(after),
                 description="minimum Bayes risk over the list")


def oracle_stage(nbest: Path, ref: Path, out: Path, *, after: Sequence[str] = (),
                 name: str = "oracle") -> tuple[Stage, Path]:
    """``rescore-oracle``: the oracle 1-best ``out`` and its figures (``out.json``)."""
    report = out.with_name(out.name + ".json")
    return Stage(name, [*cli("oracle"), "--nbest", str(nbest), "--ref", str(ref),
                            "--output", str(out), "--report", str(report)],
                 [out, report], after=list(after)), report


def report_stage(work: Path, spec: Mapping[str, object], inputs: Sequence[Path],
                 after: Sequence[str]) -> Stage:
    """``rescore-report`` reading ``spec``, which the pipeline writes to
    WORKDIR/report/spec.json when the stage runs (a changed spec reruns the report)."""
    spec_path = work / "report" / "spec.json"
    report = work / "report" / "report"
    return Stage("report", [*cli("report"), "--spec", str(spec_path), "--output-prefix",
                            str(report)],
                 [Path(f"{report}.{ext}") for ext in ("md", "html", "json")],
                 [*inputs], list(after), description="tables, figures, HTML",
                 generated={spec_path: json.dumps(dict(spec), indent=2) + "\n"})


@dataclass
class Rows:
    """Stages and the table rows (``{"name", "file"}``) they produce."""

    stages: list[Stage] = field(default_factory=list)
    systems: list[dict[str, str]] = field(default_factory=list)

    def add(self, stage: Stage, name: str, file: Path, weights: Path | None = None) -> None:
        """A stage and its row; ``weights``: the tuned weights it reranks with (the report
        says how they were found)."""
        self.stages.append(stage)
        row = {"name": name, "file": str(file)}
        if weights is not None:
            row["weights"] = str(weights)
        self.systems.append(row)


def average_rows(scored: Path, features: dict[str, str], work: Path,
                 after: Sequence[str]) -> Rows:
    """The paper's untuned average of the list's total and each feature (label: row name)."""
    rows = Rows()
    for feat, label in features.items():
        out = work / "rerank" / f"avg-{feat}.1best"
        rows.add(rerank_stage(f"average-{feat}", scored, out, after=after,
                              extra=["--combine", "average", "--average-feature", feat]),
                 f"{label}, the paper's untuned average", out)
    return rows


def grid_tunings(features: dict[str, str]) -> dict[str, tuple[list[str], str]]:
    """One grid-tuned interpolation weight per feature: ``{key: (tune args, row name)}``."""
    return {f"grid-{feat}": (["--method", "grid", "--feature", feat],
                             f"{label}, weight grid-tuned on val")
            for feat, label in features.items()}


def tuned_rows(val: Path, test: Path, val_ref: Path, init: Path,
               tunings: dict[str, tuple[list[str], str]], work: Path,
               after_val: Sequence[str], after_test: Sequence[str]) -> Rows:
    """For each tuning: tune on the scored dev list, then rerank the scored test list."""
    rows = Rows()
    cache = work / "tune" / "val.features.parquet"
    for key, (args, label) in tunings.items():
        weights = work / "tune" / f"{key}.json"
        rows.stages.append(tune_stage(f"tune-{key}", val, val_ref, init, args, weights, cache,
                                      after=after_val))
        out = work / "rerank" / f"{key}.1best"
        rows.add(rerank_stage(f"rerank-{key}", test, out, weights=weights,
                              after=[*after_test, f"tune-{key}"]), label, out, weights)
    return rows
