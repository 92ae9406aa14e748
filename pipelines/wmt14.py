"""The paper's own setup, WMT'14 English->French: data (data/wmt14/prepare.py), the
sutskever2014 preset (4 x 1000 LSTM, 160k/80k words) trained with torchrun on N GPUs, five
reversed models with different seeds plus a forward one, rescoring the baseline's 1000-best
lists (the paper's Table 2), standalone beam search (Table 1), oracle and the report.

It needs network access and GPUs (the paper: 10 days on 8 GPUs), and for Table 2 the
baseline's 1000-best lists, which no public record names a download for: give them with
--nbest-dir DIR (Moses format: DIR/test.1000best[.gz]), or run without Table 2 (--no-table2).
Which of the two is checked before anything runs. --dry-run lists every stage and its command
without running anything:

    .venv/bin/python pipelines/wmt14.py --dry-run --nbest-dir DIR [--gpus 8]
    .venv/bin/python pipelines/wmt14.py --gpus 8 --nbest-dir DIR [--mirror DIR]
    .venv/bin/python pipelines/wmt14.py --gpus 8 --no-table2
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.engine import options  # noqa: E402
from pipelines.engine.pipeline import Pipeline, Stage, run_pipeline  # noqa: E402
from pipelines.engine.stages import (  # noqa: E402
    PY,
    Launcher,
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
from rescore.errors import RescoreError  # noqa: E402
from rescore.model_dir import SRC_VOCAB  # noqa: E402

SEEDS = (1, 2, 3, 4, 5)  # the paper's ensemble: 5 reversed LSTMs


def check_lists(nbest_dir: Path | None, table2: bool) -> None:
    """Table 2 needs the baseline's lists: say so before any download or training."""
    if not table2:
        return
    if nbest_dir is None:
        raise RescoreError("Table 2 needs the baseline's 1000-best lists of newstest2014, and "
                           "no public record names a file to download: give lists you have "
                           "with --nbest-dir DIR (Moses format: DIR/test.1000best[.gz], "
                           "optionally DIR/valid.1000best[.gz]), or run without Table 2 "
                           "(--no-table2)")
    if not any((nbest_dir / f"test.1000best{s}").exists() for s in ("", ".gz")):
        raise RescoreError(f"--nbest-dir {nbest_dir}: no test.1000best or test.1000best.gz "
                           "(the baseline's 1000-best list of newstest2014, Moses format); "
                           "or run without Table 2 (--no-table2)")


def build(work: Path, gpus: int, mirror: str | None, nbest_dir: Path | None = None,
          table2: bool = True) -> Pipeline:
    """The stages (the report spec is written when the report stage runs)."""
    check_lists(nbest_dir, table2)
    data = work / "data"
    prepare = [PY, str(ROOT / "data/wmt14/prepare.py"), "--output", str(data)]
    if mirror:
        prepare += ["--mirror", mirror]
    outputs, inputs = [data / "train.fr.gz", data / "test.fr"], []
    if table2:
        assert nbest_dir is not None
        prepare += ["--nbest-dir", str(nbest_dir.resolve())]
        outputs.append(data / "nbest" / "test.1000best.gz")
        inputs.append(nbest_dir.resolve())
    stages = [Stage("data", prepare, outputs, inputs,
                    description="fetch and lay out the 12M-pair subset, ntst1213, ntst14 and "
                    "the lists of --nbest-dir")]
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

    tables = [{"title": "Table 1: standalone translation (newstest2014)",
               "systems": table1.systems}]
    spec = {"ref": str(data / "test.fr"), "source": str(data / "test.en"), "tokenize": "none",
            "tables": tables, "vocab": str(revs[0] / SRC_VOCAB),
            "pca_model": str(revs[0]), "phrases": str(ROOT / "data/phrases.en"),
            "models": [{"name": d.name, "dir": str(d)} for d in [*revs, work / "models/fwd"]]}
    if table2:
        stages += table2_stages(work, data, revs, trained, launcher, spec)
    stages.append(report_stage(work, spec, [], [s.name for s in stages]))
    return Pipeline(work, stages)


def table2_stages(work: Path, data: Path, revs: list[Path], trained: list[str],
                  launcher: Launcher, spec: dict[str, Any]) -> list[Stage]:
    """Rescoring the baseline's lists (the paper's Table 2), the oracle; adds them to the
    report ``spec``."""
    stages: list[Stage] = []
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
    spec["baseline"] = {"name": "baseline SMT system", "file": str(baseline)}
    spec["tables"].append({"title": "Table 2: rescoring the baseline's 1000-best lists "
                           "(newstest2014)", "systems": table2.systems})
    spec["oracle"] = str(oracle_json)
    return stages


def main() -> None:
    parser = options.parser(__doc__)
    parser.add_argument("--gpus", type=int, default=8, help="GPUs per training run (torchrun)")
    parser.add_argument("--mirror", help="where data/wmt14/prepare.py fetches the archives")
    parser.add_argument("--nbest-dir", type=Path,
                        help="the baseline's 1000-best lists (Moses format): "
                        "DIR/test.1000best[.gz], optionally DIR/valid.1000best[.gz]")
    parser.add_argument("--no-table2", action="store_true",
                        help="run without the baseline's lists: Table 1 only")
    options.add_common(parser, "work/wmt14", threads=False,
                       dry_run_help="print every stage and its command; run nothing")
    args = parser.parse_args()
    work = options.workdir(args, "wmt14")
    run_pipeline("wmt14", lambda: build(work, args.gpus, args.mirror, args.nbest_dir,
                                        not args.no_table2), args.dry_run,
                 work / "report" / "report.html", jobs=args.jobs)


if __name__ == "__main__":
    main()
