"""The paper's own setup, WMT'14 English->French: data (data/wmt14/prepare.py), the
sutskever2014 preset (4 x 1000 LSTM, 160k/80k words) trained with torchrun on N GPUs, five
reversed models with different seeds plus a forward one, rescoring the baseline's 1000-best
lists (the paper's Table 2), standalone beam search (Table 1), oracle and the report.

It needs network access and GPUs (the paper: 10 days on 8 GPUs). --dry-run lists every stage
and its command without running anything:

    .venv/bin/python pipelines/wmt14.py --dry-run [--gpus 8]
    .venv/bin/python pipelines/wmt14.py --gpus 8 [--mirror DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rescore.errors import RescoreError  # noqa: E402
from rescore.files import atomic_output  # noqa: E402
from rescore.pipeline import Pipeline, Stage  # noqa: E402

PY = sys.executable
SEEDS = (1, 2, 3, 4, 5)  # the paper's ensemble: 5 reversed LSTMs


def cli(name: str) -> list[str]:
    return [PY, "-m", f"rescore.cli.{name}"]


def torchrun(gpus: int, module: str) -> list[str]:
    return [PY, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(gpus),
            "-m", f"rescore.cli.{module}"]


def build(work: Path, gpus: int, mirror: str | None) -> tuple[Pipeline, Path, str]:
    """The stages, and the report spec (path, JSON text) the report stage reads."""
    data = work / "data"
    prepare = [PY, str(ROOT / "data/wmt14/prepare.py"), "--output", str(data)]
    if mirror:
        prepare += ["--mirror", mirror]
    stages = [Stage("data", prepare, [data / "train.fr.gz", data / "test.fr"],
                    description="fetch and lay out the 12M-pair subset, ntst1213, ntst14")]
    models = {f"rev{s}": ["--seed", str(s)] for s in SEEDS}
    models["fwd"] = ["--no-reverse-source"]
    for name, extra in models.items():
        out = work / "models" / name
        train = [*torchrun(gpus, "train"), "--preset", "sutskever2014", "--src-train",
                 str(data / "train.en.gz"), "--tgt-train", str(data / "train.fr.gz"),
                 "--src-valid", str(data / "valid.en"), "--tgt-valid", str(data / "valid.fr"),
                 "--output", str(out), "--device", "cuda", *extra]
        stages.append(Stage(f"train-{name}", train, [out / "model.pt"], after=["data"],
                            resume=[*torchrun(gpus, "train"), "--resume", "--output", str(out),
                                    "--device", "cuda"], partial=out / "checkpoint.pt"))
    trained = [f"train-{n}" for n in models]
    revs = [work / "models" / f"rev{s}" for s in SEEDS]

    systems: list[tuple[str, list[dict[str, str]]]] = []
    t1: list[dict[str, str]] = []
    runs = [("fwd-b12", [work / "models/fwd"], 12, "single forward LSTM, beam 12"),
            ("rev-b12", revs[:1], 12, "single reversed LSTM, beam 12")]
    runs += [(f"ens5-b{b}", revs, b, f"ensemble of 5 reversed LSTMs, beam {b}")
             for b in (1, 2, 12)]
    for key, dirs, beam, label in runs:
        out = work / "translate" / f"{key}.txt"
        cmd = [*cli("translate"), "--input", str(data / "test.en"), "--output", str(out),
               "--beam", str(beam), "--device", "cuda", "--batch-size", "128"]
        for d in dirs:
            cmd += ["--model", str(d)]
        stages.append(Stage(f"translate-{key}", cmd, [out], after=trained))
        t1.append({"name": label, "file": str(out)})
    systems.append(("Table 1: standalone translation (newstest2014)", t1))

    scored = work / "scored" / "test.nbest.gz"
    score = [*torchrun(gpus, "nbest"), "--nbest", str(data / "nbest/test.1000best.gz"),
             "--source", str(data / "test.en"), "--device", "cuda", "--model",
             f"LSTMF0={work / 'models/fwd'}"]
    for i, d in enumerate(revs):
        score += ["--model", f"LSTM{i}={d}"]
    score += ["--ensemble", ",".join(f"LSTM{i}" for i in range(len(revs))), "--output-nbest",
              str(scored)]
    stages.append(Stage("score-test", score, [scored], after=trained,
                        description="add 7 LSTM features to the baseline's 1000-best lists"))
    t2: list[dict[str, str]] = []
    for feat, label in (("LSTMF0", "forward LSTM"), ("LSTM0", "single reversed LSTM"),
                        ("LSTMEnsemble0", "ensemble of 5 reversed LSTMs")):
        out = work / "rerank" / f"avg-{feat}.1best"
        stages.append(Stage(f"average-{feat}", [
            *cli("nbest"), "--nbest", str(scored), "--combine", "average", "--average-feature",
            feat, "--output-1best", str(out)], [out], after=["score-test"]))
        t2.append({"name": f"rescoring with the {label} (the paper's average)", "file": str(out)})
    baseline = work / "rerank" / "baseline.1best"
    stages.append(Stage("baseline", [*cli("nbest"), "--nbest",
                                     str(data / "nbest/test.1000best.gz"),
                                     "--output-1best", str(baseline)], [baseline], after=["data"]))
    oracle, oracle_json = work / "oracle/test.oracle", work / "oracle/test.oracle.json"
    stages.append(Stage("oracle", [*cli("oracle"), "--nbest", str(data / "nbest/test.1000best.gz"),
                                   "--ref", str(data / "test.fr"), "--output", str(oracle),
                                   "--report", str(oracle_json)], [oracle, oracle_json],
                        after=["data"]))
    t2.append({"name": "oracle of the 1000-best lists", "file": str(oracle)})
    systems.append(("Table 2: rescoring the baseline's 1000-best lists (newstest2014)", t2))

    spec = {"ref": str(data / "test.fr"), "source": str(data / "test.en"), "tokenize": "none",
            "baseline": {"name": "baseline SMT system", "file": str(baseline)},
            "tables": [{"title": t, "systems": s} for t, s in systems],
            "oracle": str(oracle_json), "vocab": str(revs[0] / "src.vocab"),
            "pca_model": str(revs[0]), "phrases": str(ROOT / "data/phrases.en")}
    spec_path = work / "report" / "spec.json"
    stages.append(Stage("report", [*cli("report"), "--spec", str(spec_path), "--output-prefix",
                                   str(work / "report/report")],
                        [work / "report/report.html"], [spec_path],
                        [s.name for s in stages]))
    return Pipeline(work, stages), spec_path, json.dumps(spec, indent=2) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "work" / "wmt14")
    parser.add_argument("--gpus", type=int, default=8, help="GPUs per training run (torchrun)")
    parser.add_argument("--mirror", help="where data/wmt14/prepare.py fetches the archives")
    parser.add_argument("--dry-run", action="store_true",
                        help="print every stage and its command; run nothing")
    args = parser.parse_args()
    pipeline, path, text = build(args.workdir.resolve(), args.gpus, args.mirror)
    try:
        if not args.dry_run:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(path) as out:
                out.write(text)
        pipeline.run(dry_run=args.dry_run)
    except RescoreError as err:
        print(f"wmt14 pipeline: error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
