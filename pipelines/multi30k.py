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

import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from pipelines.engine import options  # noqa: E402
from pipelines.engine.paths import multi30k_dir  # noqa: E402
from pipelines.engine.pipeline import Pipeline, Stage, run_pipeline  # noqa: E402
from pipelines.engine.stages import (  # noqa: E402
    MOSES_FEATURES,
    PY,
    Rows,
    average_rows,
    check_models,
    data_stage,
    grid_tunings,
    oracle_stage,
    report_stage,
    rerank_stage,
    score_stage,
    train_stage,
    translate_stage,
    tuned_rows,
)
from rescore.model_dir import SRC_VOCAB  # noqa: E402


@dataclass(frozen=True)
class Mode:
    preset: str
    train_pairs: int | None
    sentences: int | None
    epochs: float | None
    mert_restarts: int
    mert_iterations: int
    beams: tuple[int, ...] = (1, 2, 12)


MODELS = {"fwd": ["--no-reverse-source"], "rev": [], "rev2": ["--seed", "2"]}


QUICK = Mode("cpu-tiny", train_pairs=10000, sentences=100, epochs=1.0, mert_restarts=1,
             mert_iterations=3)
FULL = Mode("cpu-multi30k", train_pairs=None, sentences=None, epochs=None, mert_restarts=2,
            mert_iterations=5)


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
    stages.append(data_stage(source, data, train_pairs=mode.train_pairs,
                             sentences=mode.sentences, inputs=inputs,
                             after=[s.name for s in stages]))
    have_lists = shared is not None and (shared / "nbest/test2016.1000best.gz").exists()

    model_dirs = {}
    for name, extra in MODELS.items():
        if models is not None:
            model_dirs[name] = models / name
            continue
        out = work / "models" / name
        args: list[str | Path] = [
            "--preset", mode.preset, "--src-train", data / "train.en.gz", "--tgt-train",
            data / "train.fr.gz", "--src-valid", data / "val.en", "--tgt-valid",
            data / "val.fr", *extra]
        if mode.epochs:
            args += ["--epochs", str(mode.epochs)]
        stages.append(train_stage(f"train-{name}", out, args, after=["data"]))
        model_dirs[name] = out
    model_inputs = list(model_dirs.values()) if models is not None else []
    check_models(model_inputs)
    after = [*(f"train-{n}" for n in model_dirs if models is None), "data"]

    table1 = Rows()  # Table 1: standalone beam search
    runs = [("fwd-b12", "single forward LSTM, beam 12", 12, ["fwd"]),
            ("rev-b12", "single reversed LSTM, beam 12", 12, ["rev"])]
    runs += [(f"ens-b{b}", f"ensemble of 2 reversed LSTMs, beam {b}", b, ["rev", "rev2"])
             for b in mode.beams]
    for key, label, beam, names in runs:
        out = work / "translate" / f"{key}.txt"
        table1.add(translate_stage(f"translate-{key}", data / "test2016.en", out,
                                   [model_dirs[n] for n in names], beam, inputs=model_inputs,
                                   after=after), label, out)
    stages += table1.stages
    tables = {"Table 1: standalone translation": table1.systems}

    oracle_json = None
    if have_lists:
        scored = {split: work / "scored" / f"{split}.nbest.gz" for split in ("val", "test2016")}
        for split, out in scored.items():
            stages.append(score_stage(
                f"score-{split}", data / f"nbest/{split}.1000best.gz", data / f"{split}.en",
                [("LSTMF0", model_dirs["fwd"]), ("LSTM0", model_dirs["rev"]),
                 ("LSTM1", model_dirs["rev2"])], out, ensemble=["LSTM0", "LSTM1"],
                inputs=model_inputs, after=after))
        table2 = Rows()
        moses = work / "rerank" / "moses-weights.1best"
        table2.add(rerank_stage("rerank-moses", data / "nbest/test2016.1000best.gz", moses,
                                weights=data / "moses.ini.tuned", after=["data"]),
                   "rescore-nbest with Moses' tuned weights (= Moses 1-best)", moses)
        labels = {"LSTMF0": "forward LSTM", "LSTM0": "reversed LSTM",
                  "LSTMEnsemble0": "ensemble of 2 reversed LSTMs"}
        averages = average_rows(scored["test2016"], labels, work, [*after, "score-test2016"])
        tunings = grid_tunings(labels)
        tunings["mert"] = (["--method", "mert", "--tune-features",
                            f"{MOSES_FEATURES},LSTMEnsemble0", "--restarts",
                            str(mode.mert_restarts), "--iterations", str(mode.mert_iterations)],
                           "ensemble + Moses features, MERT on val")
        tuned = tuned_rows(scored["val"], scored["test2016"], data / "val.fr",
                           data / "moses.ini.tuned", tunings, work, [*after, "score-val"],
                           [*after, "score-test2016"])
        oracle, oracle_json = oracle_stage(data / "nbest/test2016.1000best.gz",
                                           data / "test2016.fr",
                                           work / "oracle" / "test2016.oracle", after=["data"])
        for rows in (averages, tuned):
            table2.stages += rows.stages
            table2.systems += rows.systems
        table2.add(oracle, "oracle of the 1000-best lists", oracle.outputs[0])
        stages += table2.stages
        tables["Table 2: rescoring Moses' 1000-best lists"] = table2.systems

    spec: dict[str, object] = {
        "ref": str(data / "test2016.fr"), "source": str(data / "test2016.en"),
        "tables": [{"title": t, "systems": s} for t, s in tables.items() if s],
        "vocab": str(model_dirs["rev"] / SRC_VOCAB),
        "pca_model": str(model_dirs["rev"]), "phrases": str(ROOT / "data/phrases.en"),
        "models": [{"name": name, "dir": str(d)} for name, d in model_dirs.items()]}
    if have_lists:
        spec["baseline"] = {"name": "Moses baseline", "file": str(data / "baseline/test2016.1best")}
    if oracle_json is not None:
        spec["oracle"] = str(oracle_json)
    plot = ["single reversed LSTM, beam 12", "ensemble of 2 reversed LSTMs, beam 12"]
    if have_lists:
        plot = ["Moses baseline", *plot, "reversed LSTM, weight grid-tuned on val",
                "ensemble + Moses features, MERT on val"]
    spec["plot"] = plot
    if mode.sentences:  # a slice: say so before any number
        pairs = f"the first {mode.train_pairs:,}" if mode.train_pairs else "all"
        epochs = f"{mode.epochs:g} epoch(s)" if mode.epochs else "the preset's epochs"
        spec["notes"] = [
            f"A smoke test, not a result: tiny {mode.preset} models trained for {epochs} on "
            f"{pairs} training pairs, scored on the first {mode.sentences} sentences of val "
            "and test2016 (the Moses row is its 1-best on those sentences, not the whole test "
            "set's 58.82). It shows the machinery; the real numbers are in docs/results.md "
            "(pipelines/multi30k_evidence.py)."]
    stages.append(report_stage(work, spec, [ROOT / "data/phrases.en", *model_inputs],
                               [s.name for s in stages if s.name != "download"]))
    return Pipeline(work, stages)


def main() -> None:
    parser = options.parser(__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="tiny models (cpu-tiny, 1 epoch) on 10k pairs; 100 val/test sentences")
    options.add_common(parser, "work/multi30k-quick or work/multi30k-full")
    options.add_models(parser, "fwd,rev,rev2")
    options.add_overrides(parser)
    args = parser.parse_args()
    mode = options.with_overrides(QUICK if args.quick else FULL, args)
    work = options.workdir(args, "multi30k-quick" if args.quick else "multi30k-full")
    shared = multi30k_dir()
    options.use_threads(args)
    run_pipeline("multi30k", lambda: build(
        work, mode, shared if (shared / "train.en.gz").exists() else None,
        options.models_dir(args)), args.dry_run, work / "report" / "report.html", jobs=args.jobs)


if __name__ == "__main__":
    main()
