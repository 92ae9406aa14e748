"""Transformer members on Multi30k en->fr: Table 1 (standalone, length penalty chosen on val)
and Table 2 (Moses' lists reranked, and Moses' lists combined with the ensemble's own), every
weight, scale and setting chosen on val, test2016 only scored.

Members: cpu-transformer models in MODELS/NAME (trained with rescore-train; each scored as
the mean of its last 4 kept checkpoints when it kept them). Stages, each a rescore command
run once (an output that exists is kept: delete it to redo it):

1. the length penalty of the ensemble's beam search: alpha in --alphas, beam 12 on val, the
   best val BLEU chosen; then beam 12 and beam 50 with it, on val (is beam 50 at least as
   good?) and test2016;
2. Moses' val and test2016 1000-best lists scored by every member (their mean as
   TransformerEnsemble0) and the 5-gram LM of the training French; weights tuned on val by
   MERT with Moses' total as one feature (5-fold cross-validated), test2016 reranked;
3. the union of Moses' lists and the ensemble's own beam-50 lists (rescore-combine), scored
   the same way plus the word count, tuned on val by MERT over every feature (Origin0
   included), test2016 reranked;
4. rescore-report: BLEU, chrF, paired bootstrap against Moses and the row above.

    .venv/bin/python pipelines/multi30k_transformer.py --models work/tfm --members a,b
    .venv/bin/python pipelines/multi30k_transformer.py --models work/tfm --members a,b --jobs 2

The report lands in WORKDIR/report/report.md (default WORKDIR: work/multi30k-transformer).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.engine import options  # noqa: E402
from pipelines.engine.paths import multi30k_dir  # noqa: E402
from rescore.model_dir import kept_checkpoints  # noqa: E402
from rescore.weights import UNPRINTED_FEATURES, load_weights  # noqa: E402

PY = sys.executable
ENSEMBLE = "TransformerEnsemble0"
MOSES_FEATURES = ("LexicalReordering0,Distortion0,LM0,WordPenalty0,PhrasePenalty0,"
                  "TranslationModel0")


class Runner:
    """Runs rescore commands once (skipped when every output exists), timing each;
    ``dry``: lists them instead."""

    def __init__(self, work: Path, threads: int, dry: bool = False) -> None:
        self.work, self.threads, self.dry = work, threads, dry
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, command: str, args: list[str | Path],
                 outputs: list[Path]) -> None:
        if all(p.exists() for p in outputs):
            return
        argv = [PY, "-m", f"rescore.cli.{command}", *map(str, args)]
        if command not in ("tune", "combine", "report", "model"):
            argv += ["--threads", str(self.threads)]
        if self.dry:
            print(f"[plan] {name}: {' '.join(argv[2:])}", flush=True)
            return
        for p in outputs:
            p.parent.mkdir(parents=True, exist_ok=True)
        print(f"[run ] {name}: {' '.join(argv[2:])}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        self.seconds[name] = round(time.perf_counter() - start, 1)
        if result.returncode != 0:
            sys.exit(f"multi30k_transformer: {name} failed:\n{result.stderr[-2000:]}")
        print(f"[done] {name} ({self.seconds[name]:.0f} s)", file=sys.stderr, flush=True)

    def parallel(self, jobs: int, calls: list[tuple[str, str, list[str | Path], list[Path]]],
                 ) -> None:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(lambda c: self(*c), calls))


def bleu(hyp: Path, ref: Path) -> float:
    import sacrebleu

    if not hyp.exists():  # a dry run
        return float("nan")
    lines = hyp.read_text(encoding="utf-8").splitlines()
    refs = ref.read_text(encoding="utf-8").splitlines()
    return round(sacrebleu.corpus_bleu(lines, [refs], tokenize="none", force=True).score, 2)


def main() -> None:
    parser = options.parser(__doc__)
    parser.add_argument("--models", type=Path, required=True, help="folder of the members")
    parser.add_argument("--members", default="a,b", help="comma-separated member folders")
    parser.add_argument("--alphas", default="0,0.5,1,1.5,2",
                        help="length penalties tried on val (GNMT's alpha)")
    parser.add_argument("--sentences", type=int,
                        help="only the first N val/test sentences (a smoke test)")
    options.add_common(parser, "work/multi30k-transformer")
    args = parser.parse_args()
    shared, work = multi30k_dir(), options.workdir(args, "multi30k-transformer")
    run = Runner(work, args.threads, args.dry_run)
    data = shared
    if args.sentences:
        data = work / "data"
        if not (data / "test2016.fr").exists():
            subprocess.run([PY, str(ROOT / "data/multi30k/slice.py"), "--from", str(shared),
                            "--output", str(data), "--train-pairs", "10", "--sentences",
                            str(args.sentences)], check=True, capture_output=True)
    names = [n for n in args.members.split(",") if n]

    # the members: each the mean of its last 4 kept checkpoints
    members = []
    for name in names:
        source = args.models / name
        out = work / "averaged" / name
        kept = min(4, len(kept_checkpoints(source)))
        if kept > 1:
            run(f"average-{name}", "model", ["average", source, "--last", str(kept),
                                             "--output", out], [out / "model.safetensors"])
        members.append(out if kept > 1 else source)
    model_args = [a for m in members for a in ("--model", m)]

    # 1. the length penalty, chosen on val at beam 12
    alphas = [a for a in args.alphas.split(",") if a]
    run.parallel(args.jobs, [
        (f"val-b12-lp{a}", "translate", [*model_args, "--input", data / "val.en", "--beam",
                                         "12", "--length-penalty", a, "--output",
                                         work / "translate" / f"val-b12-lp{a}.txt"],
         [work / "translate" / f"val-b12-lp{a}.txt"]) for a in alphas])
    val_bleu = {a: bleu(work / "translate" / f"val-b12-lp{a}.txt", data / "val.fr")
                for a in alphas}
    alpha = max(alphas, key=lambda a: (val_bleu[a], -float(a)))
    if args.dry_run:
        alpha = "ALPHA"  # chosen on val when the run gets there
    searches = []
    for split in ("val", "test2016"):
        for beam in (12, 50):
            out = work / "translate" / f"{split}-b{beam}.txt"
            extra = (["--output-nbest", work / "translate" / f"{split}-b{beam}.nbest.gz"]
                     if beam == 50 else [])
            searches.append((f"{split}-b{beam}", "translate",
                             [*model_args, "--input", data / f"{split}.en", "--beam",
                              str(beam), "--length-penalty", alpha, "--output", out, *extra],
                             [out]))
    one = work / "translate" / "test2016-one-b12.txt"
    searches.append(("test2016-one-b12", "translate",
                     ["--model", members[0], "--input", data / "test2016.en", "--beam", "12",
                      "--output", one], [one]))
    plain = work / "translate" / "test2016-b12-plain.txt"
    searches.append(("test2016-b12-plain", "translate",
                     [*model_args, "--input", data / "test2016.en", "--beam", "12", "--output",
                      plain], [plain]))
    run.parallel(args.jobs, searches)

    # 2 and 3: Moses' lists, and their union with the ensemble's 50-best lists, scored
    lm = shared / "lm" / "train.fr.5g.arpa.gz"
    feats = [f"Transformer{i}" for i in range(len(members))]
    scoring: list[tuple[str, str, list[str | Path], list[Path]]] = []
    for split in ("val", "test2016"):
        union = work / "combine" / f"{split}.union.nbest.gz"
        run(f"combine-{split}", "combine",
            ["--nbest", data / "nbest" / f"{split}.1000best.gz", "--nbest",
             work / "translate" / f"{split}-b50.nbest.gz", "--source", data / f"{split}.en",
             "--output", union], [union])
        for kind, nbest in (("moses", data / "nbest" / f"{split}.1000best.gz"),
                            ("union", union)):
            out = work / "scored" / f"{split}.{kind}.nbest.gz"
            scoring.append((f"score-{kind}-{split}", "nbest",
                            ["--nbest", nbest, "--source", data / f"{split}.en",
                             *(a for f, m in zip(feats, members, strict=True)
                               for a in ("--model", f"{f}={m}")),
                             "--ensemble", ",".join(feats), "--ensemble-name", ENSEMBLE,
                             "--lm", lm, "--word-count", "--output-nbest", out], [out]))
    run.parallel(args.jobs, scoring)

    rows: list[dict[str, str]] = []
    tunings: dict[str, tuple[str, list[str | Path], str]] = {
        "moses": ("moses", ["--method", "mert", "--baseline-as-one-feature", "--tune-features",
                            f"{ENSEMBLE},KenLM0", "--init-weights", shared / "moses.ini.tuned"],
                  "Moses' 1000-best reranked: Transformer ensemble + KenLM, Moses' total as "
                  "one feature, MERT on val"),
        "union": ("union", ["--method", "mert", "--tune-features",
                            f"{MOSES_FEATURES},{ENSEMBLE},KenLM0,WordCount0,Origin0",
                            "--init-weights", work / "combine" / "init.json"],
                  "Moses' 1000-best + the ensemble's 50-best combined: every feature, "
                  "Origin0 included, MERT on val")}
    # the union's tuning starts from Moses' weights, the new features at 0
    moses = load_weights(shared / "moses.ini.tuned").values
    init: dict[str, list[float]] = {k: list(v) for k, v in moses.items()
                                    if k not in UNPRINTED_FEATURES}
    init |= {ENSEMBLE: [0.0], "KenLM0": [0.0], "WordCount0": [0.0], "Origin0": [0.0, 0.0]}
    if not args.dry_run:
        (work / "combine").mkdir(parents=True, exist_ok=True)
        (work / "combine" / "init.json").write_text(json.dumps(init) + "\n")
    for key, (kind, tune_args, label) in tunings.items():
        weights = work / "tune" / f"{key}.json"
        run(f"tune-{key}", "tune", ["--nbest", work / "scored" / f"val.{kind}.nbest.gz",
                                    "--ref", data / "val.fr", *tune_args, "--folds", "5",
                                    "--output", weights], [weights])
        out = work / "rerank" / f"{key}.1best"
        run(f"rerank-{key}", "nbest", ["--nbest", work / "scored" / f"test2016.{kind}.nbest.gz",
                                       "--weights", weights, "--output-1best", out], [out])
        rows.append({"name": label, "file": str(out), "weights": str(weights)})

    table1 = [
        {"name": "one Transformer, beam 12", "file": str(one)},
        {"name": f"ensemble of {len(members)} Transformers, beam 12", "file": str(plain)},
        {"name": f"the same, length penalty {alpha} (chosen on val)",
         "file": str(work / "translate" / "test2016-b12.txt")},
        {"name": f"the same, beam 50, length penalty {alpha}",
         "file": str(work / "translate" / "test2016-b50.txt")}]
    spec = {"ref": str(data / "test2016.fr"), "versus_above": True,
            "baseline": {"name": "Moses baseline", "file": str(data / "baseline/test2016.1best")},
            "tables": [{"title": "Table 1: standalone, Transformer members", "systems": table1},
                       {"title": "Table 2: with Moses, Transformer members", "systems": rows}],
            "models": [{"name": n, "dir": str(m)} for n, m in zip(names, members, strict=True)]}
    spec_path = work / "report" / "spec.json"
    if args.dry_run:
        return
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(json.dumps(spec, indent=2) + "\n")
    report = work / "report" / "report"
    run("report", "report", ["--spec", spec_path, "--output-prefix", report],
        [Path(f"{report}.md")])
    val_b = {beam: bleu(work / "translate" / f"val-b{beam}.txt", data / "val.fr")
             for beam in (12, 50)}
    summary = {"alpha_val_bleu": val_bleu, "alpha": alpha, "val_bleu_by_beam": val_b,
               "seconds": run.seconds}
    (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    print((Path(f"{report}.md")).read_text())


if __name__ == "__main__":
    main()
