"""Side by side with a peer: the same attentive LSTM in rescore and in OpenNMT-py 3.5.1, trained,
scoring Moses n-best entries and translating, on this machine, one thread each, one toolkit
after the other (never side by side).

The model, as far as the peer allows: 2 x 256 LSTM, 256-d embeddings, global dot attention
without input feeding, dropout 0.2, the same 8k word vocabularies (rescore's, exported to the
peer as vocabulary files), batches of 64 sentences, plain SGD at 0.7 (no decay within the
run), gradients clipped at 5, uniform init in [-0.08, 0.08]. rescore reverses the source
itself; the peer is given source text reversed word by word, so both read the same order.
With ``--arch transformer``, cpu-transformer's model in both: a pre-norm Transformer of 3
encoder and 3 decoder layers of 256, 4 heads, feed-forward 512, dropout 0.2 and attention
dropout 0.1, sinusoidal positions, the output layer tied to the target embeddings, the same
vocabularies and batches, Adam at a constant 0.0005 with label smoothing 0.1, gradients
clipped at 5, sources as they are (writes peers-onmt-transformer.json).

Figures, each rescore / peer (a ratio above 1 means rescore is ahead, memory: below 1):
1. training: wall clock of the whole command for the same number of updates (start-up, data
   reading and vocabularies included), target words/s over it, and validation perplexity per
   token (</s> included, the same vocabulary) after those updates, each measured afterwards by
   its own toolkit's gold scoring of val (not timed); on a CPU with native bf16 (AVX-512 BF16
   or AMX) rescore trains a second time under bf16 autocast (`--precision bf16`; the peer has
   no bf16 training on the CPU), reported on its own row against the peer's fp32 run; and
   the rate of the update loop alone, start-up left out, from each toolkit's own log;
2. scoring the first --nbest-sentences sentences of the test2016 1000-best list: entries/s of
   the whole command (rescore-nbest's prefix trie; the peer's `onmt_translate -tgt` with beam
   1 and a one-step output, its gold score being the natural-log probability of the whole
   hypothesis with </s>, checked here against a teacher-forced pass of the peer's own model);
3. beam 12 on the test2016 sources: sentences/s, and each output's BLEU, the same search in
   both (hypotheses ranked by log-probability, no length penalty: rescore's default, the
   peer's `-length_penalty none`; the peer's own default, `avg`, on a row of its own); with a
   CPU with native bf16, rescore a second time with `rescore-translate --precision bf16`;
4. peak resident memory of every command (/usr/bin/time).

    bash benchmarks/peers/setup.sh                               # the peer's venv, once
    .venv/bin/python benchmarks/peers/bench_onmt.py --tiny       # a few updates: a minute
    .venv/bin/python benchmarks/peers/bench_onmt.py              # the figures: about 75 min
    .venv/bin/python benchmarks/peers/bench_onmt.py --arch transformer   # the Transformer

Writes benchmarks/results/peers-onmt.json and prints a Markdown table. Needs a quiet machine:
other jobs beside it change both toolkits' times, not always alike.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from pipelines.engine.paths import multi30k_dir  # noqa: E402
from rescore.scoring import cpu_has_bf16  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
BIN = Path(sys.executable).parent
SPECIALS = ("<pad>", "<unk>", "<s>", "</s>")
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# the peer's checkpoints hold pickled options: torch >= 2.6 refuses them by default
PEER_ENV = {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}


@dataclass
class Run:
    seconds: float
    peak_mib: float
    log: Path


def timed(cmd: list[str | Path], log: Path, env: dict[str, str] | None = None) -> Run:
    """Run ``cmd`` under /usr/bin/time (peak RSS), output to ``log``; stop on failure."""
    mem = log.with_suffix(".maxrss")
    argv = ["/usr/bin/time", "-f", "%M", "-o", str(mem), *map(str, cmd)]
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out:
        code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False,
                              env={**os.environ, **THREADS, **(env or {})}).returncode
    seconds = time.perf_counter() - start
    if code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        sys.exit(f"bench_onmt: failed (exit {code}): {' '.join(map(str, cmd))}\n  "
                 + "\n  ".join(tail))
    return Run(seconds, int(mem.read_text().split()[-1]) / 1024, log)


def lines_of(path: Path, limit: int | None = None) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in itertools.islice(f, limit)]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def reverse(lines: list[str]) -> list[str]:
    return [" ".join(reversed(line.split())) for line in lines]


@dataclass
class Inputs:
    train: tuple[Path, Path]
    valid: tuple[Path, Path]
    test: tuple[Path, Path]
    nbest: Path  # the first sentences of the test2016 1000-best list
    nbest_source: Path  # their sources
    entries: tuple[Path, Path]  # the same entries as one (source, hypothesis) pair a line
    rev: dict[str, Path]  # the peer's sources: train, valid, test, entries (reversed word by
    # word for the LSTM, which rescore reverses itself; as they are for the Transformer)
    words_per_sentence: float  # mean target tokens (</s> included) of a training pair


def prepare(work: Path, data: Path, args: argparse.Namespace) -> Inputs:
    work.mkdir(parents=True, exist_ok=True)
    pairs = args.train_pairs
    train = tuple(write(work / f"train.{lang}", lines_of(data / f"train.{lang}.gz", pairs))
                  for lang in ("en", "fr"))
    valid = tuple(write(work / f"val.{lang}", lines_of(data / f"val.{lang}",
                                                        args.valid_sentences))
                  for lang in ("en", "fr"))
    test = tuple(write(work / f"test.{lang}", lines_of(data / f"test2016.{lang}",
                                                       args.beam_sentences))
                 for lang in ("en", "fr"))
    sources = lines_of(data / "test2016.en")
    kept, src, hyp = [], [], []
    for line in lines_of(data / "nbest" / "test2016.1000best.gz"):
        sid = int(line.split("|||", 1)[0])
        if sid >= args.nbest_sentences:
            break
        kept.append(line)
        src.append(sources[sid])
        hyp.append(line.split("|||")[1].strip())
    nbest = write(work / "test.nbest", kept)
    nbest_source = write(work / "nbest.en", sources[:args.nbest_sentences])
    entries = (write(work / "entries.en", src), write(work / "entries.fr", hyp))
    turn = reverse if args.arch == "lstm" else (lambda lines: lines)
    rev = {name: write(work / f"{name}.rev.en", turn(lines_of(path)))
           for name, path in (("train", train[0]), ("valid", valid[0]), ("test", test[0]),
                              ("entries", entries[0]))}
    target = lines_of(train[1])
    mean = sum(len(t.split()) + 1 for t in target) / len(target)
    return Inputs(train, valid, test, nbest, nbest_source, entries, rev,  # type: ignore[arg-type]
                  mean)


# -- rescore -------------------------------------------------------------------------------

def suffix(precision: str) -> str:
    """What a run in ``precision`` adds to its files' names (nothing for fp32)."""
    return "" if precision == "fp32" else f"-{precision}"


def loop_rate(rates: list[float]) -> float:
    """The update loop's rate from a training log's reports: their median, the first (which
    holds the warm-up) left out when there are others."""
    return statistics.median(rates[1:] or rates) if rates else math.nan


def report_every(updates: int) -> int:
    """Updates between two rate reports in either toolkit's log (50, fewer in a short run)."""
    return max(1, min(50, updates // 5))


# the recipe both toolkits train with, beside the model: for the LSTM plain SGD at 0.7; for
# the Transformer Adam at a constant 0.0005 (no schedule: the peer's and rescore's warm-ups
# differ), label smoothing 0.1; gradients clipped at 5 in both
RECIPES = {
    "lstm": ["--preset", "cpu-attention", "--optimizer", "sgd", "--lr", "0.7", "--dropout",
             "0.2"],
    "transformer": ["--preset", "cpu-transformer", "--optimizer", "adam", "--lr", "0.0005",
                    "--lr-schedule", "plateau", "--warmup-steps", "0", "--label-smoothing",
                    "0.1"]}


def rescore_train(work: Path, inputs: Inputs, updates: int, precision: str = "fp32",
                  arch: str = "lstm") -> Run:
    """``rescore-train`` for ``updates`` updates; ``precision`` bf16: the same under bf16
    autocast (a CPU with native bf16), in its own model directory."""
    out = work / f"rescore-model{suffix(precision)}"
    if out.exists():
        import shutil
        shutil.rmtree(out)
    return timed([BIN / "rescore-train", *RECIPES[arch], "--src-train", inputs.train[0],
                  "--tgt-train", inputs.train[1], "--batch-size", "64", "--max-steps",
                  str(updates), "--log-every", str(report_every(updates)), "--threads", "1",
                  "--precision", precision, "--output", out],
                 work / f"rescore-train{suffix(precision)}.log")


def gold_nbest(work: Path, name: str, src: Path, tgt: Path) -> Path:
    """Each reference as the only hypothesis of its sentence: gold scoring as n-best scoring."""
    refs = lines_of(tgt)
    return write(work / f"{name}.gold.nbest",
                 [f"{i} ||| {r} ||| F0= 0 ||| 0" for i, r in enumerate(refs)])


def rescore_ppl(work: Path, inputs: Inputs, model: str = "rescore-model") -> float:
    """Validation perplexity per token (</s> included): rescore-nbest's LSTM0 of each
    reference (in fp32), summed."""
    nbest = gold_nbest(work, "val", *inputs.valid)
    out = work / f"{model}-val.scored"
    timed([BIN / "rescore-nbest", "--nbest", nbest, "--source", inputs.valid[0], "--model",
           work / model, "--threads", "1", "--output-nbest", out], work / f"{model}-val.log")
    total, tokens = 0.0, 0
    for line in lines_of(out):
        fields = line.split("|||")
        values = fields[2].split()
        total += float(values[values.index("LSTM0=") + 1])
        tokens += len(fields[1].split()) + 1
    return math.exp(-total / tokens)


def rescore_score(work: Path, inputs: Inputs) -> Run:
    return timed([BIN / "rescore-nbest", "--nbest", inputs.nbest, "--source",
                  inputs.nbest_source, "--model",
                  work / "rescore-model", "--threads", "1", "--output-nbest",
                  work / "rescore-scored.nbest"], work / "rescore-score.log")


def rescore_beam(work: Path, inputs: Inputs, beam: int, precision: str = "fp32") -> Run:
    """``rescore-translate``, the fp32-trained model; ``precision`` bf16: its matrix products
    under bf16 autocast."""
    return timed([BIN / "rescore-translate", "--model", work / "rescore-model", "--input",
                  inputs.test[0], "--beam", str(beam), "--threads", "1", "--precision",
                  precision, "--output", work / f"rescore-beam{suffix(precision)}.txt"],
                 work / f"rescore-beam{suffix(precision)}.log")


def rescore_loop_rate(model: Path) -> float:
    """Target words/s of the update loop alone (start-up left out), from the training log."""
    return loop_rate([r["tgt_words_per_s"] for r in map(json.loads, lines_of(model / "log.jsonl"))
                      if r.get("type") == "train"])


# -- the peer ------------------------------------------------------------------------------

def peer_vocab(work: Path, side: str) -> Path:
    """rescore's vocabulary as the peer's vocabulary file (token, count), specials left to
    the peer (it adds <unk>, <blank>, <s>, </s>: the same 8,000 entries)."""
    tokens = (work / "rescore-model" / f"{side}.vocab").read_text(encoding="utf-8").split("\n")
    words = [t for t in tokens if t and t not in SPECIALS]
    return write(work / f"onmt.{side}.vocab", [f"{w}\t{10_000_000 - i}"
                                              for i, w in enumerate(words)])


PEER_MODELS = {
    "lstm": {"encoder_type": "rnn", "decoder_type": "rnn", "rnn_type": "LSTM", "layers": 2,
             "hidden_size": 256, "word_vec_size": 256, "global_attention": "dot",
             "input_feed": 0, "optim": "sgd", "learning_rate": 0.7, "dropout": [0.2],
             "param_init": 0.08},
    # cpu-transformer: 3 x 256, 4 heads, feed-forward 512, dropout 0.2, attention dropout
    # 0.1, sinusoidal positions, output layer tied to the target embeddings
    "transformer": {"encoder_type": "transformer", "decoder_type": "transformer", "layers": 3,
                    "hidden_size": 256, "word_vec_size": 256, "transformer_ff": 512,
                    "heads": 4, "position_encoding": True, "dropout": [0.2],
                    "attention_dropout": [0.1], "share_decoder_embeddings": True,
                    "optim": "adam", "learning_rate": 0.0005, "decay_method": "none",
                    "label_smoothing": 0.1, "param_init": 0.0, "param_init_glorot": True}}


def peer_train(work: Path, inputs: Inputs, updates: int, venv: Path,
               arch: str = "lstm") -> Run:
    config = {
        "src_vocab": str(peer_vocab(work, "src")), "tgt_vocab": str(peer_vocab(work, "tgt")),
        "src_vocab_size": 100000, "tgt_vocab_size": 100000, "src_words_min_frequency": 0,
        "tgt_words_min_frequency": 0, "overwrite": True,
        "data": {"corpus_1": {"path_src": str(inputs.rev["train"]),
                              "path_tgt": str(inputs.train[1])}},
        "save_model": str(work / "onmt-model" / "model"), "save_checkpoint_steps": updates,
        "train_steps": updates, "valid_steps": 10 * updates + 1000,
        "report_every": report_every(updates),
        **PEER_MODELS[arch], "batch_type": "sents", "batch_size": 64, "max_grad_norm": 5,
        "seed": 1, "num_workers": 0, "src_seq_length": 100, "tgt_seq_length": 100}
    path = work / "onmt.yaml"
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")  # JSON is YAML
    (work / "onmt-model").mkdir(exist_ok=True)
    return timed([venv / "bin" / "onmt_train", "-config", path], work / "onmt-train.log",
                 PEER_ENV)


def peer_loop_rate(run: Run) -> float:
    """The peer's target tokens/s of its update loop, from its reports (``src/tgt tok/s``;
    its target tokens are those of the loss, </s> included)."""
    return loop_rate([float(t) for t in re.findall(r"\d+/\s*(\d+) tok/s",
                                                   run.log.read_text())])


def peer_model(work: Path, updates: int) -> Path:
    return work / "onmt-model" / f"model_step_{updates}.pt"


def peer_translate(work: Path, venv: Path, model: Path, src: Path, out: Path, log: str,
                   *extra: str | Path) -> Run:
    return timed([venv / "bin" / "onmt_translate", "-model", model, "-src", src, "-output",
                  out, *extra], work / log, PEER_ENV)


def peer_ppl(work: Path, inputs: Inputs, venv: Path, model: Path) -> float:
    """The peer's gold scoring of val: its report gives the mean log-probability per sentence
    (GOLD SCORE; its GOLD PPL is per sentence, not per token), turned here into the
    perplexity per token, </s> included, as rescore's."""
    run = peer_translate(work, venv, model, inputs.rev["valid"], work / "onmt-val.out",
                         "onmt-val.log", "-tgt", inputs.valid[1], "-beam_size", "1",
                         "-max_length", "1")
    found = re.findall(r"GOLD SCORE: (\S+), GOLD PPL: \S+ NB SENTENCES: (\d+)",
                       run.log.read_text())
    if not found:
        sys.exit(f"bench_onmt: no GOLD SCORE in {run.log}")
    mean, sentences = float(found[-1][0]), int(found[-1][1])
    refs = lines_of(inputs.valid[1])
    if sentences != len(refs):
        sys.exit(f"bench_onmt: the peer scored {sentences} of {len(refs)} val sentences")
    return math.exp(-mean * sentences / sum(len(r.split()) + 1 for r in refs))


def peer_score(work: Path, inputs: Inputs, venv: Path, model: Path, batch: int) -> Run:
    return peer_translate(work, venv, model, inputs.rev["entries"], work / "onmt-score.out",
                          "onmt-score.log", "-tgt", inputs.entries[1], "-beam_size", "1",
                          "-max_length", "1", "-batch_type", "sents", "-batch_size",
                          str(batch))


CHECK = '''
import sys, torch
from onmt.model_builder import load_test_model
from onmt.opts import translate_opts
from onmt.utils.parse import ArgumentParser
model_path, src_path, tgt_path = sys.argv[1:4]
parser = ArgumentParser()
translate_opts(parser)
opt = parser.parse_args(["-model", model_path, "-src", src_path])
vocabs, model, _ = load_test_model(opt)
model.eval()
sv, tv = vocabs["src"], vocabs["tgt"]
for src, tgt in zip(open(src_path), open(tgt_path)):
    s = torch.tensor([sv.lookup_token(w) for w in src.split()]).view(1, -1, 1)
    t = torch.tensor([tv.lookup_token(w) for w in ["<s>", *tgt.split(), "</s>"]]).view(1, -1, 1)
    with torch.no_grad():
        out, _ = model(s, t, torch.tensor([s.size(1)]))
        logp = torch.log_softmax(model.generator(out), dim=-1)[0]
    print(float(logp.gather(1, t[0, 1:]).sum()))
'''


def peer_check(work: Path, inputs: Inputs, venv: Path, model: Path, k: int) -> dict[str, float]:
    """The peer's gold score of the first k entries (its -verbose log) against a teacher-forced
    sum of its own model's natural-log probabilities over hypothesis + </s>."""
    src = write(work / "check.rev.en", lines_of(inputs.rev["entries"], k))
    tgt = write(work / "check.fr", lines_of(inputs.entries[1], k))
    run = peer_translate(work, venv, model, src, work / "check.out", "onmt-check.log", "-tgt",
                         tgt, "-beam_size", "1", "-max_length", "1", "-verbose")
    gold = [float(x) for x in re.findall(r"^GOLD SCORE: (\S+)$", run.log.read_text(),
                                                   re.MULTILINE)]
    forced = subprocess.run([venv / "bin" / "python", "-c", CHECK, model, src, tgt],
                            capture_output=True, text=True, check=True,
                            env={**os.environ, **THREADS, **PEER_ENV}).stdout.split()
    mine = [float(x) for x in forced]
    if len(gold) != k or len(mine) != k:
        sys.exit(f"bench_onmt: check read {len(gold)} gold scores and {len(mine)} forced ones, "
                 f"not {k}")
    return {"entries": k, "max_abs_difference": max(abs(a - b) for a, b in zip(gold, mine,
                                                                              strict=True))}


def bleu(hyp: Path, ref: Path) -> float:
    import sacrebleu

    return round(sacrebleu.corpus_bleu(lines_of(hyp), [lines_of(ref)],
                                       tokenize="none", force=True).score, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="2,000 pairs, 10 updates, "
                        "2 n-best sentences, 20 beam sentences: the machinery in a minute")
    parser.add_argument("--updates", type=int, default=3000,
                        help="updates of 64 sentences (default 3,000: 6.6 epochs, models that "
                        "translate, so that both searches produce outputs of real lengths)")
    parser.add_argument("--train-pairs", type=int, help="default: all 29,000")
    parser.add_argument("--valid-sentences", type=int, help="default: all 1,014")
    parser.add_argument("--nbest-sentences", type=int, default=1000,
                        help="sentences of the test2016 1000-best list to score (1,000 "
                        "entries each; default: all 1,000, about 1M entries: the peer took "
                        "30.5 min here)")
    parser.add_argument("--beam-sentences", type=int, default=1000)
    parser.add_argument("--beam", type=int, default=12)
    parser.add_argument("--peer-batch", type=int, default=128,
                        help="the peer's scoring batch, sentences (its default is 30)")
    parser.add_argument("--check", type=int, default=20, metavar="K",
                        help="entries on which the peer's gold score is checked")
    parser.add_argument("--no-bf16", action="store_true",
                        help="skip rescore's second training, in bf16 autocast (run only on a "
                        "CPU with native bf16: AVX-512 BF16 or AMX)")
    parser.add_argument("--onmt-venv", type=Path,
                        default=Path(os.environ.get("ONMT_VENV", ROOT / "work/peers/onmt-venv")))
    parser.add_argument("--workdir", type=Path, default=ROOT / "work/peers/bench")
    parser.add_argument("--arch", choices=tuple(RECIPES), default="lstm",
                        help="lstm: cpu-attention's LSTM (the default); transformer: "
                        "cpu-transformer's model in both toolkits (Adam at a constant 0.0005, "
                        "label smoothing 0.1)")
    args = parser.parse_args()
    if args.tiny:
        args.train_pairs, args.updates, args.nbest_sentences = 2000, 10, 2
        args.beam_sentences, args.valid_sentences, args.check = 20, 50, 5
    venv = args.onmt_venv.resolve()
    if not (venv / "bin" / "onmt_train").exists():
        sys.exit(f"bench_onmt: no OpenNMT-py in {venv}: run bash benchmarks/peers/setup.sh")
    work = args.workdir.resolve() / (("tiny" if args.tiny else "full")
                                     + ("" if args.arch == "lstm" else f"-{args.arch}"))
    inputs = prepare(work, multi30k_dir(), args)
    words = args.updates * 64 * inputs.words_per_sentence  # the same expected work for both
    entries = len(lines_of(inputs.nbest))

    ours: dict[str, Run] = {}
    theirs: dict[str, Run] = {}
    print("bench_onmt: training rescore", file=sys.stderr)
    ours["train"] = rescore_train(work, inputs, args.updates, arch=args.arch)
    bf16 = cpu_has_bf16() and not args.no_bf16
    if bf16:
        print("bench_onmt: training rescore, bf16 autocast", file=sys.stderr)
        ours["train-bf16"] = rescore_train(work, inputs, args.updates, "bf16", args.arch)
    print("bench_onmt: training OpenNMT-py", file=sys.stderr)
    theirs["train"] = peer_train(work, inputs, args.updates, venv, args.arch)
    model = peer_model(work, args.updates)
    ppl = {"rescore": rescore_ppl(work, inputs), "onmt": peer_ppl(work, inputs, venv, model)}
    if bf16:
        ppl["rescore bf16"] = rescore_ppl(work, inputs, "rescore-model-bf16")
    print("bench_onmt: scoring", file=sys.stderr)
    ours["score"] = rescore_score(work, inputs)
    theirs["score"] = peer_score(work, inputs, venv, model, args.peer_batch)
    check = peer_check(work, inputs, venv, model, args.check)
    print("bench_onmt: beam search", file=sys.stderr)
    ours["beam"] = rescore_beam(work, inputs, args.beam)
    if bf16:
        ours["beam-bf16"] = rescore_beam(work, inputs, args.beam, "bf16")
    # the same search as rescore's default (hypotheses ranked by log-probability); the
    # peer's own default divides by the length (-length_penalty avg): timed too, on its row
    theirs["beam"] = peer_translate(work, venv, model, inputs.rev["test"],
                                    work / "onmt-beam.txt", "onmt-beam.log", "-beam_size",
                                    str(args.beam), "-length_penalty", "none")
    theirs["beam-avg"] = peer_translate(work, venv, model, inputs.rev["test"],
                                        work / "onmt-beam-avg.txt", "onmt-beam-avg.log",
                                        "-beam_size", str(args.beam))
    sentences = len(lines_of(inputs.test[0]))
    peer = {k: theirs[k.removesuffix("-bf16")] for k in ours}  # rescore's bf16: the peer's fp32
    peer_loop = peer_loop_rate(theirs["train"])
    rates = {
        "train target words/s": (words / ours["train"].seconds, words / theirs["train"].seconds),
        "train target words/s, update loop only (each one's log)":
            (rescore_loop_rate(work / "rescore-model"), peer_loop),
        **({"train target words/s, rescore in bf16 autocast":
            (words / ours["train-bf16"].seconds, words / theirs["train"].seconds),
            "the same, update loop only":
            (rescore_loop_rate(work / "rescore-model-bf16"), peer_loop)} if bf16 else {}),
        "scoring entries/s": (entries / ours["score"].seconds, entries / theirs["score"].seconds),
        f"beam {args.beam} sentences/s": (sentences / ours["beam"].seconds,
                                          sentences / theirs["beam"].seconds),
        **({f"beam {args.beam} sentences/s, rescore in bf16 autocast":
            (sentences / ours["beam-bf16"].seconds, sentences / theirs["beam"].seconds)}
           if bf16 else {}),
        f"beam {args.beam} sentences/s, the peer with its default -length_penalty avg":
            (sentences / ours["beam"].seconds, sentences / theirs["beam-avg"].seconds)}
    import torch

    peer_version = subprocess.run(
        [venv / "bin" / "python", "-c", "import importlib.metadata as m; "
         "print(m.version('OpenNMT-py'), m.version('torch'))"], capture_output=True,
        text=True, check=True).stdout.split()
    result = {
        "date": time.strftime("%Y-%m-%d"), "machine": platform.platform(),
        "cpus": os.cpu_count(), "threads": 1, "tiny": args.tiny, "arch": args.arch,
        "versions": {"rescore torch": torch.__version__, "OpenNMT-py": peer_version[0],
                     "peer torch": peer_version[1]},
        "updates": args.updates, "train_pairs": len(lines_of(inputs.train[0])),
        "expected_target_words": round(words), "nbest_entries": entries,
        "beam_sentences": sentences,
        "seconds": {k: {"rescore": round(ours[k].seconds, 2),
                        "onmt": round(peer[k].seconds, 2)}
                    for k in ours},
        "peak_mib": {k: {"rescore": round(ours[k].peak_mib, 1),
                         "onmt": round(peer[k].peak_mib, 1)}
                     for k in ours},
        "rates": {k: {"rescore": round(a, 2), "onmt": round(b, 2), "ratio": round(a / b, 2)}
                  for k, (a, b) in rates.items()},
        "validation_perplexity": {k: round(v, 2) for k, v in ppl.items()},
        "beam_bleu": {"rescore": bleu(work / "rescore-beam.txt", inputs.test[1]),
                      **({"rescore bf16": bleu(work / "rescore-beam-bf16.txt", inputs.test[1])}
                         if bf16 else {}),
                      "onmt": bleu(work / "onmt-beam.txt", inputs.test[1]),
                      "onmt -length_penalty avg": bleu(work / "onmt-beam-avg.txt",
                                                       inputs.test[1])},
        "peer_beam_avg": {"seconds": round(theirs["beam-avg"].seconds, 2),
                          "peak_mib": round(theirs["beam-avg"].peak_mib, 1)},
        "peer_gold_score_check": check}
    RESULTS.mkdir(exist_ok=True)
    name = (f"peers-onmt{'' if args.arch == 'lstm' else '-' + args.arch}"
            f"{'-tiny' if args.tiny else ''}.json")
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print("| figure | rescore | OpenNMT-py | rescore / peer |\n|---|---|---|---|")
    for k, v in result["rates"].items():
        print(f"| {k} | {v['rescore']:,.1f} | {v['onmt']:,.1f} | {v['ratio']:.2f}x |")
    print(f"| validation perplexity after {args.updates} updates | {ppl['rescore']:.2f} | "
          f"{ppl['onmt']:.2f} | |")
    if bf16:
        print(f"| the same, rescore trained in bf16 autocast | {ppl['rescore bf16']:.2f} | "
              f"{ppl['onmt']:.2f} | |")
    for k in ours:
        print(f"| peak memory, {k} (MiB) | {ours[k].peak_mib:,.0f} | {peer[k].peak_mib:,.0f} "
              f"| {ours[k].peak_mib / peer[k].peak_mib:.2f}x |")
    print(f"| beam {args.beam} BLEU | {result['beam_bleu']['rescore']} | "
          f"{result['beam_bleu']['onmt']} | |")
    if bf16:
        print(f"| the same, rescore in bf16 autocast | {result['beam_bleu']['rescore bf16']} | "
              f"{result['beam_bleu']['onmt']} | |")
    print(f"| the same, the peer with -length_penalty avg | {result['beam_bleu']['rescore']} | "
          f"{result['beam_bleu']['onmt -length_penalty avg']} | |")
    print(f"\npeer's gold score vs its teacher-forced log-probability (hypothesis + </s>), "
          f"{check['entries']} entries: max |difference| {check['max_abs_difference']:.2e}")
    print(f"written: {RESULTS / name}")


if __name__ == "__main__":
    main()
