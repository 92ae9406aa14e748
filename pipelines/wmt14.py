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
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rescore.model_dir import SRC_VOCAB  # noqa: E402
from rescore.pipeline import Pipeline, Stage, run_pipeline  # noqa: E402
from rescore.stages import (  # noqa: E402
    PY,
    Rows,
    average_rows,
    oracle_stage,
    report_stage,
    rerank_stage,
    score_stage,
    torchrun,
    train_stage,
    translate_stage,
)

SEEDS = (1, 2, 3, 4, 5)  # the paper's ensemble: 5 reversed LSTMs


def build(work: Path, gpus: int, mirror: str | None) -> Pipeline:
    """The stages (the report spec is written when the report stage runs)."""
    data = work / "data"
    prepare = [PY, str(ROOT / "data/wmt14/prepare.py"), "--output", str(data)]
    if mirror:
        prepare += ["--mirror", mirror]
    stages = [Stage("data", prepare, [data / "train.fr.gz", data / "test.fr"],
                    description="fetch and lay out the 12M-pair subset, ntst1213, ntst14")]
    launcher = torchrun(gpus)
    models = {f"rev{s}": ["--seed", str(s)] for s in SEEDS}
    models["fwd"] = ["--no-reverse-source"]
    for name, extra in models.items():
        stages.append(train_stage(
            f"train-{name}", work / "models" / name,
            ["--preset", "sutskever2014", "--src-train", data / "train.en.gz", "--tgt-train",
             data / "train.fr.gz", "--src-valid", data / "valid.en", "--tgt-valid",
             data / "valid.fr", "--device", "cuda", *extra],
            after=["data"], resume_args=["--device", "cuda"], launcher=launcher))
    trained = [f"train-{n}" for n in models]
    revs = [work / "models" / f"rev{s}" for s in SEEDS]

    table1 = Rows()
    runs = [("fwd-b12", [work / "models/fwd"], 12, "single forward LSTM, beam 12"),
            ("rev-b12", revs[:1], 12, "single reversed LSTM, beam 12")]
    runs += [(f"ens5-b{b}", revs, b, f"ensemble of 5 reversed LSTMs, beam {b}")
             for b in (1, 2, 12)]
    for key, dirs, beam, label in runs:
        out = work / "translate" / f"{key}.txt"
        table1.add(translate_stage(f"translate-{key}", data / "test.en", out, dirs, beam,
                                   extra=["--device", "cuda", "--batch-size", "128"],
                                   after=trained), label, out)
    stages += table1.stages

    scored = work / "scored" / "test.nbest.gz"
    lstms = [("LSTMF0", work / "models/fwd"), *((f"LSTM{i}", d) for i, d in enumerate(revs))]
    stages.append(score_stage("score-test", data / "nbest/test.1000best.gz", data / "test.en",
                              lstms, scored, ensemble=[f"LSTM{i}" for i in range(len(revs))],
                              extra=["--device", "cuda"], launcher=launcher, after=trained))
    table2 = average_rows(scored, {"LSTMF0": "forward LSTM", "LSTM0": "single reversed LSTM",
                                   "LSTMEnsemble0": "ensemble of 5 reversed LSTMs"},
                          work, ["score-test"])
    baseline = work / "rerank" / "baseline.1best"
    table2.stages.append(rerank_stage("baseline", data / "nbest/test.1000best.gz", baseline,
                                      after=["data"]))
    oracle, oracle_json = oracle_stage(data / "nbest/test.1000best.gz", data / "test.fr",
                                       work / "oracle/test.oracle", after=["data"])
    table2.add(oracle, "oracle of the 1000-best lists", oracle.outputs[0])
    stages += table2.stages

    spec = {"ref": str(data / "test.fr"), "source": str(data / "test.en"), "tokenize": "none",
            "baseline": {"name": "baseline SMT system", "file": str(baseline)},
            "tables": [{"title": "Table 1: standalone translation (newstest2014)",
                        "systems": table1.systems},
                       {"title": "Table 2: rescoring the baseline's 1000-best lists "
                        "(newstest2014)", "systems": table2.systems}],
            "oracle": str(oracle_json), "vocab": str(revs[0] / SRC_VOCAB),
            "pca_model": str(revs[0]), "phrases": str(ROOT / "data/phrases.en"),
            "models": [{"name": d.name, "dir": str(d)} for d in [*revs, work / "models/fwd"]]}
    stages.append(report_stage(work, spec, [], [s.name for s in stages]))
    return Pipeline(work, stages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "work" / "wmt14")
    parser.add_argument("--gpus", type=int, default=8, help="GPUs per training run (torchrun)")
    parser.add_argument("--mirror", help="where data/wmt14/prepare.py fetches the archives")
    parser.add_argument("--dry-run", action="store_true",
                        help="print every stage and its command; run nothing")
    args = parser.parse_args()
    work = args.workdir.resolve()
    run_pipeline("wmt14", lambda: build(work, args.gpus, args.mirror), args.dry_run,
                 work / "report" / "report.html")


if __name__ == "__main__":
    main()
