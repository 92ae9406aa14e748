"""Mixed ensembles on Multi30k en->fr (or another Moses system's data folder, --data): LSTM
and Transformer members together, the members and the length penalty of beam search chosen on
val, their own n-best lists reranked (Table 1), Moses' lists reranked and Moses' lists
combined with the ensemble's own (Table 2); every weight, scale and setting chosen on val, the
test set only scored.

Members: model folders MODELS/NAME made by rescore-train, of any architecture (each scored as
the mean of its last 4 kept checkpoints when it kept them); --r2l and --channel name the
right-to-left models and the channel models (target -> source) among them. Without --models the
family is trained first (four cpu-strong LSTMs and five cpu-transformer models, two of them
right-to-left and one a channel model). Stages, each a rescore command run once (an output
that exists is kept: delete it to redo it), --jobs at a time, each started as soon as what it
reads exists (a set's search once its members are trained and averaged, Moses' lists scored
once every model is, beam 50's searches once its penalty is chosen), so the core that the last
training or the longest search leaves free takes the next work:

1. the members: each candidate set of --member-sets searched at beam 12 on val with length
   penalty --select-alpha, the best val BLEU chosen; then the length terms, beam 12 on val:
   a length penalty (GNMT's alpha) over --alphas, a word reward over --rewards, or a penalty
   and a reward together (the same searches: rescore-translate --length-penalty-grid and
   --word-reward-grid rank one exhaustive search's hypotheses for every pair, as a search
   with each would);
   beam 50's own terms over --alphas-b50 and --rewards, chosen on val at beam 50 (one more
   such search); then beam 12 and beam 50, each with its terms, on val and the test set;
   and the --r2l models' own beam-50 lists (one right-to-left ensemble, beam 12's terms, its
   hypotheses written in reading order);
2. every list scored with the same evidence: Moses' val and test 1000-best lists and the
   two ensembles' own beam-50 lists, by every member (their mean as NMTEnsemble0, also per
   word), the right-to-left and channel models, the folder's 5-gram LM of the training target
   text and the word count;
3. Table 1 (no Moses output): the ensemble's own 50-best lists reranked, MERT on val
   (5-fold cross-validated), first with the direct members and the length terms, then with
   the channel, right-to-left and LM evidence, then each member its own weight (MERT, and
   batch MIRA); then the union of both ensembles' 50-best lists (rescore-combine; Origin0 says
   which search found a hypothesis) on every feature (MERT, and batch MIRA);
4. Table 2: Moses' lists reranked (Moses' total as one feature, MERT; every feature, batch
   MIRA), and the union of Moses' lists and the ensemble's own lists (rescore-combine of the
   scored lists: the same features, Origin0 and Moses' features filled for the ensemble's
   hypotheses) tuned on every feature by MERT and by batch MIRA; the union of all three
   lists likewise;
5. rescore-report: BLEU, chrF, paired bootstrap against Moses and the row above.

    .venv/bin/python pipelines/multi30k_mixed.py --models work/mixed --members rev,rev2,b,a \\
        --member-sets "rev,rev2;b,a;rev,rev2,b,a" --r2l r2l,r2l-tf --channel channel --jobs 2
    .venv/bin/python pipelines/multi30k_mixed.py --jobs 2 --precision bf16   # training too
    .venv/bin/python pipelines/multi30k_mixed.py --quick      # tiny models on a slice, minutes
    .venv/bin/python pipelines/multi30k_mixed.py --data DIR --src-lang en --tgt-lang de --quick

The report lands in WORKDIR/report/report.md (default WORKDIR: work/multi30k-mixed), the
choices and each stage's seconds in WORKDIR/summary.json (each stage's seconds also in
WORKDIR/stages.jsonl as it finishes, so a run stopped and started again keeps them).
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import Future
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.engine import options  # noqa: E402
from pipelines.engine.layout import Layout, discover  # noqa: E402
from pipelines.engine.paths import multi30k_dir  # noqa: E402
from pipelines.engine.runner import PY, Call, Runner, wait_all  # noqa: E402
from rescore.cli.common import positive_int  # noqa: E402
from rescore.errors import RescoreError  # noqa: E402
from rescore.files import read_lines  # noqa: E402
from rescore.metrics import make_bleu  # noqa: E402
from rescore.model_dir import CHECKPOINT, MODEL, finished, kept_checkpoints  # noqa: E402
from rescore.scoring import PRECISIONS  # noqa: E402
from rescore.translate import grid_output  # noqa: E402
from rescore.weights import UNPRINTED_FEATURES, load_weights  # noqa: E402

ENSEMBLE = "NMTEnsemble0"
PER_WORD = "PerWord" + ENSEMBLE
R2L, CHANNEL, KENLM, WORDS, ORIGIN = "R2L", "Channel", "KenLM0", "WordCount0", "Origin0"
# --quick: tiny models of both architectures, trained here on a slice; each recipe is
# (direction, options), BACKWARD for a channel model (target -> source)
QUICK_PAIRS, QUICK_SENTENCES = 3000, 24
TINY = ["--preset", "cpu-tiny", "--epochs", "1", "--attention", "dot", "--seed", "1"]
FORWARD, BACKWARD = "src->tgt", "tgt->src"
QUICK_MODELS = {"lstm": (FORWARD, TINY),
                "tf": (FORWARD, [*TINY, "--arch", "transformer", "--heads", "2",
                                 "--ff-dim", "32", "--optimizer", "adam", "--lr", "0.002"]),
                "r2l": (FORWARD, [*TINY, "--target-right-to-left", "--no-reverse-source"]),
                "channel": (BACKWARD, TINY),
                # last: it still trains when the sets are chosen (the searches that need it
                # wait for it)
                "r2l-tf": (FORWARD, [*TINY, "--arch", "transformer", "--heads", "2",
                                     "--ff-dim", "32", "--optimizer", "adam", "--lr",
                                     "0.002", "--target-right-to-left"])}
# without --models: the family of docs/results.md, each keeping its last 4 checkpoints: the
# cpu-strong LSTMs of pipelines/multi30k_evidence.py --family strong and the two screened
# cpu-transformer candidates
STRONG = ["--preset", "cpu-strong", "--keep-checkpoints", "4"]
TRANSFORMER = ["--preset", "cpu-transformer", "--keep-checkpoints", "4", "--seed", "1"]
FULL_MODELS = {
    "rev": (FORWARD, [*STRONG, "--seed", "1", "--bidirectional"]),
    "rev2": (FORWARD, [*STRONG, "--seed", "2", "--label-smoothing", "0.1"]),
    "r2l": (FORWARD, [*STRONG, "--seed", "5", "--target-right-to-left",
                      "--no-reverse-source", "--bidirectional"]),
    "channel": (BACKWARD, [*STRONG, "--seed", "3"]),
    "b": (FORWARD, TRANSFORMER),
    "a": (FORWARD, [*TRANSFORMER, "--ff-dim", "1024", "--dropout", "0.3"]),
    "r2l-tf": (FORWARD, [*TRANSFORMER[:-2], "--seed", "5", "--target-right-to-left"]),
    # the Transformer's channel and a second right-to-left Transformer: the evidence whose
    # weights grew most with the architecture (R2L1 over R2L0); a fifth forward member (seed
    # 3) lost on val in the eleventh session's run (59.76 against 59.81 without it)
    "channel-tf": (BACKWARD, TRANSFORMER),
    "r2l-tf2": (FORWARD, [*TRANSFORMER[:-2], "--seed", "6", "--target-right-to-left"])}
FULL_DEFAULTS = ("rev,rev2,b,a", "rev,rev2;b,a;rev,rev2,b,a", "r2l,r2l-tf,r2l-tf2",
                 "channel,channel-tf")


Ranking = tuple[str, str]  # how a search ranks finished hypotheses: (length penalty, reward)


def length_terms(alphas: list[str], rewards: list[str]) -> list[Ranking]:
    """The rankings a search's length terms are chosen among, ties going to the earlier:
    each length penalty (GNMT's alpha) alone, each word reward alone, then each penalty with
    each reward (the reward is added after the penalty's division,
    rescore.beam.SearchConfig.rank)."""
    alone = [*((a, "0") for a in alphas), *(("0", r) for r in rewards if float(r) != 0)]
    both = [(a, r) for a in alphas for r in rewards if float(a) != 0 and float(r) != 0]
    return [*alone, *both]


def term_label(ranking: Ranking) -> str:
    """"lp3.5" (a penalty), "wr0.75" (a reward), "lp1-wr1.5" (both) or "lp0" (neither):
    summary keys, names."""
    alpha, reward = ranking
    if reward == "0":
        return f"lp{alpha}"
    return f"wr{reward}" if alpha == "0" else f"lp{alpha}-wr{reward}"


def describe_terms(ranking: Ranking) -> str:
    """A row's words for its length terms."""
    alpha, reward = ranking
    if reward == "0":
        return f"length penalty {alpha}"
    return f"word reward {reward}" if alpha == "0" else \
        f"length penalty {alpha} and word reward {reward}"


def bleu(hyp: Path, ref: Path) -> float:
    """Corpus BLEU as every rescore command computes it (rescore.metrics)."""
    if not hyp.exists():  # a dry run
        return float("nan")
    return round(make_bleu().corpus_score(read_lines(hyp), [read_lines(ref)]).score, 2)


def arch_of(model: Path) -> str:
    """"LSTM" or "Transformer", from the model's config.json (LSTM when unreadable: a dry run
    before training)."""
    try:
        config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "LSTM"
    return "Transformer" if config.get("model", {}).get("arch") == "transformer" else "LSTM"


def describe(models: list[Path]) -> str:
    """"2 LSTMs and 2 Transformers" for the ensemble's label."""
    counts: dict[str, int] = {}
    for m in models:
        counts[arch_of(m)] = counts.get(arch_of(m), 0) + 1
    return " and ".join(f"{n} {a}{'s' if n > 1 else ''}" for a, n in counts.items())


def train_models(run: Runner, data: Path, layout: Layout, work: Path,
                 recipes: dict[str, tuple[str, list[str]]],
                 extra: list[str]) -> tuple[Path, dict[str, Future[None]]]:
    """The members queued for training into WORKDIR/models (a folder with final weights is
    kept; one with only a checkpoint, a run that was stopped, is continued with
    ``--resume``); a channel recipe swaps the folder's languages. Returns the folder and each
    training's future."""
    models = work / "models"

    def sides(direction: str) -> tuple[str, str]:
        return (layout.src, layout.tgt) if direction == FORWARD else (layout.tgt, layout.src)

    def train(name: str, direction: str, opts: list[str]) -> list[str | Path]:
        out = models / name
        if (out / CHECKPOINT).exists() and not finished(out):
            return ["--resume", "--no-progress", "--output", out]
        src, tgt = sides(direction)
        return [*opts, *extra, "--src-train", data / f"train.{src}.gz", "--tgt-train",
                data / f"train.{tgt}.gz", "--src-valid", data / f"val.{src}", "--tgt-valid",
                data / f"val.{tgt}", "--src-lang", src, "--tgt-lang", tgt, "--no-progress",
                "--output", out]

    return models, {name: run.submit((f"train-{name}", "train", train(name, direction, opts),
                                      [models / name / MODEL]))
                    for name, (direction, opts) in recipes.items()}


def main() -> None:
    parser = options.parser(__doc__)
    parser.add_argument("--quick", action="store_true",
                        help=f"tiny LSTM and Transformer members (cpu-tiny, 1 epoch) trained "
                        f"here on {QUICK_PAIRS} pairs, {QUICK_SENTENCES} val/test sentences: "
                        "the machinery in minutes")
    parser.add_argument("--models", type=Path,
                        help="folder of trained models (default: train them into "
                        "WORKDIR/models: the cpu-strong LSTMs rev, rev2, r2l, channel, the "
                        "cpu-transformer candidates b, a of docs/results.md, two right-to-left "
                        "cpu-transformers r2l-tf, r2l-tf2 and a channel cpu-transformer "
                        "channel-tf, --jobs side by side)")
    parser.add_argument("--precision", choices=PRECISIONS,
                        help="the members' training precision (rescore-train --precision; "
                        "bf16 on CPUs with native bf16 trains about 1.4x faster)")
    parser.add_argument("--members", help="comma-separated direct members (folders of "
                        "MODELS), any architecture; scored as features NMT0, NMT1, ...")
    parser.add_argument("--member-sets",
                        help="semicolon-separated candidate ensembles for beam search, each a "
                        "comma-separated subset of --members, chosen by val BLEU at beam 12 "
                        "(default: --members)")
    parser.add_argument("--select-alpha", default="1",
                        help="the length penalty the candidate sets are compared at")
    parser.add_argument("--r2l", help="comma-separated right-to-left models (folders in "
                        "MODELS), any architecture; scored as features R2L0, R2L1, ...")
    parser.add_argument("--channel", help="comma-separated channel models (folders in MODELS, "
                        "target -> source); scored as features Channel0, Channel1, ...")
    parser.add_argument("--alphas", help="length penalties tried on val (GNMT's alpha; "
                        "default 0 to 4 in steps of 0.5, --quick 0,1,2); --select-alpha's "
                        "search is the candidate sets' own")
    parser.add_argument("--alphas-b50", help="length penalties tried on val at beam 50 (one "
                        "exhaustive search; default 0 to 6 in steps of 0.5, --quick 0,1,2)")
    parser.add_argument("--rewards", help="word rewards tried on val, alone and with each "
                        "length penalty, at beam 12 and at beam 50 (the same searches: "
                        "rescore-translate --word-reward-grid; default 0.02 to 0.1 in steps "
                        "of 0.02, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1; --quick 0.5,1); "
                        "each beam's choice is a penalty, a reward or both")
    parser.add_argument("--tune-replicas", type=positive_int, default=1, metavar="N",
                        help="each MERT and MIRA tuning done N times with seeds 1..N, the "
                        "replica with the best cross-validated dev BLEU kept (rescore-tune "
                        "--replicas; default 1: tuning's time x N)")
    parser.add_argument("--sentences", type=int,
                        help="only the first N val/test sentences (a smoke test)")
    options.add_common(parser, "work/multi30k-mixed (or work/multi30k-mixed-quick)")
    options.add_data(parser)
    args = parser.parse_args()
    shared = args.data or multi30k_dir()
    try:
        layout = discover(shared, args.src_lang, args.tgt_lang, args.test)
    except RescoreError as err:
        sys.exit(f"multi30k_mixed: {err}")
    src, tgt, test = layout.src, layout.tgt, layout.test
    work = options.workdir(args, "multi30k-mixed" + ("-quick" if args.quick else ""))
    run = Runner("multi30k_mixed", args.threads, args.jobs, args.dry_run,
                 times=None if args.dry_run else work / "stages.jsonl")
    folds = "3" if args.quick else "5"
    restarts = "2" if args.quick else "10"
    data = shared
    sentences = QUICK_SENTENCES if args.quick and not args.sentences else args.sentences
    if sentences or args.quick:
        data = work / "data"
        if not (data / f"{test}.{tgt}").exists():
            subprocess.run([PY, str(ROOT / "data/multi30k/slice.py"), "--from", str(shared),
                            "--output", str(data), "--train-pairs",
                            str(QUICK_PAIRS if args.quick else 10), "--src-lang", src,
                            "--tgt-lang", tgt, "--test", test,
                            *(["--sentences", str(sentences)] if sentences else [])],
                           check=True, capture_output=True)
    trained: dict[str, Future[None]] = {}  # the trainings queued here
    if args.models:
        if not args.members:
            parser.error("--models: give --members")
        models_dir, names = args.models, [n for n in args.members.split(",") if n]
        r2l_name, channel_name = args.r2l, args.channel
        sets_text = args.member_sets or ",".join(names)
    else:  # train the members here
        recipes = QUICK_MODELS if args.quick else FULL_MODELS
        defaults = ("lstm,tf", "lstm;tf;lstm,tf", "r2l,r2l-tf", "channel") if args.quick \
            else FULL_DEFAULTS
        precision = ["--precision", args.precision] if args.precision else []
        names = (args.members or defaults[0]).split(",")
        sets_text = args.member_sets or (defaults[1] if not args.members else args.members)
        r2l_name, channel_name = args.r2l or defaults[2], args.channel or defaults[3]
    sets = [[n for n in s.split(",") if n] for s in sets_text.split(";") if s]
    for chosen in sets:
        if not set(chosen) <= set(names):
            parser.error(f"--member-sets: {','.join(chosen)} is not a subset of --members")
    if not args.models:
        models_dir, trained = train_models(run, data, layout, work, recipes, precision)

    # the models: each the mean of its last 4 kept checkpoints, once it is trained
    resolved: dict[str, Path] = {}
    r2ls = [n for n in (r2l_name or "").split(",") if n]
    channels = [n for n in (channel_name or "").split(",") if n]

    def average(name: str) -> None:
        source = models_dir / name
        out = work / "averaged" / name
        kept = min(4, len(kept_checkpoints(source))) if source.exists() else 0
        if kept > 1:
            run(f"average-{name}", "model", ["average", source, "--last", str(kept),
                                             "--output", out], [out / "model.safetensors"])
        resolved[name] = out if kept > 1 else source

    averaged = {name: run.after([trained[name]] if name in trained else [],
                                partial(average, name))
                for name in dict.fromkeys([*names, *r2ls, *channels])}

    def model_args(members: list[str]) -> list[str | Path]:
        return [a for m in members for a in ("--model", resolved[m])]

    translate = work / "translate"

    def grid_template(name: str) -> Path:
        """A search's --output-grid."""
        return translate / f"{name}.lp{{alpha}}.wr{{reward}}.txt"

    def graded(name: str, ranking: Ranking) -> Path:
        """A search's output for one (penalty, reward) of its grids."""
        return Path(grid_output(grid_template(name), float(ranking[0]), float(ranking[1])))

    def search(name: str, members: list[str], split: str, beam: int, ranking: Ranking,
               nbest: bool = False, grid: list[Ranking] | None = None,
               ) -> tuple[str, str, list[str | Path], list[Path]]:
        """A search ranking its finished hypotheses by ``ranking`` (penalty, reward); with
        ``grid``, one exhaustive search also writing each of those rankings' 1-best
        (rescore-translate --length-penalty-grid and --word-reward-grid: their pairs)."""
        out = translate / f"{name}.txt"
        extra: list[str | Path] = (["--output-nbest", translate / f"{name}.nbest.gz"]
                                   if nbest else [])
        if grid:
            extra += ["--length-penalty-grid", ",".join(dict.fromkeys(a for a, _ in grid)),
                      "--word-reward-grid", ",".join(dict.fromkeys(r for _, r in grid)),
                      "--output-grid", grid_template(name)]
        reward = ["--word-reward", ranking[1]] if ranking[1] != "0" else []
        return (name, "translate", [*model_args(members), "--input", data / f"{split}.{src}",
                                    "--beam", str(beam), "--length-penalty", ranking[0],
                                    *reward, *layout.langs, "--output", out, *extra],
                [out, *(graded(name, g) for g in grid or [])])

    # 2's evidence, defined first: Moses' lists are queued for scoring as soon as every model
    # is averaged, beside the searches of step 1
    lm = layout.lm(shared)
    feats = [f"NMT{i}" for i in range(len(names))]
    scored = work / "scored"

    def score(kind: str, split: str, nbest: Path) -> Call:
        """Scoring a list with every model (read once all are averaged), the LM and the
        word count."""
        evidence: list[str | Path] = [
            *(a for f, n in zip(feats, names, strict=True)
              for a in ("--model", f"{f}={resolved[n]}")),
            "--ensemble", ",".join(feats), "--ensemble-name", ENSEMBLE, "--per-word", ENSEMBLE,
            "--lm", lm, "--word-count", *layout.langs]
        for i, name in enumerate(r2ls):
            evidence += ["--model", f"{R2L}{i}={resolved[name]}"]
        for i, name in enumerate(channels):
            evidence += ["--channel-model", f"{CHANNEL}{i}={resolved[name]}"]
        return (f"score-{kind}-{split}", "nbest",
                ["--nbest", nbest, "--source", data / f"{split}.{src}", *evidence,
                 "--output-nbest", scored / f"{split}.{kind}.nbest.gz"],
                [scored / f"{split}.{kind}.nbest.gz"])

    def scoring(kind: str, split: str, nbest: Path) -> None:
        run(*score(kind, split, nbest))

    moses_scored = [run.after(list(averaged.values()), partial(
        scoring, "moses", split, data / "nbest" / f"{split}.1000best.gz"))
        for split in ("val", test)]

    def searching(name: str, members: list[str], split: str, beam: int, ranking: Ranking,
                  nbest: bool = False) -> None:
        """A search whose arguments are made when it runs (its members averaged by then)."""
        run(*search(name, members, split, beam, ranking, nbest=nbest))

    # 1. the members (compared at --select-alpha), then the length terms, chosen on val at
    # beam 12: one search per candidate set gives every penalty's and reward's output
    grid = "0,1,2" if args.quick else "0,0.5,1,1.5,2,2.5,3,3.5,4"
    alphas = [a for a in (args.alphas or grid).split(",") if a]
    # small rewards go with a penalty (a penalised score per word is small), larger ones alone
    reward_grid = "0.5,1" if args.quick else \
        "0.02,0.04,0.06,0.08,0.1,0.15,0.2,0.25,0.3,0.4,0.5,0.75,1"
    rewards = [r for r in (args.rewards or reward_grid).split(",") if r]
    set_names = ["+".join(s) for s in sets]
    # each set's search queued once its members are averaged (while the last ones train)
    def search_set(key: str, members: list[str]) -> None:
        run(*search(f"val-b12-set-{key}", members, "val", 12, (args.select_alpha, "0"),
                    grid=length_terms(alphas, rewards)))

    wait_all([run.after([averaged[m] for m in s], partial(search_set, key, s))
              for key, s in zip(set_names, sets, strict=True)])
    set_bleu = {key: bleu(translate / f"val-b12-set-{key}.txt", data / f"val.{tgt}")
                for key in set_names}
    best_set = max(range(len(sets)), key=lambda i: (set_bleu[set_names[i]], -i))
    chosen = sets[best_set]

    def choose(search_name: str, alphas: list[str]) -> tuple[dict[str, float], Ranking]:
        """Val BLEU of each ranking (a penalty, a reward, or both) of an exhaustive
        search's grid, and the best (ties: the earlier in length_terms' order)."""
        terms = length_terms(alphas, rewards)
        graded_bleu = {term_label(t): bleu(graded(search_name, t), data / f"val.{tgt}")
                       for t in terms}
        best = max(range(len(terms)), key=lambda i: (graded_bleu[term_label(terms[i])], -i))
        return graded_bleu, terms[best]

    val_bleu, ranking = choose(f"val-b12-set-{set_names[best_set]}", alphas)
    if args.dry_run:
        ranking = ("ALPHA", "REWARD")  # chosen on val when the run gets there
    # beam 50's own length terms: a wider beam finds more short hypotheses, so they are
    # chosen again, on val at beam 50 (one exhaustive search for the whole grid)
    grid50 = "0,1,2" if args.quick else ",".join(f"{a / 2:g}" for a in range(13))
    alphas50 = [a for a in (args.alphas_b50 or grid50).split(",") if a]
    grid50_done = run.submit(search("val-b50-grid", chosen, "val", 50, ranking,
                                    grid=length_terms(alphas50, rewards)))
    searched = [run.submit(call) for call in [
        search(f"{test}-b12", chosen, test, 12, ranking, grid=[("0", "0")]),  # and plain
        search(f"{test}-one-b12", chosen[:1], test, 12, ("0", "0"))]]
    # the right-to-left members' own beam-50 lists (written left to right), once they are
    # averaged (the last of them may still train)
    searched += [run.after([averaged[m] for m in r2ls],
                           partial(searching, f"{split}-r2l-b50", r2ls, split, 50, ranking,
                                   nbest=True))
                 for split in ("val", test) if r2ls]
    grid50_done.result()  # beam 50's terms are chosen while the others search
    val_bleu50, ranking50 = choose("val-b50-grid", alphas50)
    if args.dry_run:
        ranking50 = ("ALPHA50", "REWARD50")
    b50 = f"b50-{term_label(ranking50)}"  # the beam-50 searches, named by their length terms
    searched += [run.submit(search(f"{split}-{b50}", chosen, split, 50, ranking50, nbest=True))
                 for split in ("val", test)]
    wait_all(searched)

    # 2. every list scored with the same evidence (Moses' lists queued above)
    lists = {("own", split): translate / f"{split}-{b50}.nbest.gz" for split in ("val", test)}
    lists |= {("r2l", split): translate / f"{split}-r2l-b50.nbest.gz"
              for split in ("val", test) if r2ls}
    wait_all([*(run.after(list(averaged.values()), partial(scoring, kind, split, nbest))
                for (kind, split), nbest in lists.items()), *moses_scored])
    # the unions of the scored lists (Moses' first): Moses' and the ensemble's; with the
    # right-to-left members' lists, the two own lists, and all three
    unions = {"union": ["moses", "own"], **({"bidir": ["own", "r2l"],
                                              "union3": ["moses", "own", "r2l"]} if r2ls else {})}
    for split in ("val", test):
        for key, kinds in unions.items():
            union = scored / f"{split}.{key}.nbest.gz"
            run(f"combine-{key}-{split}", "combine",
                [*(a for k in kinds for a in ("--nbest", scored / f"{split}.{k}.nbest.gz")),
                 "--source", data / f"{split}.{src}", "--output", union], [union])

    # 3 and 4: the tunings, each a row
    extra = [*(f"{R2L}{i}" for i in range(len(r2ls))),
             *(f"{CHANNEL}{i}" for i in range(len(channels)))]
    nmt = [ENSEMBLE, PER_WORD, WORDS]
    tune_dir = work / "tune"
    inits = {"own": {ENSEMBLE: [1.0]}}  # the own lists: from the beam's own ranking
    moses = load_weights(data / "moses.ini.tuned").values
    moses_features = ",".join(k for k in moses if k not in UNPRINTED_FEATURES)
    inits["union"] = {k: list(v) for k, v in moses.items() if k not in UNPRINTED_FEATURES}
    inits["union"] |= {f: [0.0] for f in [*feats, *nmt, *extra, KENLM]} | {ORIGIN: [0.0, 0.0]}
    inits["bidir"] = {ENSEMBLE: [1.0], ORIGIN: [0.0, 0.0]}
    inits["union3"] = inits["union"] | {ORIGIN: [0.0, 0.0, 0.0]}
    replicas = ["--replicas", str(args.tune_replicas)] if args.tune_replicas > 1 else []
    mert = ["--method", "mert", "--restarts", restarts, "--folds", folds, *replicas]
    mira = ["--method", "mira", "--iterations", "5" if args.quick else "15", "--folds", folds,
            *replicas]
    everything = [moses_features, *feats, *nmt, *extra, KENLM, ORIGIN]
    label = f"ensemble of {describe([resolved[n] for n in names])}"
    tunings: list[tuple[str, str, list[str], str, str]] = [  # key, list, options, init, row
        ("own-direct", "own", [*mert, "--tune-features", ",".join(nmt)], "own",
         f"beam 50 + its own 50-best reranked: {label} (mean and per word), length; MERT"),
        ("own-all", "own", [*mert, "--tune-features", ",".join([*nmt, *extra, KENLM])], "own",
         "+ " + ", ".join([*(["right-to-left"] if r2ls else []), *(["channel"] if channels
                                                                    else []),
                           "5-gram LM of the training target text"])),
        ("own-members", "own",
         [*mert, "--tune-features", ",".join([*feats, *nmt, *extra, KENLM])], "own",
         "+ each member its own weight (its own 50-best)"),
        ("own-mira", "own", [*mira, "--tune-features", ",".join([*feats, *nmt, *extra, KENLM])],
         "own", "the same features, batch MIRA on val (its own 50-best)"),
        ("moses", "moses", [*mert, "--baseline-as-one-feature", "--tune-features",
                            ",".join([ENSEMBLE, PER_WORD, *extra, KENLM])], "moses",
         f"Moses' 1000-best reranked: {label}, the same evidence, Moses' total as one "
         "feature, MERT on val"),
        ("moses-members", "moses", [*mert, "--baseline-as-one-feature", "--tune-features",
                                    ",".join([*feats, ENSEMBLE, PER_WORD, *extra, KENLM])],
         "moses", "+ each member its own weight (Moses' 1000-best)"),
        ("moses-mira", "moses", [*mira, "--tune-features", ",".join(
            [moses_features, *feats, ENSEMBLE, PER_WORD, *extra, KENLM])], "moses",
         "+ Moses' features each its own weight, batch MIRA on val"),
        ("union", "union", [*mert, "--tune-features", ",".join(everything)], "union",
         "Moses' 1000-best + the ensemble's 50-best combined: every feature, Origin0 "
         "included, MERT on val"),
        ("union-mira", "union", [*mira, "--tune-features", ",".join(everything)], "union",
         "the same, batch MIRA on val")]
    if r2ls:
        own_everything = ",".join([*feats, *nmt, *extra, KENLM, ORIGIN])
        tunings[4:4] = [
            ("bidir", "bidir", [*mert, "--tune-features", own_everything], "bidir",
             "the ensemble's 50-best + the right-to-left members' 50-best combined: every "
             "feature but Moses', Origin0, MERT on val"),
            ("bidir-mira", "bidir", [*mira, "--tune-features", own_everything], "bidir",
             "both 50-best lists combined, batch MIRA on val")]
        tunings += [
            ("union3", "union3", [*mert, "--tune-features", ",".join(everything)], "union3",
             "Moses' 1000-best + both 50-best lists combined: every feature, Origin0, MERT "
             "on val"),
            ("union3-mira", "union3", [*mira, "--tune-features", ",".join(everything)],
             "union3", "the three lists combined, batch MIRA on val")]
    if not args.dry_run:
        tune_dir.mkdir(parents=True, exist_ok=True)
        for key in inits:
            (tune_dir / f"init-{key}.json").write_text(json.dumps(inits[key]) + "\n")
    calls: list[tuple[str, str, list[str | Path], list[Path]]] = []
    for key, kind, tune_args, init, _ in tunings:
        init_file = (data / "moses.ini.tuned" if init == "moses"
                     else tune_dir / f"init-{init}.json")
        calls.append((f"tune-{key}", "tune",
                       ["--nbest", scored / f"val.{kind}.nbest.gz", "--ref", data / f"val.{tgt}",
                        *tune_args, "--init-weights", init_file, "--output",
                        tune_dir / f"{key}.json", "--output-ini", tune_dir / f"{key}.ini",
                        "--cache", tune_dir / f"{key}.features.parquet"],
                       [tune_dir / f"{key}.json"]))
    run.parallel(calls)
    table1 = [
        {"name": f"one {arch_of(resolved[chosen[0]])} ({chosen[0]}), beam 12",
         "file": str(translate / f"{test}-one-b12.txt")},
        {"name": f"the members chosen on val ({describe([resolved[n] for n in chosen])}: "
                 f"{', '.join(chosen)}), beam 12",
         "file": str(graded(f"{test}-b12", ("0", "0")))},
        {"name": f"the same, {describe_terms(ranking)} (chosen on val)",
         "file": str(translate / f"{test}-b12.txt")},
        {"name": f"the same, beam 50, {describe_terms(ranking50)} (chosen on val at beam 50)",
         "file": str(translate / f"{test}-{b50}.txt")},
        *([{"name": f"the right-to-left members ({describe([resolved[n] for n in r2ls])}: "
                    f"{', '.join(r2ls)}), beam 50, {describe_terms(ranking)}",
            "file": str(translate / f"{test}-r2l-b50.txt")}] if r2ls else [])]
    table2: list[dict[str, str]] = []
    for key, kind, _, _, row in tunings:
        weights = tune_dir / f"{key}.json"
        out = work / "rerank" / f"{key}.1best"
        run(f"rerank-{key}", "nbest", ["--nbest", scored / f"{test}.{kind}.nbest.gz",
                                       "--weights", weights, "--output-1best", out], [out])
        (table1 if kind in ("own", "bidir") else table2).append(
            {"name": row, "file": str(out), "weights": str(weights)})

    spec = {"ref": str(data / f"{test}.{tgt}"), "versus_above": True,
            "baseline": {"name": "Moses baseline", "file": str(data / f"baseline/{test}.1best")},
            "tables": [{"title": "Table 1: standalone, mixed members", "systems": table1},
                       {"title": "Table 2: with Moses, mixed members", "systems": table2}],
            "models": [{"name": n, "dir": str(resolved[n])} for n in averaged]}  # declared order
    if args.dry_run:
        return
    spec_path = work / "report" / "spec.json"
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    report = work / "report" / "report"
    spec_text = json.dumps(spec, indent=2) + "\n"
    if not spec_path.exists() or spec_path.read_text() != spec_text:
        Path(f"{report}.md").unlink(missing_ok=True)  # rows changed: the report is redone
    spec_path.write_text(spec_text)
    run("report", "report", ["--spec", spec_path, "--output-prefix", report],
        [Path(f"{report}.md")])
    val_b = {12: val_bleu.get(term_label(ranking)), 50: val_bleu50.get(term_label(ranking50))}
    seconds = {}  # an earlier summary's (a run from before stages.jsonl): kept
    if (work / "summary.json").exists():
        seconds = json.loads((work / "summary.json").read_text()).get("seconds", {})
    summary = {"member_sets_val_bleu": set_bleu, "members": chosen,
               "length_val_bleu": val_bleu, "length": term_label(ranking),
               "length_b50_val_bleu": val_bleu50, "length_b50": term_label(ranking50),
               "val_bleu_by_beam": val_b,
               "seconds": seconds | run.recorded_seconds()}  # with the stopped runs' before it
    (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    print((Path(f"{report}.md")).read_text())


if __name__ == "__main__":
    main()
