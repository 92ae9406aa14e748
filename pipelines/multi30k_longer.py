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

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from pipelines.multi30k import MOSES_FEATURES, cli, report_stage, run_pipeline  # noqa: E402
from rescore.errors import RescoreError  # noqa: E402
from rescore.paths import multi30k_dir  # noqa: E402
from rescore.pipeline import Pipeline, Stage  # noqa: E402

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
        stages.append(Stage(
            f"train-{name}", [*cli("train"), *RECIPE, *extra, "--src-train",
                              str(data / "train.en.gz"), "--tgt-train", str(data / "train.fr.gz"),
                              "--src-valid", str(data / "val.en"), "--tgt-valid",
                              str(data / "val.fr"), "--output", str(out)],
            [out / "model.pt"], [data / "train.en.gz", data / "train.fr.gz"],
            resume=[*cli("train"), "--resume", "--output", str(out)],
            partial=out / "checkpoint.pt", description=f"train {label}"))
        dirs[name] = out
    model_inputs = list(dirs.values()) if models is not None else []
    trained = [s.name for s in stages]
    features = {feat: label for feat, _, label in MODELS.values()}
    features[ENSEMBLE] = "ensemble of the two reversed LSTMs"

    scored = {}
    for split in ("val", "test2016"):
        out = work / "scored" / f"{split}.nbest.gz"
        command = [*cli("nbest"), "--nbest", str(data / f"nbest/{split}.1000best.gz"),
                   "--source", str(data / f"{split}.en")]
        for name, (feat, _, _) in MODELS.items():
            command += ["--model", f"{feat}={dirs[name]}"]
        command += ["--ensemble", ",".join(feat for feat, _, _ in MODELS.values()),
                    "--output-nbest", str(out)]
        stages.append(Stage(f"score-{split}", command, [out], model_inputs, trained,
                            description=f"add LSTM features to the {split} list"))
        scored[split] = out

    systems: list[dict[str, str]] = []
    rerank_after = [*trained, "score-test2016"]
    for feat, label in features.items():
        out = work / "rerank" / f"avg-{feat}.1best"
        stages.append(Stage(f"average-{feat}", [
            *cli("nbest"), "--nbest", str(scored["test2016"]), "--combine", "average",
            "--average-feature", feat, "--output-1best", str(out)], [out], after=rerank_after))
        systems.append({"name": f"{label}, the paper's untuned average", "file": str(out)})
    tuned = {f"grid-{feat}": (["--method", "grid", "--feature", feat],
                              f"{label}, weight grid-tuned on val")
             for feat, label in features.items()}
    single = MODELS["rev-long"][0]
    tuned[f"mert-{single}"] = (["--method", "mert", "--tune-features",
                                f"{MOSES_FEATURES},{single}", "--restarts", str(mert_restarts),
                                "--iterations", str(mert_iterations)],
                               f"{features[single]} + Moses features, MERT on val")
    for key, (extra, label) in tuned.items():
        weights = work / "tune" / f"{key}.json"
        stages.append(Stage(f"tune-{key}", [
            *cli("tune"), "--nbest", str(scored["val"]), "--ref", str(data / "val.fr"),
            "--init-weights", str(data / "moses.ini.tuned"), *extra, "--output", str(weights),
            "--cache", str(work / "tune" / "val.features.parquet")],
            [weights], after=[*trained, "score-val"]))
        out = work / "rerank" / f"{key}.1best"
        stages.append(Stage(f"rerank-{key}", [
            *cli("nbest"), "--nbest", str(scored["test2016"]), "--weights", str(weights),
            "--output-1best", str(out)], [out], after=[*rerank_after, f"tune-{key}"]))
        systems.append({"name": label, "file": str(out)})
    oracle = work / "oracle" / "test2016.oracle"
    oracle_json = work / "oracle" / "test2016.oracle.json"
    stages.append(Stage("oracle", [
        *cli("oracle"), "--nbest", str(data / "nbest/test2016.1000best.gz"), "--ref",
        str(data / "test2016.fr"), "--output", str(oracle), "--report", str(oracle_json)],
        [oracle, oracle_json]))
    systems.append({"name": "oracle of the 1000-best lists", "file": str(oracle)})

    standalone: list[dict[str, str]] = []  # Table 1: beam search, beam 12
    runs = [(name, [name], label) for name, (_, _, label) in MODELS.items()]
    runs.append(("ensemble", list(MODELS), features[ENSEMBLE]))
    for key, names, label in runs:
        out = work / "translate" / f"{key}-b12.txt"
        command = [*cli("translate"), "--input", str(data / "test2016.en"), "--output", str(out),
                   "--beam", "12"]
        for name in names:
            command += ["--model", str(dirs[name])]
        stages.append(Stage(f"translate-{key}", command, [out], model_inputs, trained))
        standalone.append({"name": f"{label}, beam 12", "file": str(out)})

    spec = {"ref": str(data / "test2016.fr"),
            "baseline": {"name": "Moses baseline", "file": str(data / "baseline/test2016.1best")},
            "tables": [{"title": "Table 1: standalone translation (reversed LSTMs, 14 epochs)",
                        "systems": standalone},
                       {"title": "Table 2: rescoring with reversed LSTMs trained 14 epochs",
                        "systems": systems}],
            "oracle": str(oracle_json)}
    stages.append(report_stage(work, spec, [], [s.name for s in stages]))
    return Pipeline(work, stages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "work" / "multi30k-longer")
    parser.add_argument("--models", type=Path,
                        help="use trained models DIR/{rev-long,rev-drop} instead of training")
    parser.add_argument("--threads", type=int, default=2,
                        help="CPU threads for every stage (not part of the stages' identity)")
    parser.add_argument("--mert-restarts", type=int, default=1)
    parser.add_argument("--mert-iterations", type=int, default=5)
    parser.add_argument("--dry-run", action="store_true", help="list the stages and commands")
    args = parser.parse_args()
    data = multi30k_dir()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    torch.set_num_threads(args.threads)
    work = args.workdir.resolve()

    def make() -> Pipeline:
        if not (data / "nbest/test2016.1000best.gz").exists():
            raise RescoreError(f"{data}: no Moses n-best lists (set RESCORE_SHARED_DATA)")
        return build(work, data, args.models.resolve() if args.models else None,
                     args.mert_restarts, args.mert_iterations)

    run_pipeline("multi30k_longer", make, work, args.dry_run)

if __name__ == "__main__":
    main()
