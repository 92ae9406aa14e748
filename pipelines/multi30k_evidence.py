"""Multi30k English->French, the paper's Tables 1 and 2 with more evidence per hypothesis. Three
reversed LSTMs with attention (cpu-attention, different seeds; or the last round's deep ones
without attention, --family deep), a right-to-left model, a channel model (French->English)
and KenLM score the val and test2016 Moses 1000-best lists; each Table 2 row adds one kind of
evidence, tuned on val with few free weights (members of one kind averaged into one feature,
Moses' total as one feature) and 5-fold cross-validation over the val sentences (the
cross-validated dev BLEU estimates each tuning's BLEU on unseen text), with MBR on top;
Table 1 is standalone beam search with one model and the ensemble, and a noisy-channel
reranking of the ensemble's own n-best lists (weights tuned on val). Every row reports BLEU,
chrF, the difference to Moses and to the row above with paired bootstrap p-values, and the
dev and cross-validated dev BLEU of its tuning. Stages are skipped when up to date.

    .venv/bin/python pipelines/multi30k_evidence.py --quick      # tiny models, a slice: minutes
    .venv/bin/python pipelines/multi30k_evidence.py --models DIR # DIR/{rev,rev2,rev3,r2l,channel}
    .venv/bin/python pipelines/multi30k_evidence.py              # trains the five models
    .venv/bin/python pipelines/multi30k_evidence.py --family deep --models DIR  # last round's
    .venv/bin/python pipelines/multi30k_evidence.py --dry-run

Needs the shared Moses lists and LM ($RESCORE_SHARED_DATA/multi30k-en-fr). The report lands in
WORKDIR/report/report.{md,html,json,csv} (default WORKDIR: work/multi30k-evidence[-quick],
work/multi30k-evidence-deep for --family deep).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from pipelines.engine import options  # noqa: E402
from pipelines.engine import stages as st  # noqa: E402
from pipelines.engine.paths import multi30k_dir  # noqa: E402
from pipelines.engine.pipeline import Pipeline, Stage, run_pipeline  # noqa: E402
from rescore.errors import RescoreError  # noqa: E402


@dataclass(frozen=True)
class Mode:
    preset: str
    train_pairs: int | None
    sentences: int | None
    epochs: float | None
    mert_restarts: int
    mira_passes: int
    top: int  # MBR evidence
    kind: str = "attentive"  # in the rows' names: "one attentive reversed LSTM"
    train_extra: tuple[str, ...] = ()  # rescore-train options beside the preset
    folds: int = 5  # rescore-tune --folds: k-fold cross-validation over the val sentences


QUICK = Mode("cpu-tiny", train_pairs=10000, sentences=60, epochs=1.0, mert_restarts=2,
             mira_passes=5, top=20, train_extra=("--attention", "dot"), folds=3)
FULL = Mode("cpu-attention", train_pairs=None, sentences=None, epochs=None, mert_restarts=10,
            mira_passes=15, top=100)
DEEP = Mode("cpu-deep", train_pairs=None, sentences=None, epochs=None, mert_restarts=10,
            mira_passes=15, top=100, kind="deep")

# name: (feature, training options); the seeds of the models in docs/results.md
REVERSED = {"rev": ("LSTMR0", ["--seed", "1"]), "rev2": ("LSTMR1", ["--seed", "2"]),
            "rev3": ("LSTMR2", ["--seed", "4"])}
# right-to-left: the source in its own order, so that the first target words written (the
# sentence's end) sit next to the source words they translate (the reversal's argument)
R2L = ("LSTMR2L0", ["--seed", "5", "--target-right-to-left", "--no-reverse-source"])
CHANNEL = ("Channel0", ["--seed", "3", "--src-lang", "fr", "--tgt-lang", "en"])
ENSEMBLE = "LSTMEnsemble0"
KENLM = "KenLM0"
MODEL_NAMES = (*REVERSED, "r2l", "channel")


def train_stages(work: Path, data: Path, mode: Mode) -> list[Stage]:
    """The five models, each trained by rescore-train on the (sliced) data."""
    stages = []
    directions = {name: ("en", "fr", opts) for name, (_, opts) in REVERSED.items()}
    directions["r2l"] = ("en", "fr", R2L[1])
    directions["channel"] = ("fr", "en", CHANNEL[1])
    for name, (src, tgt, opts) in directions.items():
        args: list[str | Path] = [
            "--preset", mode.preset, "--src-train", data / f"train.{src}.gz", "--tgt-train",
            data / f"train.{tgt}.gz", "--src-valid", data / f"val.{src}", "--tgt-valid",
            data / f"val.{tgt}", *opts, *mode.train_extra]
        if mode.epochs:
            args += ["--epochs", str(mode.epochs)]
        stages.append(st.train_stage(
            f"train-{name}", work / "models" / name, args, after=["data"],
            description=f"train {name} ({src}->{tgt})"))
    return stages


def build(work: Path, shared: Path, mode: Mode, models: Path | None) -> Pipeline:
    data = work / "data"
    stages = [st.data_stage(shared, data, train_pairs=mode.train_pairs,
                            sentences=mode.sentences,
                            inputs=[shared / "train.en.gz", shared / "nbest/val.1000best.gz"])]
    if models is None:
        stages += train_stages(work, data, mode)
        dirs = {name: work / "models" / name for name in MODEL_NAMES}
        model_inputs: list[Path] = []
    else:
        dirs = {name: models / name for name in MODEL_NAMES}
        model_inputs = list(dirs.values())
    st.check_models(model_inputs)

    def needs(*names: str) -> tuple[list[Path], list[str]]:
        """The model folders a stage reads (inputs: a changed model reruns only the stages
        that read it) and the training stages it waits for."""
        if models is None:
            return [], [f"train-{name}" for name in names]
        return [dirs[name] for name in names], []

    lm = shared / "lm" / "train.fr.5g.arpa.gz"

    # scoring: one stage per kind of evidence, so the report of timings says which dominates
    scored: dict[str, Path] = {}
    reversed_feats = [(feat, dirs[name]) for name, (feat, _) in REVERSED.items()]
    for split in ("val", "test2016"):
        direct, channel, kenlm = (work / "scored" / f"{split}.{k}.nbest.gz"
                                  for k in ("direct", "channel", "kenlm"))
        scored[split] = work / "scored" / f"{split}.all.nbest.gz"
        source = data / f"{split}.en"
        reads, waits = needs(*REVERSED)
        stages.append(st.score_stage(
            f"direct-{split}", data / f"nbest/{split}.1000best.gz", source, reversed_feats,
            direct, ensemble=[f for f, _ in reversed_feats], inputs=reads,
            after=["data", *waits]))
        reads, waits = needs("channel")
        stages.append(st.score_stage(
            f"channel-{split}", direct, source, [], channel,
            channel_models=[(CHANNEL[0], dirs["channel"])], inputs=reads,
            after=[*waits, f"direct-{split}"]))
        stages.append(st.score_stage(f"kenlm-{split}", channel, source, [], kenlm, lms=[lm],
                                     inputs=[lm], after=[f"channel-{split}"]))
        reads, waits = needs("r2l")
        stages.append(st.score_stage(
            f"r2l-{split}", kenlm, source, [(R2L[0], dirs["r2l"])], scored[split],
            inputs=reads, after=[*waits, f"kenlm-{split}"]))

    single = REVERSED["rev"][0]
    labels = {single: f"one {mode.kind} reversed LSTM",
              ENSEMBLE: f"ensemble of 3 {mode.kind} reversed LSTMs"}
    folds = ["--folds", str(mode.folds)]
    tunings = {key: ([*args, *folds], label)
               for key, (args, label) in st.grid_tunings(labels).items()}
    one = ["--method", "mert", "--baseline-as-one-feature", "--restarts",
           str(mode.mert_restarts), *folds, "--tune-features"]
    everything = [st.MOSES_FEATURES, ENSEMBLE, R2L[0], CHANNEL[0], KENLM]
    tunings |= {
        "r2l": ([*one, f"{ENSEMBLE},{R2L[0]}"],
                "+ right-to-left LSTM (Moses total as one feature, MERT on val)"),
        "channel": ([*one, f"{ENSEMBLE},{R2L[0]},{CHANNEL[0]}"],
                    "+ channel model (Moses total as one feature, MERT on val)"),
        # the KenLM row first with the tuning of the rows above (its "vs above" is then
        # what KenLM adds), then the other two tunings of all features
        "all-one": ([*one, ",".join(everything[1:])],
                    "+ KenLM, Moses total as one feature, MERT on val"),
        "all-mert": (["--method", "mert", "--restarts", str(mode.mert_restarts), *folds,
                      "--tune-features", ",".join(everything)],
                     "+ KenLM, all features, MERT on val"),
        "all-mira": (["--method", "mira", "--iterations", str(mode.mira_passes), *folds,
                      "--tune-features", ",".join(everything)],
                     "+ KenLM, all features, batch MIRA on val")}
    init = data / "moses.ini.tuned"
    after_val, after_test = ["r2l-val"], ["r2l-test2016"]
    table2 = st.tuned_rows(scored["val"], scored["test2016"], data / "val.fr", init, tunings,
                           work, after_val, after_test)
    for key in ("all-one", "all-mert", "all-mira"):  # MBR on top, its scale tuned on val
        weights = work / "tune" / f"{key}.json"
        scale = work / "tune" / f"mbr-{key}.json"
        table2.stages.append(st.tune_stage(
            f"tune-mbr-{key}", scored["val"], data / "val.fr", weights,
            ["--method", "mbr-scale", "--top", str(mode.top)], scale,
            work / "tune" / "val.features.parquet", after=[*after_val, f"tune-{key}"]))
        out = work / "rerank" / f"mbr-{key}.1best"
        table2.add(st.mbr_stage(f"mbr-{key}", scored["test2016"], weights,
                                scale.with_suffix(".report.json"), out, top=mode.top,
                                after=[*after_test, f"tune-mbr-{key}"]),
                   f"MBR over the top {mode.top} of: {tunings[key][1]}", out, scale)
        # each MBR row right below the row it decodes, so that "vs above" is what MBR adds
        row = table2.systems.pop()
        base = next(i for i, r in enumerate(table2.systems) if r["name"] == tunings[key][1])
        table2.systems.insert(base + 1, row)
    averages = st.average_rows(scored["test2016"], labels, work, after_test)
    table2.stages += averages.stages
    table2.systems += averages.systems
    oracle, oracle_json = st.oracle_stage(data / "nbest/test2016.1000best.gz",
                                          data / "test2016.fr",
                                          work / "oracle" / "test2016.oracle", after=["data"])
    table2.add(oracle, "oracle of the 1000-best lists", oracle.outputs[0])

    table1 = standalone_rows(work, data, dirs, needs, mode)
    stages += table2.stages + table1.stages

    spec = {"ref": str(data / "test2016.fr"), "versus_above": True,
            "baseline": {"name": "Moses baseline", "file": str(data / "baseline/test2016.1best")},
            "tables": [{"title": f"Table 1: standalone translation ({mode.kind} reversed "
                                 "LSTMs)", "systems": table1.systems},
                       {"title": "Table 2: rescoring Moses' 1000-best lists with more evidence",
                        "systems": table2.systems}],
            "oracle": str(oracle_json),
            "models": [{"name": name, "dir": str(d)} for name, d in dirs.items()]}
    stages.append(st.report_stage(work, spec, model_inputs,
                                  [s.name for s in stages]))
    return Pipeline(work, stages)


def standalone_rows(work: Path, data: Path, dirs: dict[str, Path],
                    needs: Callable[..., tuple[list[Path], list[str]]], mode: Mode) -> st.Rows:
    """Table 1: the deep ensemble's beam search (beam 1 and 12), then noisy-channel reranking
    of its own 12-best lists: direct (the ensemble's mean), channel and length, tuned on val
    by MERT from the beam's own ranking (and once more with the right-to-left model)."""
    rows = st.Rows()
    ensemble = [dirs[name] for name in REVERSED]
    label = f"ensemble of 3 {mode.kind} reversed LSTMs, beam {{}}"
    reads, waits = needs(*REVERSED)
    one_reads, one_waits = needs("rev")
    for beam in (1, 12):  # one model alone
        out = work / "translate" / f"test2016-one-b{beam}.txt"
        rows.add(st.translate_stage(f"translate-one-b{beam}", data / "test2016.en", out,
                                    [dirs["rev"]], beam, inputs=one_reads,
                                    after=["data", *one_waits]),
                 f"one {mode.kind} reversed LSTM, beam {beam}", out)
    out = work / "translate" / "test2016-b1.txt"
    rows.add(st.translate_stage("translate-b1", data / "test2016.en", out, ensemble, 1,
                                inputs=reads, after=["data", *waits]), label.format(1), out)
    members = [f"LSTM{i}" for i in range(len(ensemble))]
    lists: dict[str, Path] = {}
    for split in ("val", "test2016"):  # beam 12: the 1-best and the 12-best lists
        nbest = work / "translate" / f"{split}-b12.nbest.gz"
        out = work / "translate" / f"{split}-b12.txt"
        search = st.translate_stage(
            f"translate-b12-{split}", data / f"{split}.en", out, ensemble, 12,
            extra=["--output-nbest", str(nbest)], inputs=reads, after=["data", *waits])
        search.outputs.append(nbest)
        if split == "test2016":
            rows.add(search, label.format(12), out)
        else:
            rows.stages.append(search)
        lists[split] = work / "translate" / f"{split}-b12.scored.nbest.gz"
        other, other_waits = needs("r2l", "channel")
        rows.stages.append(st.score_stage(
            f"channel-nbest-{split}", nbest, data / f"{split}.en",
            [(R2L[0], dirs["r2l"])], lists[split], ensemble=members,
            channel_models=[(CHANNEL[0], dirs["channel"])], extra=["--word-count"],
            inputs=other, after=[f"translate-b12-{split}", *other_waits]))
    init = work / "tune" / "beam-init.json"
    init_text = json.dumps({ENSEMBLE: [1.0]}) + "\n"  # the beam's own ranking
    cache = work / "tune" / "beam-val.features.parquet"
    for key, feats, label in (
            ("nc", [ENSEMBLE, CHANNEL[0], "WordCount0"],
             "beam 12 + noisy-channel reranking (direct, channel, length; MERT on val)"),
            ("nc-r2l", [ENSEMBLE, R2L[0], CHANNEL[0], "WordCount0"],
             "beam 12 + noisy-channel reranking with the right-to-left LSTM")):
        weights = work / "tune" / f"beam-{key}.json"
        rows.stages.append(st.tune_stage(
            f"tune-beam-{key}", lists["val"], data / "val.fr", init,
            ["--method", "mert", "--restarts", str(mode.mert_restarts), "--folds",
             str(mode.folds), "--tune-features", ",".join(feats)], weights, cache,
            after=["channel-nbest-val"],
            init_text=init_text))
        out = work / "rerank" / f"beam-{key}.1best"
        rows.add(st.rerank_stage(f"rerank-beam-{key}", lists["test2016"], out, weights=weights,
                                 after=["channel-nbest-test2016", f"tune-beam-{key}"]),
                 label, out, weights)
    return rows


def main() -> None:
    parser = options.parser(__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny models (cpu-tiny with dot "
                        "attention, 1 epoch) on 10k pairs, 60 val/test sentences: the "
                        "machinery in minutes")
    parser.add_argument("--family", choices=("attention", "deep"), default="attention",
                        help="attention: cpu-attention models (this round's); deep: the last "
                        "round's cpu-deep models without attention (4 x 256)")
    options.add_common(parser, "work/multi30k-evidence (or work/multi30k-evidence-quick)")
    options.add_models(parser, ",".join(MODEL_NAMES))
    options.add_overrides(parser)
    args = parser.parse_args()
    mode = options.with_overrides(
        QUICK if args.quick else (DEEP if args.family == "deep" else FULL), args)
    work = options.workdir(args, "multi30k-evidence-quick" if args.quick else
                           "multi30k-evidence-deep" if args.family == "deep" else
                           "multi30k-evidence")
    shared = multi30k_dir()
    options.use_threads(args)

    def make() -> Pipeline:
        if not (shared / "nbest/test2016.1000best.gz").exists():
            raise RescoreError(f"{shared}: no Moses n-best lists (set RESCORE_SHARED_DATA)")
        return build(work, shared, mode, options.models_dir(args))

    run_pipeline("multi30k_evidence", make, args.dry_run, work / "report" / "report.html",
                 jobs=args.jobs)


if __name__ == "__main__":
    main()
