"""Multi30k English->French, the paper's Tables 1 and 2 with more evidence per hypothesis. Three
reversed LSTMs with attention (cpu-attention, different seeds; or the last round's deep ones
without attention, --family deep; or two cpu-strong members that differ in recipe, each the
mean of its last 4 checkpoints, --family strong), a right-to-left model, a channel model
(French->English) and KenLM score the val and test2016 Moses 1000-best lists; each Table 2
row adds one kind of evidence, tuned on val with few free weights (members of one kind
averaged into one feature, Moses' total as one feature) and 5-fold cross-validation over the
val sentences (the cross-validated dev BLEU estimates each tuning's BLEU on unseen text), with
MBR on top; Table 1 is standalone beam search with one model and the ensemble, and a
noisy-channel reranking of the ensemble's own n-best lists (beam 12; 50 for --family strong,
with a length-normalised feature; weights tuned on val) and the oracle of those lists. Every
row reports BLEU, chrF, the difference to Moses and to the row above with paired bootstrap
p-values, and the dev and cross-validated dev BLEU of its tuning. Stages are skipped when up
to date.

    .venv/bin/python pipelines/multi30k_evidence.py --quick      # tiny models, a slice: minutes
    .venv/bin/python pipelines/multi30k_evidence.py --models DIR # DIR/{rev,rev2,rev3,r2l,channel}
    .venv/bin/python pipelines/multi30k_evidence.py              # trains the five models
    .venv/bin/python pipelines/multi30k_evidence.py --family deep --models DIR  # last round's
    .venv/bin/python pipelines/multi30k_evidence.py --family strong --models DIR --jobs 2
    .venv/bin/python pipelines/multi30k_evidence.py --dry-run

Needs the shared Moses lists and LM ($RESCORE_SHARED_DATA/multi30k-en-fr). The report lands in
WORKDIR/report/report.{md,html,json,csv} (default WORKDIR: work/multi30k-evidence[-quick],
work/multi30k-evidence-deep for --family deep, work/multi30k-evidence-strong for --family
strong).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from pipelines.engine import options  # noqa: E402
from pipelines.engine import stages as st  # noqa: E402
from pipelines.engine.layout import DEFAULT_LAYOUT, Layout, discover  # noqa: E402
from pipelines.engine.paths import multi30k_dir  # noqa: E402
from pipelines.engine.pipeline import Pipeline, Stage, run_pipeline  # noqa: E402
from rescore.errors import RescoreError  # noqa: E402
from rescore.scoring import PRECISIONS  # noqa: E402


@dataclass(frozen=True)
class Family:
    """The members: ``direct`` en->fr models (name: (feature, training options)), averaged into
    the ensemble; a right-to-left and a channel model; the beam of Table 1's reranked lists;
    ``average``: score with the mean of each member's last K kept checkpoints (0: the final
    weights); ``per_word``: a length-normalised ensemble feature beside the word count."""

    kind: str  # in the rows' names: "one attentive reversed LSTM"
    direct: dict[str, tuple[str, list[str]]]
    r2l: tuple[str, list[str]]
    channel: tuple[str, list[str]]
    list_beam: int = 12
    average: int = 0
    per_word: bool = False
    noun: str = "reversed LSTM"  # "one attentive reversed LSTM"
    table1_lm: bool = False  # a Table 1 row that adds the 5-gram LM of the training French

    def names(self) -> tuple[str, ...]:
        return (*self.direct, "r2l", "channel")


# name: (feature, training options); the seeds of the models in docs/results.md
REVERSED = {"rev": ("LSTMR0", ["--seed", "1"]), "rev2": ("LSTMR1", ["--seed", "2"]),
            "rev3": ("LSTMR2", ["--seed", "4"])}
# right-to-left: the source in its own order, so that the first target words written (the
# sentence's end) sit next to the source words they translate (the reversal's argument)
R2L = ("LSTMR2L0", ["--seed", "5", "--target-right-to-left", "--no-reverse-source"])
CHANNEL = ("Channel0", ["--seed", "3"])  # trained the other way (train_stages)
ATTENTIVE = Family("attentive", REVERSED, R2L, CHANNEL)
DEEP_FAMILY = Family("deep", REVERSED, R2L, CHANNEL)
# members that differ in recipe, not only in seed (issue 29): a bidirectional encoder, label
# smoothing; the right-to-left model bidirectional; the channel model unidirectional (its
# trie shares encoder steps between hypotheses only with a one-way encoder)
STRONG = Family(
    "cpu-strong", {"rev": ("LSTMR0", ["--seed", "1", "--bidirectional"]),
                   "rev2": ("LSTMR1", ["--seed", "2", "--label-smoothing", "0.1"])},
    ("LSTMR2L0", [*R2L[1], "--bidirectional"]), CHANNEL, list_beam=50, average=4,
    per_word=True, noun="LSTM", table1_lm=True)
ENSEMBLE = "LSTMEnsemble0"
PER_WORD = "PerWord" + ENSEMBLE
KENLM = "KenLM0"


@dataclass(frozen=True)
class Mode:
    preset: str
    train_pairs: int | None
    sentences: int | None
    epochs: float | None
    mert_restarts: int
    mira_passes: int
    top: int  # MBR evidence
    family: Family = ATTENTIVE
    train_extra: tuple[str, ...] = ()  # rescore-train options beside the preset
    folds: int = 5  # rescore-tune --folds: k-fold cross-validation over the val sentences


QUICK = Mode("cpu-tiny", train_pairs=10000, sentences=60, epochs=1.0, mert_restarts=2,
             mira_passes=5, top=20, train_extra=("--attention", "dot"), folds=3)
FULL = Mode("cpu-attention", train_pairs=None, sentences=None, epochs=None, mert_restarts=10,
            mira_passes=15, top=100)
DEEP = Mode("cpu-deep", train_pairs=None, sentences=None, epochs=None, mert_restarts=10,
            mira_passes=15, top=100, family=DEEP_FAMILY)
STRONG_MODE = Mode("cpu-strong", train_pairs=None, sentences=None, epochs=12.0,
                   mert_restarts=10, mira_passes=15, top=100, family=STRONG,
                   train_extra=("--keep-checkpoints", "4"))
# 2 epochs: four half-epoch validations, each a kept checkpoint to average
QUICK_STRONG = Mode("cpu-tiny", train_pairs=10000, sentences=60, epochs=2.0, mert_restarts=2,
                    mira_passes=5, top=20, family=STRONG, folds=3,
                    train_extra=("--attention", "dot", "--optimizer", "adam", "--lr", "0.002",
                                 "--keep-checkpoints", "4"))


def train_stages(work: Path, data: Path, mode: Mode, lay: Layout) -> list[Stage]:
    """The five models, each trained by rescore-train on the (sliced) data."""
    stages = []
    family = mode.family
    directions = {name: (lay.src, lay.tgt, opts) for name, (_, opts) in family.direct.items()}
    directions["r2l"] = (lay.src, lay.tgt, family.r2l[1])
    directions["channel"] = (lay.tgt, lay.src, family.channel[1])
    for name, (src, tgt, opts) in directions.items():
        args: list[str | Path] = [
            "--preset", mode.preset, "--src-train", data / f"train.{src}.gz", "--tgt-train",
            data / f"train.{tgt}.gz", "--src-valid", data / f"val.{src}", "--tgt-valid",
            data / f"val.{tgt}", "--src-lang", src, "--tgt-lang", tgt, *opts,
            *mode.train_extra]
        if mode.epochs:
            args += ["--epochs", str(mode.epochs)]
        stages.append(st.train_stage(
            f"train-{name}", work / "models" / name, args, after=["data"],
            description=f"train {name} ({src}->{tgt})"))
    return stages


def average_stages(work: Path, dirs: dict[str, Path], k: int,
                   needs: Callable[..., tuple[list[Path], list[str]]]) -> list[Stage]:
    """Each member's last ``k`` kept checkpoints averaged into work/averaged/NAME (the model
    every later stage reads); ``dirs`` is updated to point there."""
    stages = []
    for name in list(dirs):
        out = work / "averaged" / name
        reads, waits = needs(name)
        stages.append(Stage(
            f"average-{name}", [*st.cli("model"), "average", str(dirs[name]), "--last", str(k),
                                "--output", str(out)], [out], reads, ["data", *waits],
            description=f"average the last {k} checkpoints of {name}"))
        dirs[name] = out
    return stages


def build(work: Path, shared: Path, mode: Mode, models: Path | None,
          lay: Layout = DEFAULT_LAYOUT) -> Pipeline:
    data = work / "data"
    family = mode.family
    names = family.names()
    test, src, tgt = lay.test, lay.src, lay.tgt
    stages = [st.data_stage(shared, data, train_pairs=mode.train_pairs,
                            sentences=mode.sentences, layout=lay,
                            inputs=[shared / f"train.{src}.gz",
                                    shared / "nbest/val.1000best.gz"])]
    if models is None:
        stages += train_stages(work, data, mode, lay)
        dirs = {name: work / "models" / name for name in names}
        model_inputs: list[Path] = []
    else:
        dirs = {name: models / name for name in names}
        model_inputs = list(dirs.values())
    st.check_models(model_inputs)
    trained = dict(dirs)

    def trained_by(*names: str) -> tuple[list[Path], list[str]]:
        """The model folders a stage reads (inputs: a changed model reruns only the stages
        that read it) and the training stages it waits for."""
        if models is None:
            return [], [f"train-{name}" for name in names]
        return [dirs[name] for name in names], []

    needs = trained_by
    if family.average:
        stages += average_stages(work, dirs, family.average, trained_by)

        def needs(*names: str) -> tuple[list[Path], list[str]]:
            return [], [f"average-{name}" for name in names]

    lm = lay.lm(shared)

    # scoring: one stage per kind of evidence, so the report of timings says which dominates
    scored: dict[str, Path] = {}
    reversed_feats = [(feat, dirs[name]) for name, (feat, _) in family.direct.items()]
    r2l, channel_feat = family.r2l[0], family.channel[0]
    for split in ("val", test):
        direct, channel, kenlm = (work / "scored" / f"{split}.{k}.nbest.gz"
                                  for k in ("direct", "channel", "kenlm"))
        scored[split] = work / "scored" / f"{split}.all.nbest.gz"
        source = data / f"{split}.{src}"
        reads, waits = needs(*family.direct)
        stages.append(st.score_stage(
            f"direct-{split}", data / f"nbest/{split}.1000best.gz", source, reversed_feats,
            direct, ensemble=[f for f, _ in reversed_feats], inputs=reads,
            extra=[*lay.langs, *(["--per-word", ENSEMBLE] if family.per_word else [])],
            after=["data", *waits]))
        reads, waits = needs("channel")
        stages.append(st.score_stage(
            f"channel-{split}", direct, source, [], channel,
            channel_models=[(channel_feat, dirs["channel"])], inputs=reads, extra=lay.langs,
            after=[*waits, f"direct-{split}"]))
        stages.append(st.score_stage(f"kenlm-{split}", channel, source, [], kenlm, lms=[lm],
                                     inputs=[lm], after=[f"channel-{split}"]))
        reads, waits = needs("r2l")
        stages.append(st.score_stage(
            f"r2l-{split}", kenlm, source, [(r2l, dirs["r2l"])], scored[split],
            inputs=reads, extra=lay.langs, after=[*waits, f"kenlm-{split}"]))

    single = family.direct["rev"][0]
    labels = {single: f"one {family.kind} {family.noun}",
              ENSEMBLE: f"ensemble of {len(family.direct)} {family.kind} {family.noun}s"}
    folds = ["--folds", str(mode.folds)]
    tunings = {key: ([*args, *folds], label)
               for key, (args, label) in st.grid_tunings(labels).items()}
    per_word = " and the ensemble per word" if family.per_word else ""
    one = ["--method", "mert", "--baseline-as-one-feature", "--restarts",
           str(mode.mert_restarts), *folds, "--tune-features"]
    everything = [st.MOSES_FEATURES, ENSEMBLE, r2l, channel_feat, KENLM,
                  *([PER_WORD] if family.per_word else [])]
    tunings |= {
        "r2l": ([*one, f"{ENSEMBLE},{r2l}"],
                "+ right-to-left LSTM (Moses total as one feature, MERT on val)"),
        "channel": ([*one, f"{ENSEMBLE},{r2l},{channel_feat}"],
                    "+ channel model (Moses total as one feature, MERT on val)"),
        # the KenLM row first with the tuning of the rows above (its "vs above" is then
        # what KenLM adds), then the other two tunings of all features
        "all-one": ([*one, ",".join(everything[1:])],
                    f"+ KenLM{per_word}, Moses total as one feature, MERT on val"),
        "all-mert": (["--method", "mert", "--restarts", str(mode.mert_restarts), *folds,
                      "--tune-features", ",".join(everything)],
                     f"+ KenLM{per_word}, all features, MERT on val"),
        "all-mira": (["--method", "mira", "--iterations", str(mode.mira_passes), *folds,
                      "--tune-features", ",".join(everything)],
                     f"+ KenLM{per_word}, all features, batch MIRA on val")}
    init = data / "moses.ini.tuned"
    after_val, after_test = ["r2l-val"], [f"r2l-{test}"]
    table2 = st.tuned_rows(scored["val"], scored[test], data / f"val.{tgt}", init, tunings,
                           work, after_val, after_test)
    for key in ("all-one", "all-mert", "all-mira"):  # MBR on top, its scale tuned on val
        weights = work / "tune" / f"{key}.json"
        scale = work / "tune" / f"mbr-{key}.json"
        table2.stages.append(st.tune_stage(
            f"tune-mbr-{key}", scored["val"], data / f"val.{tgt}", weights,
            ["--method", "mbr-scale", "--top", str(mode.top)], scale,
            work / "tune" / "val.features.parquet", after=[*after_val, f"tune-{key}"]))
        out = work / "rerank" / f"mbr-{key}.1best"
        table2.add(st.mbr_stage(f"mbr-{key}", scored[test], weights,
                                scale.with_suffix(".report.json"), out, top=mode.top,
                                after=[*after_test, f"tune-mbr-{key}"]),
                   f"MBR over the top {mode.top} of: {tunings[key][1]}", out, scale)
        # each MBR row right below the row it decodes, so that "vs above" is what MBR adds
        row = table2.systems.pop()
        base = next(i for i, r in enumerate(table2.systems) if r["name"] == tunings[key][1])
        table2.systems.insert(base + 1, row)
    averages = st.average_rows(scored[test], labels, work, after_test)
    table2.stages += averages.stages
    table2.systems += averages.systems
    oracle, oracle_json = st.oracle_stage(data / f"nbest/{test}.1000best.gz",
                                          data / f"{test}.{tgt}",
                                          work / "oracle" / f"{test}.oracle", after=["data"])
    table2.add(oracle, "oracle of the 1000-best lists", oracle.outputs[0])

    table1 = standalone_rows(work, data, dirs, needs, mode, lm, lay)
    stages += table2.stages + table1.stages

    averaged = (f", each the mean of its last {family.average} checkpoints" if family.average
                else "")
    spec = {"ref": str(data / f"{test}.{tgt}"), "versus_above": True,
            "baseline": {"name": "Moses baseline",
                         "file": str(data / f"baseline/{test}.1best")},
            "tables": [{"title": f"Table 1: standalone translation ({family.kind} "
                                 f"{family.noun}s{averaged})",
                        "systems": table1.systems},
                       {"title": "Table 2: rescoring Moses' 1000-best lists with more evidence",
                        "systems": table2.systems}],
            "oracle": str(oracle_json),
            "models": [{"name": name, "dir": str(d)} for name, d in trained.items()]}
    stages.append(st.report_stage(work, spec, model_inputs,
                                  [s.name for s in stages]))
    return Pipeline(work, stages)


def standalone_rows(work: Path, data: Path, dirs: dict[str, Path],
                    needs: Callable[..., tuple[list[Path], list[str]]], mode: Mode,
                    lm: Path, lay: Layout = DEFAULT_LAYOUT) -> st.Rows:
    """Table 1: the ensemble's beam search (beam 1 and 12), then noisy-channel reranking of its
    own n-best lists (the family's list beam): direct (the ensemble's mean), channel and
    length (and the ensemble per word), tuned on val by MERT from the beam's own ranking (and
    once more with the right-to-left model, and with the 5-gram LM of the training French
    for families with ``table1_lm``: a model of the same training data, not Moses' output);
    the oracle of those lists."""
    rows = st.Rows()
    family = mode.family
    test, src, tgt = lay.test, lay.src, lay.tgt
    ensemble = [dirs[name] for name in family.direct]
    label = f"ensemble of {len(ensemble)} {family.kind} {family.noun}s, beam {{}}"
    reads, waits = needs(*family.direct)
    one_reads, one_waits = needs("rev")
    for beam in (1, 12):  # one model alone
        out = work / "translate" / f"{test}-one-b{beam}.txt"
        rows.add(st.translate_stage(f"translate-one-b{beam}", data / f"{test}.{src}", out,
                                    [dirs["rev"]], beam, inputs=one_reads,
                                    after=["data", *one_waits]),
                 f"one {family.kind} {family.noun}, beam {beam}", out)
    list_beam = family.list_beam
    for beam in sorted({1, 12} - {list_beam}):
        out = work / "translate" / f"{test}-b{beam}.txt"
        rows.add(st.translate_stage(f"translate-b{beam}", data / f"{test}.{src}", out, ensemble,
                                    beam, inputs=reads, after=["data", *waits]),
                 label.format(beam), out)
    members = [f"LSTM{i}" for i in range(len(ensemble))]
    r2l, channel = family.r2l[0], family.channel[0]
    lists: dict[str, Path] = {}
    for split in ("val", test):  # the 1-best and the n-best lists of the list beam
        nbest = work / "translate" / f"{split}-b{list_beam}.nbest.gz"
        out = work / "translate" / f"{split}-b{list_beam}.txt"
        search = st.translate_stage(
            f"translate-b{list_beam}-{split}", data / f"{split}.{src}", out, ensemble, list_beam,
            extra=["--output-nbest", str(nbest)], inputs=reads, after=["data", *waits])
        search.outputs.append(nbest)
        if split == test:
            rows.add(search, label.format(list_beam), out)
        else:
            rows.stages.append(search)
        lists[split] = work / "translate" / f"{split}-b{list_beam}.scored.nbest.gz"
        other, other_waits = needs("r2l", "channel")
        rows.stages.append(st.score_stage(
            f"channel-nbest-{split}", nbest, data / f"{split}.{src}",
            [(r2l, dirs["r2l"])], lists[split], ensemble=members,
            channel_models=[(channel, dirs["channel"])],
            lms=[lm] if family.table1_lm else [],
            extra=[*lay.langs, "--word-count",
                   *(["--per-word", ENSEMBLE] if family.per_word else [])],
            inputs=[*other, *([lm] if family.table1_lm else [])],
            after=[f"translate-b{list_beam}-{split}", *other_waits]))
    init = work / "tune" / "beam-init.json"
    init_text = json.dumps({ENSEMBLE: [1.0]}) + "\n"  # the beam's own ranking
    cache = work / "tune" / "beam-val.features.parquet"
    length = [PER_WORD] if family.per_word else []
    per_word = ", per word" if family.per_word else ""
    rerankings = [
            ("nc", [ENSEMBLE, channel, "WordCount0", *length],
             f"beam {list_beam} + noisy-channel reranking (direct, channel, length{per_word}; "
             "MERT on val)"),
            ("nc-r2l", [ENSEMBLE, r2l, channel, "WordCount0", *length],
             f"beam {list_beam} + noisy-channel reranking with the right-to-left LSTM")]
    if family.table1_lm:
        rerankings.append(("nc-r2l-lm", [ENSEMBLE, r2l, channel, "WordCount0", *length, KENLM],
                           f"beam {list_beam} + noisy-channel reranking with the right-to-left "
                           "LSTM and a 5-gram LM of the training French"))
    for key, feats, text in rerankings:
        weights = work / "tune" / f"beam-{key}.json"
        rows.stages.append(st.tune_stage(
            f"tune-beam-{key}", lists["val"], data / f"val.{tgt}", init,
            ["--method", "mert", "--restarts", str(mode.mert_restarts), "--folds",
             str(mode.folds), "--tune-features", ",".join(feats)], weights, cache,
            after=["channel-nbest-val"],
            init_text=init_text))
        out = work / "rerank" / f"beam-{key}.1best"
        rows.add(st.rerank_stage(f"rerank-beam-{key}", lists[test], out, weights=weights,
                                 after=[f"channel-nbest-{test}", f"tune-beam-{key}"]),
                 text, out, weights)
    oracle, _ = st.oracle_stage(work / "translate" / f"{test}-b{list_beam}.nbest.gz",
                                data / f"{test}.{tgt}", work / "oracle" / f"beam{list_beam}.oracle",
                                after=[f"translate-b{list_beam}-{test}"],
                                name=f"oracle-beam{list_beam}")
    rows.add(oracle, f"oracle of the ensemble's {list_beam}-best lists", oracle.outputs[0])
    return rows


def main() -> None:
    parser = options.parser(__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny models (cpu-tiny with dot "
                        "attention, 1 epoch) on 10k pairs, 60 val/test sentences: the "
                        "machinery in minutes")
    parser.add_argument("--family", choices=("attention", "deep", "strong"),
                        default="attention",
                        help="attention: cpu-attention models; deep: cpu-deep models without "
                        "attention (4 x 256); strong: cpu-strong members that differ in recipe "
                        "(rev: bidirectional encoder; rev2: label smoothing 0.1; r2l: "
                        "bidirectional; channel), 12 epochs, each scored as the mean of its last "
                        "4 checkpoints, Table 1's lists at beam 50 with a per-word feature")
    options.add_common(parser, "work/multi30k-evidence (or work/multi30k-evidence-quick)")
    options.add_models(parser, "rev,rev2,rev3,r2l,channel (strong: rev,rev2,r2l,channel)")
    options.add_overrides(parser)
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="the members' training precision (rescore-train --precision; "
                        "bf16: autocast on a GPU or on a CPU with native bf16, AVX-512 BF16 or "
                        "AMX, where it trains about 1.4x faster than fp32); default: "
                        "rescore-train's")
    options.add_data(parser)
    args = parser.parse_args()
    modes = {"attention": (FULL, QUICK), "deep": (DEEP, QUICK), "strong": (STRONG_MODE,
                                                                        QUICK_STRONG)}
    mode = options.with_overrides(modes[args.family][args.quick], args)
    if args.precision:
        mode = replace(mode, train_extra=(*mode.train_extra, "--precision", args.precision))
    suffix = "" if args.family == "attention" else f"-{args.family}"
    work = options.workdir(args, f"multi30k-evidence{suffix}{'-quick' if args.quick else ''}")
    shared = args.data or multi30k_dir()
    options.use_threads(args)

    def make() -> Pipeline:
        if args.data is None and not (shared / "nbest/test2016.1000best.gz").exists():
            raise RescoreError(f"{shared}: no Moses n-best lists (set RESCORE_SHARED_DATA)")
        layout = discover(shared, args.src_lang, args.tgt_lang, args.test)
        return build(work, shared, mode, options.models_dir(args), layout)

    run_pipeline("multi30k_evidence", make, args.dry_run, work / "report" / "report.html",
                 jobs=args.jobs)


if __name__ == "__main__":
    main()
