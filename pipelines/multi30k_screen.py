"""Screening the recipe options of rescore-train on Multi30k en->fr at one training budget:
each candidate (the cpu-attention LSTM preset, or the cpu-transformer preset for the tf-
candidates, with one change) trains for --updates updates of 64 sentence pairs (the same data
seen by each; what an update costs differs, and the table gives each candidate's seconds),
then is measured on val only: validation perplexity per word (comparable across
vocabularies), greedy BLEU of its own translations of val, and the dev BLEU of reranking
Moses' val 1000-best list with its score, one interpolation weight grid-tuned on val (the
in-sample dev BLEU and the 5-fold cross-validated one). Nothing here looks at test2016.

    .venv/bin/python pipelines/multi30k_screen.py --quick               # tiny, minutes
    .venv/bin/python pipelines/multi30k_screen.py --only adam,sgd       # trains, measures
    .venv/bin/python pipelines/multi30k_screen.py --only tf,tf-lr2 --updates 1360 --jobs 2
    .venv/bin/python pipelines/multi30k_screen.py --models work/screen  # measures given ones
    .venv/bin/python pipelines/multi30k_screen.py --dry-run

The table lands in WORKDIR/screen.md and WORKDIR/screen.csv (default WORKDIR:
work/multi30k-screen[-quick]).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from pipelines.engine import options  # noqa: E402
from pipelines.engine import stages as st  # noqa: E402
from pipelines.engine.paths import multi30k_dir  # noqa: E402
from pipelines.engine.pipeline import Pipeline, run_pipeline  # noqa: E402
from rescore.errors import RescoreError  # noqa: E402

ADAM = ["--optimizer", "adam", "--lr", "0.002", "--warmup-steps", "200", "--lr-schedule",
        "plateau"]
LSTM, TRANSFORMER = ["--preset", "cpu-attention"], ["--preset", "cpu-transformer", "--precision",
                                                    "bf16"]
# name: (what it changes, rescore-train options: a preset and its change)
CANDIDATES: dict[str, tuple[str, list[str]]] = {
    "sgd": ("the preset as it is (the paper's SGD, lr 0.7)", LSTM),
    "adam": ("Adam 0.002, 200 warm-up updates, plateau halving", [*LSTM, *ADAM]),
    "adam-ls": ("Adam + label smoothing 0.1", [*LSTM, *ADAM, "--label-smoothing", "0.1"]),
    "adam-bpe8k": ("Adam + 8k BPE pieces per side", [*LSTM, *ADAM, "--subwords", "bpe"]),
    "adam-bidir": ("Adam + bidirectional encoder", [*LSTM, *ADAM, "--bidirectional"]),
    "adam-h512": ("Adam + 512 cells, 512-d embeddings",
                  [*LSTM, *ADAM, "--hidden-dim", "512", "--embed-dim", "512"]),
    "adam-res4": ("Adam + 4 layers with residual connections",
                  [*LSTM, *ADAM, "--num-layers", "4", "--residual"]),
    "adam-tied": ("Adam + tied target embeddings", [*LSTM, *ADAM, "--tie-embeddings"]),
    "adam-nodrop": ("Adam, dropout 0 (the preset's is 0.2)", [*LSTM, *ADAM, "--dropout", "0"]),
    # the Transformer (3 x 256, 4 heads, feed-forward 512, lr 0.001, 1,000 warm-up updates)
    "tf": ("cpu-transformer as it is", TRANSFORMER),
    "tf-lr2": ("learning rate 0.002", [*TRANSFORMER, "--lr", "0.002"]),
    "tf-warm500": ("500 warm-up updates", [*TRANSFORMER, "--warmup-steps", "500"]),
    "tf-warm4k": ("4,000 warm-up updates, lr 0.002",
                  [*TRANSFORMER, "--warmup-steps", "4000", "--lr", "0.002"]),
    "tf-h8": ("8 heads", [*TRANSFORMER, "--heads", "8"]),
    "tf-ls0": ("no label smoothing (the preset's is 0.1)",
               [*TRANSFORMER, "--label-smoothing", "0"]),
    "tf-l6": ("6 layers each side", [*TRANSFORMER, "--num-layers", "6"]),
    "tf-w512": ("width 512, 8 heads, feed-forward 1024",
                [*TRANSFORMER, "--hidden-dim", "512", "--embed-dim", "512", "--heads", "8",
                 "--ff-dim", "1024"]),
    "tf-shared": ("one 8k BPE model and one embedding matrix for both sides",
                  [*TRANSFORMER, "--subwords", "bpe", "--share-embeddings"]),
    "tf-bpe8k": ("8k BPE pieces per side", [*TRANSFORMER, "--subwords", "bpe"]),
}
# --quick: tiny models (the size options of a candidate are left out)
QUICK_LSTM = ["--preset", "cpu-tiny", "--attention", "dot"]
QUICK_TRANSFORMER = ["--preset", "cpu-tiny", "--arch", "transformer", "--heads", "2",
                     "--ff-dim", "32", "--optimizer", "adam", "--lr", "0.002"]
FEATURE = "NMT0"  # the candidate's score in the scored lists, whatever its architecture
SIZES = {"--hidden-dim", "--embed-dim", "--heads", "--ff-dim", "--num-layers", "--precision"}


def train_options(name: str, quick: bool) -> list[str]:
    """``rescore-train``'s options for candidate ``name`` (tiny ones with ``quick``)."""
    options = CANDIDATES[name][1]
    if not quick:
        return options
    kept = options[2:]  # the preset replaced by the tiny one
    out: list[str] = []
    i = 0
    while i < len(kept):
        takes_value = i + 1 < len(kept) and not kept[i + 1].startswith("--")
        option = kept[i:i + 2] if takes_value else kept[i:i + 1]
        if kept[i] not in SIZES:
            out += option
        i += len(option)
    tiny = QUICK_TRANSFORMER if options[:2] == TRANSFORMER[:2] else QUICK_LSTM
    return [*tiny, *out]


def build(work: Path, shared: Path, names: list[str], updates: int, models: Path | None,
          quick: bool) -> Pipeline:
    data = work / "data"
    sentences = 40 if quick else None
    stages = [st.data_stage(shared, data, train_pairs=3000 if quick else None,
                            sentences=sentences,
                            inputs=[shared / "train.en.gz", shared / "nbest/val.1000best.gz"])]
    for name in names:
        model = (models if models is not None else work / "models") / name
        after = ["data"]
        if models is None:
            stages.append(st.train_stage(
                f"train-{name}", model,
                [*train_options(name, quick), "--src-train", data / "train.en.gz", "--tgt-train",
                 data / "train.fr.gz", "--src-valid", data / "val.en", "--tgt-valid",
                 data / "val.fr", "--seed", "1", "--max-steps", str(updates),
                 "--keep-checkpoints", "2"],
                after=["data"], description=f"train {name} for {updates} updates"))
            after.append(f"train-{name}")
        stages.append(st.translate_stage(f"greedy-{name}", data / "val.en",
                                         work / "greedy" / f"{name}.txt", [model], 1,
                                         inputs=[model] if models else [], after=after))
        scored = work / "scored" / f"{name}.nbest.gz"
        stages.append(st.score_stage(f"score-{name}", data / "nbest/val.1000best.gz",
                                     data / "val.en", [(FEATURE, model)], scored,
                                     inputs=[model] if models else [], after=after))
        stages.append(st.tune_stage(
            f"tune-{name}", scored, data / "val.fr", data / "moses.ini.tuned",
            ["--method", "grid", "--feature", FEATURE, "--folds", "5"],
            work / "tune" / f"{name}.json", work / "tune" / f"{name}.parquet",
            after=[f"score-{name}"]))
    return Pipeline(work, stages)


def measure(work: Path, names: list[str], models: Path | None) -> list[dict[str, object]]:
    """The table's rows, from each model's log and the stages' outputs."""
    import sacrebleu

    from rescore.corpus import load_prepared
    from rescore.files import read_lines
    from rescore.model_dir import data_files, describe, load
    from rescore.scoring import validation_perplexity
    from rescore.train import per_word

    refs = read_lines(work / "data" / "val.fr")
    rows = []
    for name in names:
        model = (models if models is not None else work / "models") / name
        info = describe(model)
        # averaged weights (rescore-model average): the training run they came from
        source = json.loads((model / "config.json").read_text()).get("weights") or {}
        run = Path(source["from"]["source"]) if "from" in source else model
        log = [json.loads(ln) for ln in (run / "log.jsonl").read_text().splitlines()]
        valid = [r for r in log if r.get("type") == "valid"]
        trained = [r for r in log if r.get("type") == "train"]
        last = valid[-1] if valid else {}
        # the final weights' perplexity (training validates every half epoch, not where a
        # budget stops it)
        corpus = load_prepared(data_files(run)).valid
        assert corpus is not None
        ppl = validation_perplexity(load(model).model, corpus, torch.device("cpu"))
        hyps = read_lines(work / "greedy" / f"{name}.txt")
        greedy = sacrebleu.corpus_bleu(hyps, [refs], tokenize="none", force=True).score
        tune = json.loads((work / "tune" / f"{name}.report.json").read_text())
        rows.append({
            "candidate": name,
            "change": CANDIDATES[name][0] if name in CANDIDATES else "a given model",
            "parameters": info["parameters"],
            "updates": trained[-1]["step"] if trained else 0,
            "epochs": round(trained[-1]["epoch"], 2) if trained else 0.0,
            "training s": round(float(trained[-1]["elapsed_s"])) if trained else 0,
            "val ppl per word": round(per_word(ppl, corpus), 2),
            "val ppl per word, last half epoch": round(float(last.get("ppl_word", math.nan)),
                                                       2),
            "val greedy BLEU": round(greedy, 2),
            "rerank dev BLEU": round(float(tune["dev_bleu_tuned"]), 2),
            "rerank cv dev BLEU": round(float(tune["dev_bleu_cross_validated"]), 2),
            "weight": tune.get("lambda")})
    return rows


def main() -> None:
    parser = options.parser(__doc__)
    parser.add_argument("--only", default=",".join(CANDIDATES),
                        help="comma-separated candidates: " + ", ".join(CANDIDATES))
    parser.add_argument("--updates", type=int, default=1000,
                        help="training budget of each candidate, in updates")
    parser.add_argument("--models", type=Path,
                        help="a folder of trained candidates (DIR/NAME), measured only; with "
                        "it, --only may name any model folder in DIR")
    parser.add_argument("--quick", action="store_true",
                        help="tiny models on a slice (a smoke test of the pipeline)")
    options.add_common(parser, "work/multi30k-screen (or work/multi30k-screen-quick)")
    args = parser.parse_args()
    options.use_threads(args)
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown and args.models is None:
        sys.exit(f"multi30k_screen: unknown candidate(s) {unknown}; valid: "
                 f"{', '.join(CANDIDATES)}")
    work = options.workdir(args, "multi30k-screen-quick" if args.quick else "multi30k-screen")
    updates = 30 if args.quick else args.updates
    models = args.models.resolve() if args.models else None
    run_pipeline("multi30k-screen",
                 lambda: build(work, multi30k_dir(), names, updates, models, args.quick),
                 args.dry_run, jobs=args.jobs)
    if args.dry_run:
        return
    import pandas as pd

    try:
        table = pd.DataFrame(measure(work, names, models))
    except (OSError, KeyError, RescoreError) as err:
        sys.exit(f"multi30k_screen: cannot build the table: {err}")
    table.to_csv(work / "screen.csv", index=False)
    (work / "screen.md").write_text(table.to_markdown(index=False) + "\n")
    print(table.to_markdown(index=False))
    print(f"table: {work / 'screen.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
