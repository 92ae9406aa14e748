"""What subword vocabularies cost: the same model (cpu-attention's shape, 2 x 256, dot attention)
with 8k-word vocabularies and with 8k BPE pieces per side (sentencepiece trained on the
Multi30k training text), one run, same process, same thread, same data:

- the ids a sentence takes (pieces make sequences longer);
- rescore-nbest's direct scorer (prefix trie) on the first sentences of the test2016 1000-best
  list: listed entries/s;
- beam search at beam 12 on test2016 sources: sentences/s.

Random-init weights by default (scoring does one decoder step per distinct prefix whatever the
weights); beam search of random models runs to the length limit, which is longer in pieces, so
give trained models (--models WORD_DIR SUBWORD_DIR) for beam search figures that reflect real
output lengths.

    .venv/bin/python benchmarks/bench_subwords.py [--sentences 10] [--models W S]

Writes benchmarks/results/subwords.json and prints a Markdown table (ratio: subwords / words).
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rescore.beam import Ensemble, SearchConfig, beam_search
from rescore.config import PRESETS
from rescore.files import read_lines
from rescore.model import Seq2Seq
from rescore.model_dir import load
from rescore.nbest import read_nbest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # pipelines/: the shared data
from pipelines.engine.paths import multi30k_dir
from rescore.scoring import score_prefix_shared
from rescore.vocab import Vocab, subword_vocab, train_subwords

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_channel import counts

RESULTS = Path(__file__).resolve().parent / "results"


def lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [ln.rstrip("\n") for ln in f]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sentences", type=int, default=10, help="n-best sentences scored")
    parser.add_argument("--translate", type=int, default=64, help="sentences translated")
    parser.add_argument("--models", type=Path, nargs=2, metavar=("WORDS", "SUBWORDS"),
                        help="trained model directories to use instead of random weights")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = multi30k_dir()
    preset = PRESETS["cpu-attention"]
    sources = read_lines(data / "test2016.en")
    blocks = list(itertools.takewhile(lambda b: b.sent_id < args.sentences,
                                      read_nbest(data / "nbest" / "test2016.1000best.gz")))
    entries = sum(len(b) for b in blocks)
    setups: dict[str, tuple[Seq2Seq, Vocab, Vocab]] = {}
    with tempfile.TemporaryDirectory() as work:
        if args.models:
            for name, directory in zip(("words", "subwords"), args.models, strict=True):
                loaded = load(directory)
                setups[name] = (loaded.model, loaded.src_vocab, loaded.tgt_vocab)
        else:
            en = Vocab.build(counts(data / "train.en.gz"), preset.model.src_vocab_size)
            fr = Vocab.build(counts(data / "train.fr.gz"), preset.model.tgt_vocab_size)
            pieces = []
            for side in ("en", "fr"):
                model = train_subwords(lines(data / f"train.{side}.gz"),
                                       Path(work) / f"{side}.spm", "bpe", 8000)
                pieces.append(subword_vocab(model, Path(work) / f"{side}.vocab"))
            for name, (src, tgt) in (("words", (en, fr)), ("subwords", tuple(pieces))):
                torch.manual_seed(0)
                cfg = dataclasses.replace(preset.model, src_vocab_size=len(src),
                                          tgt_vocab_size=len(tgt))
                setups[name] = (Seq2Seq(cfg).eval(), src, tgt)
        rows = []
        for name, (model, src, tgt) in setups.items():
            src_ids = [src.encode(sources[b.sent_id].split()) for b in blocks]
            hyp_ids = [[tgt.encode(h.split()) for h in dict.fromkeys(b.hypotheses)]
                       for b in blocks]
            ids_per_word = (sum(len(h) for hs in hyp_ids for h in hs)
                            / sum(len(h.split()) for b in blocks
                                  for h in dict.fromkeys(b.hypotheses)))
            start = time.perf_counter()
            score_prefix_shared(model, src_ids, hyp_ids)
            direct = entries / (time.perf_counter() - start)
            batch = [src.encode(s.split()) for s in sources[: args.translate]]
            start = time.perf_counter()
            for i in range(0, len(batch), 32):
                beam_search(Ensemble([model]), batch[i:i + 32], SearchConfig(beam=12))
            translate = len(batch) / (time.perf_counter() - start)
            rows.append({"vocabulary": name, "target ids per word": round(ids_per_word, 3),
                         "direct scoring entries/s": round(direct),
                         "beam 12 sentences/s": round(translate, 2)})
    words, subwords = rows
    rows.append({"vocabulary": "ratio subwords / words", **{
        k: round(float(subwords[k]) / float(words[k]), 2) for k in words if k != "vocabulary"}})
    result = {"rows": rows, "threads": args.threads, "nbest_sentences": args.sentences,
              "nbest_entries": entries, "weights": "trained" if args.models else "random",
              "models": [str(m) for m in args.models] if args.models else None,
              "numpy": np.__version__, "torch": torch.__version__}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "subwords.json").write_text(json.dumps(result, indent=2) + "\n")
    import pandas as pd

    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
