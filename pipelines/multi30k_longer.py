"""Multi30k English->French, Table 2 with reversed models trained longer: two reversed
``cpu-multi30k`` models trained 14 epochs (learning rate halved every half epoch from epoch
11.5), one with the paper's recipe as it is and one with dropout 0.2, each scoring the val and
test2016 Moses 1000-best lists alone and as an ensemble; the paper's untuned average, a weight
grid and MERT tuned on val, reranking test2016, standalone beam search (beam 12), and a
report with paired bootstrap p-values against the Moses baseline. Stages are skipped when up
to date.

    .venv/bin/python pipelines/multi30k_longer.py                    # trains both: ~1 h each
    .venv/bin/python pipelines/multi30k_longer.py --models work/models   # DIR/{rev-long,rev-drop}
    .venv/bin/python pipelines/multi30k_longer.py --dry-run

Needs the shared Moses lists ($RESCORE_SHARED_DATA/multi30k-en-fr). The report lands in
WORKDIR/report/report.{md,html,json,csv} (default WORKDIR: work/multi30k-longer).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from pipelines.engine import options  # noqa: E402
from pipelines.engine import stages as st  # noqa: E402
from pipelines.engine.paths import multi30k_dir  # noqa: E402
from pipelines.engine.pipeline import Pipeline, Stage, run_pipeline  # noqa: E402
from rescore.errors import RescoreError  # noqa: E402

RECIPE = ["--preset", "cpu-multi30k", "--epochs", "14", "--decay-start-epoch", "11.5",
          "--seed", "3"]
MODELS = {"rev-long": ("LSTMR0", [], "reversed LSTM, 14 epochs"),
          "rev-drop": ("LSTMD0", ["--dropout", "0.2"], "reversed LSTM, 14 epochs, dropout 0.2")}
ENSEMBLE = "LSTMEnsemble0"


def build(work: Path, data: Path, models: Path | None, mert_restarts: int,
          mert_iterations: int) -> Pipeline:
    stages: list[Stage] = []
    dirs: dict[str, Path] = {}
    for name, (_, extra, label) in MODELS.items():
        if models is not None:
            dirs[name] = models / name
            continue
        out = work / "models" / name
        stages.append(st.train_stage(
            f"train-{name}", out, [*RECIPE, *extra, "--src-train", data / "train.en.gz",
                                   "--tgt-train", data / "train.fr.gz", "--src-valid",
                                   data / "val.en", "--tgt-valid", data / "val.fr"],
            inputs=[data / "train.en.gz", data / "train.fr.gz"], description=f"train {label}"))
        dirs[name] = out
    model_inputs = list(dirs.values()) if models is not None else []
    st.check_models(model_inputs)
    trained = [s.name for s in stages]
    features = {feat: label for feat, _, label in MODELS.values()}
    features[ENSEMBLE] = "ensemble of the two reversed LSTMs"

    scored = {split: work / "scored" / f"{split}.nbest.gz" for split in ("val", "test2016")}
    for split, out in scored.items():
        stages.append(st.score_stage(
            f"score-{split}", data / f"nbest/{split}.1000best.gz", data / f"{split}.en",
            [(feat, dirs[name]) for name, (feat, _, _) in MODELS.items()], out,
            ensemble=[feat for feat, _, _ in MODELS.values()], inputs=model_inputs,
            after=trained))

    rerank_after = [*trained, "score-test2016"]
    table2 = st.average_rows(scored["test2016"], features, work, rerank_after)
    tunings = st.grid_tunings(features)
    single = MODELS["rev-long"][0]
    tunings[f"mert-{single}"] = (["--method", "mert", "--tune-features",
                                  f"{st.MOSES_FEATURES},{single}", "--restarts",
                                  str(mert_restarts), "--iterations", str(mert_iterations)],
                                 f"{features[single]} + Moses features, MERT on val")
    tuned = st.tuned_rows(scored["val"], scored["test2016"], data / "val.fr",
                       data / "moses.ini.tuned", tunings, work, [*trained, "score-val"],
                       rerank_after)
    table2.stages += tuned.stages
    table2.systems += tuned.systems
    oracle, oracle_json = st.oracle_stage(data / "nbest/test2016.1000best.gz", data / "test2016.fr",
                                       work / "oracle" / "test2016.oracle")
    table2.add(oracle, "oracle of the 1000-best lists", oracle.outputs[0])

    table1 = st.Rows()  # Table 1: beam search, beam 12
    runs = [(name, [name], label) for name, (_, _, label) in MODELS.items()]
    runs.append(("ensemble", list(MODELS), features[ENSEMBLE]))
    for key, names, label in runs:
        out = work / "translate" / f"{key}-b12.txt"
        table1.add(st.translate_stage(f"translate-{key}", data / "test2016.en", out,
                                   [dirs[n] for n in names], 12, inputs=model_inputs,
                                   after=trained), f"{label}, beam 12", out)
    stages += table2.stages + table1.stages

    spec = {"ref": str(data / "test2016.fr"),
            "baseline": {"name": "Moses baseline", "file": str(data / "baseline/test2016.1best")},
            "tables": [{"title": "Table 1: standalone translation (reversed LSTMs, 14 epochs)",
                        "systems": table1.systems},
                       {"title": "Table 2: rescoring with reversed LSTMs trained 14 epochs",
                        "systems": table2.systems}],
            "oracle": str(oracle_json),
            "models": [{"name": name, "dir": str(d)} for name, d in dirs.items()]}
    stages.append(st.report_stage(work, spec, [], [s.name for s in stages]))
    return Pipeline(work, stages)


def main() -> None:
    parser = options.parser(__doc__)
    options.add_common(parser, "work/multi30k-longer")
    options.add_models(parser, "rev-long,rev-drop")
    parser.add_argument("--mert-restarts", type=int, default=1)
    parser.add_argument("--mert-iterations", type=int, default=5)
    args = parser.parse_args()
    data = multi30k_dir()
    options.use_threads(args)
    work = options.workdir(args, "multi30k-longer")

    def make() -> Pipeline:
        if not (data / "nbest/test2016.1000best.gz").exists():
            raise RescoreError(f"{data}: no Moses n-best lists (set RESCORE_SHARED_DATA)")
        return build(work, data, options.models_dir(args),
                     args.mert_restarts, args.mert_iterations)

    run_pipeline("multi30k_longer", make, args.dry_run, work / "report" / "report.html",
                 jobs=args.jobs)

if __name__ == "__main__":
    main()
