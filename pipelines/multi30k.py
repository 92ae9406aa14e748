"""Multi30k English->French end to end, in one command: data, forward and reversed models (and
a second reversed seed for the ensemble), scoring the val and test2016 Moses 1000-best lists,
tuning on val, reranking test2016, standalone translation, oracles and the report (the
paper's Tables 1 and 2 and Figures 2 and 3), as stages that are skipped when up to date.

    .venv/bin/python pipelines/multi30k.py --quick          # tiny models, a slice: minutes
    .venv/bin/python pipelines/multi30k.py                  # cpu-multi30k models, all data
    .venv/bin/python pipelines/multi30k.py --dry-run        # every stage and its command

Data come from $RESCORE_SHARED_DATA/multi30k-en-fr (../shared/data) when present; otherwise
data/multi30k/prepare.py downloads the public originals (no Moses n-best lists then: the
rescoring stages are left out). The report lands in WORKDIR/report/report.{md,html,json}.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from rescore.errors import RescoreError  # noqa: E402
from rescore.files import atomic_output  # noqa: E402
from rescore.paths import multi30k_dir  # noqa: E402
from rescore.pipeline import Pipeline, Stage  # noqa: E402

PY = sys.executable
MOSES_FEATURES = ("LexicalReordering0,Distortion0,LM0,WordPenalty0,PhrasePenalty0,"
                  "TranslationModel0")


@dataclass(frozen=True)
class Mode:
    preset: str
    train_pairs: int | None
    sentences: int | None
    epochs: float | None
    mert_restarts: int
    mert_iterations: int
    beams: tuple[int, ...] = (1, 2, 12)


QUICK = Mode("cpu-tiny", train_pairs=10000, sentences=100, epochs=2.0, mert_restarts=1,
             mert_iterations=3)
FULL = Mode("cpu-multi30k", train_pairs=None, sentences=None, epochs=None, mert_restarts=2,
            mert_iterations=5)


def cli(name: str) -> list[str]:
    return [PY, "-m", f"rescore.cli.{name}"]


def build(work: Path, mode: Mode, shared: Path | None,
          models: Path | None = None) -> Pipeline:
    """The stages; ``models``: use these trained fwd/rev/rev2 model folders (no training).
    The thread count is not part of any command (it changes no output): main() sets it."""
    data = work / "data"
    stages: list[Stage] = []
    if shared is not None:
        source, inputs = shared, [shared / "train.en.gz", shared / "val.en", shared / "test2016.en"]
    else:
        source, inputs = work / "download", []
        stages.append(Stage("download", [PY, str(ROOT / "data/multi30k/prepare.py"), "--output",
                                         str(source)], [source / "test2016.fr"],
                            description="download the Multi30k originals and tokenize them"))
    slice_args = [PY, str(ROOT / "data/multi30k/slice.py"), "--from", str(source),
                  "--output", str(data)]
    if mode.train_pairs:
        slice_args += ["--train-pairs", str(mode.train_pairs)]
    if mode.sentences:
        slice_args += ["--sentences", str(mode.sentences)]
    stages.append(Stage("data", slice_args, [data / "test2016.fr", data / "train.fr.gz"],
                        inputs, [s.name for s in stages], description="the data (or a slice)"))
    have_lists = shared is not None and (shared / "nbest/test2016.1000best.gz").exists()

    model_dirs = {}
    for name, extra in (("fwd", ["--no-reverse-source"]), ("rev", []),
                        ("rev2", ["--seed", "2"])):
        if models is not None:
            model_dirs[name] = models / name
            continue
        out = work / "models" / name
        args = [*cli("train"), "--preset", mode.preset, "--src-train", str(data / "train.en.gz"),
                "--tgt-train", str(data / "train.fr.gz"), "--src-valid", str(data / "val.en"),
                "--tgt-valid", str(data / "val.fr"), "--output", str(out), *extra]
        if mode.epochs:
            args += ["--epochs", str(mode.epochs)]
        stages.append(Stage(f"train-{name}", args, [out / "model.pt"], after=["data"],
                            resume=[*cli("train"), "--resume", "--output", str(out)],
                            partial=out / "checkpoint.pt", description=f"train {name}"))
        model_dirs[name] = out
    model_inputs = list(model_dirs.values()) if models is not None else []
    trained = [f"train-{n}" for n in model_dirs] if models is None else []

    def after(*names: str) -> list[str]:
        return [*trained, "data", *names]

    tables: dict[str, list[dict[str, str]]] = {"Table 1: standalone translation": [],
                                                "Table 2: rescoring Moses' 1000-best lists": []}
    # --- Table 1: standalone beam search
    t1 = tables["Table 1: standalone translation"]
    runs = [("fwd-b12", "single forward LSTM, beam 12", 12, ["fwd"]),
            ("rev-b12", "single reversed LSTM, beam 12", 12, ["rev"])]
    runs += [(f"ens-b{b}", f"ensemble of 2 reversed LSTMs, beam {b}", b, ["rev", "rev2"])
             for b in mode.beams]
    for key, label, beam, names in runs:
        out = work / "translate" / f"{key}.txt"
        args = [*cli("translate"), "--input", str(data / "test2016.en"), "--output", str(out),
                "--beam", str(beam)]
        for n in names:
            args += ["--model", str(model_dirs[n])]
        stages.append(Stage(f"translate-{key}", args, [out], model_inputs, after()))
        t1.append({"name": label, "file": str(out)})

    oracle_json = None
    if have_lists:
        scored = {}
        for split in ("val", "test2016"):
            out = work / "scored" / f"{split}.nbest.gz"
            stages.append(Stage(
                f"score-{split}",
                [*cli("nbest"), "--nbest", str(data / f"nbest/{split}.1000best.gz"), "--source",
                 str(data / f"{split}.en"), "--model", f"LSTMF0={model_dirs['fwd']}",
                 "--model", f"LSTM0={model_dirs['rev']}", "--model",
                 f"LSTM1={model_dirs['rev2']}", "--ensemble", "LSTM0,LSTM1", "--output-nbest",
                 str(out)], [out], model_inputs, after(),
                description=f"add LSTM features to the {split} list"))
            scored[split] = out
        t2 = tables["Table 2: rescoring Moses' 1000-best lists"]
        moses = work / "rerank" / "moses-weights.1best"
        stages.append(Stage("rerank-moses", [
            *cli("nbest"), "--nbest", str(data / "nbest/test2016.1000best.gz"), "--weights",
            str(data / "moses.ini.tuned"), "--output-1best", str(moses)], [moses],
            after=["data"]))
        t2.append({"name": "rescore-nbest with Moses' tuned weights (= Moses 1-best)",
                   "file": str(moses)})
        labels = {"LSTMF0": "forward LSTM", "LSTM0": "reversed LSTM",
                  "LSTMEnsemble0": "ensemble of 2 reversed LSTMs"}
        for feat, label in labels.items():
            out = work / "rerank" / f"avg-{feat}.1best"
            stages.append(Stage(f"average-{feat}", [
                *cli("nbest"), "--nbest", str(scored["test2016"]), "--combine", "average",
                "--average-feature", feat, "--output-1best", str(out)], [out],
                after=after("score-test2016")))
            t2.append({"name": f"{label}, the paper's untuned average", "file": str(out)})
        tuned = {f"grid-{f}": (["--method", "grid", "--feature", f], f"{labels[f]}, "
                               "weight grid-tuned on val") for f in labels}
        tuned["mert"] = (["--method", "mert", "--tune-features",
                          f"{MOSES_FEATURES},LSTMEnsemble0", "--restarts",
                          str(mode.mert_restarts), "--iterations", str(mode.mert_iterations)],
                         "ensemble + Moses features, MERT on val")
        for key, (extra, label) in tuned.items():
            weights = work / "tune" / f"{key}.json"
            stages.append(Stage(f"tune-{key}", [
                *cli("tune"), "--nbest", str(scored["val"]), "--ref", str(data / "val.fr"),
                "--init-weights", str(data / "moses.ini.tuned"), *extra, "--output",
                str(weights), "--cache", str(work / "tune" / "val.features.parquet")],
                [weights], after=after("score-val")))
            out = work / "rerank" / f"{key}.1best"
            stages.append(Stage(f"rerank-{key}", [
                *cli("nbest"), "--nbest", str(scored["test2016"]), "--weights", str(weights),
                "--output-1best", str(out)], [out], after=after("score-test2016", f"tune-{key}")))
            t2.append({"name": label, "file": str(out)})
        oracle = work / "oracle" / "test2016.oracle"
        oracle_json = work / "oracle" / "test2016.oracle.json"
        stages.append(Stage("oracle", [
            *cli("oracle"), "--nbest", str(data / "nbest/test2016.1000best.gz"), "--ref",
            str(data / "test2016.fr"), "--output", str(oracle), "--report", str(oracle_json)],
            [oracle, oracle_json], after=["data"]))
        t2.append({"name": "oracle of the 1000-best lists", "file": str(oracle)})

    spec = {"ref": str(data / "test2016.fr"), "source": str(data / "test2016.en"),
            "tables": [{"title": t, "systems": s} for t, s in tables.items() if s],
            "vocab": str(model_dirs["rev"] / "src.vocab"),
            "pca_model": str(model_dirs["rev"]), "phrases": str(ROOT / "data/phrases.en")}
    if have_lists:
        spec["baseline"] = {"name": "Moses baseline", "file": str(data / "baseline/test2016.1best")}
    if oracle_json is not None:
        spec["oracle"] = str(oracle_json)
    plot = ["single reversed LSTM, beam 12", "ensemble of 2 reversed LSTMs, beam 12"]
    if have_lists:
        plot = ["Moses baseline", *plot, "reversed LSTM, weight grid-tuned on val",
                "ensemble + Moses features, MERT on val"]
    spec["plot"] = plot
    stages.append(report_stage(work, spec, [ROOT / "data/phrases.en", *model_inputs],
                               [s.name for s in stages if s.name != "download"]))
    return Pipeline(work, stages)


def report_stage(work: Path, spec: dict[str, object], inputs: list[Path],
                 after: list[str]) -> Stage:
    """The report stage: ``spec`` is written to WORKDIR/report/spec.json (rewritten only when
    it changes, so an unchanged spec never reruns the report) and rescore-report reads it."""
    spec_path = work / "report" / "spec.json"
    text = json.dumps(spec, indent=2) + "\n"
    if not spec_path.exists() or spec_path.read_text(encoding="utf-8") != text:
        spec_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(spec_path) as out_file:
            out_file.write(text)
    report = work / "report" / "report"
    return Stage("report", [*cli("report"), "--spec", str(spec_path), "--output-prefix",
                            str(report)],
                 [Path(f"{report}.md"), Path(f"{report}.html"), Path(f"{report}.json")],
                 [spec_path, *inputs], after, description="tables, figures, HTML")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny models (cpu-tiny) on 10k pairs; 100 val/test sentences")
    parser.add_argument("--workdir", type=Path, help="default work/multi30k-quick or "
                        "work/multi30k-full")
    parser.add_argument("--models", type=Path, help="use trained models DIR/{fwd,rev,rev2} "
                        "instead of training")
    parser.add_argument("--threads", type=int, default=2,
                        help="CPU threads for every stage (not part of the stages' identity)")
    parser.add_argument("--dry-run", action="store_true", help="list the stages and commands")
    parser.add_argument("--train-pairs", type=int, help="override the mode's training pairs")
    parser.add_argument("--sentences", type=int, help="override the mode's val/test sentences")
    parser.add_argument("--epochs", type=float, help="override the mode's epochs")
    args = parser.parse_args()
    mode = QUICK if args.quick else FULL
    mode = dataclasses.replace(mode, **{k: getattr(args, k) for k in (
        "train_pairs", "sentences", "epochs") if getattr(args, k) is not None})
    work = (args.workdir or ROOT / "work" / ("multi30k-quick" if args.quick
                                             else "multi30k-full")).resolve()
    shared = multi30k_dir()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # stages run as subprocesses
    torch.set_num_threads(args.threads)  # stages run in this process
    run_pipeline("multi30k", lambda: build(
        work, mode, shared if (shared / "train.en.gz").exists() else None,
        args.models.resolve() if args.models else None), work, args.dry_run)


def run_pipeline(name: str, make: Callable[[], Pipeline], work: Path, dry_run: bool) -> None:
    """Build and run a pipeline; errors are one line and exit status 2, an interrupt 130."""
    try:
        make().run(dry_run=dry_run)
    except RescoreError as err:
        print(f"{name} pipeline: error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"{name} pipeline: interrupted; run the same command again to resume",
              file=sys.stderr)
        sys.exit(130)
    if not dry_run:
        print(f"report: {work / 'report' / 'report.html'} (and .md, .json)", file=sys.stderr)


if __name__ == "__main__":
    main()
