"""What attention costs: the same model (cpu-attention's shape, 2 x 256, 8k vocabularies) with
and without global attention, one run, same process, same threads, same data:

- training: target words/s of SGD updates on real length-bucketed Multi30k batches;
- rescore-nbest's scorers: listed n-best entries/s of the prefix-trie scorer (direct model)
  and of the channel scorer over each sentence's distinct hypotheses (as the features run
  them), on the first sentences of the test2016 1000-best list; and, for the channel, the
  same distinct hypotheses batched plainly (padded batches of 256, no trie) to compare;
- beam search: sentences/s at beam 12 on test2016 sources.

Random-init weights: the work a trained model does is the same (scoring does one decoder step
per distinct prefix whatever the weights; beam search is limited to the same lengths).

    .venv/bin/python benchmarks/bench_attention.py [--threads 1] [--sentences 10]

Writes benchmarks/results/attention.json and prints a Markdown table (ratio: with / without).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import resource
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
from rescore.nbest import read_nbest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # pipelines/: the shared data
from pipelines.engine.paths import multi30k_dir
from rescore.scoring import score_channel, score_prefix_shared
from rescore.vocab import Vocab

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_channel import counts
from bench_train import measure

RESULTS = Path(__file__).resolve().parent / "results"


@torch.inference_mode()
def plain_pairs(model: Seq2Seq, sources: list[np.ndarray], targets: list[np.ndarray],
                batch: int = 256) -> None:
    """Teacher-forced scores of id pairs in padded batches sorted by length (no trie)."""
    from rescore.corpus import make_batch

    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    for lo in range(0, len(order), batch):
        rows = order[lo:lo + batch]
        model.token_log_probs(make_batch([sources[i] if len(sources[i]) else np.array([3])
                                          for i in rows], [targets[i] for i in rows]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sentences", type=int, default=10, help="n-best sentences scored")
    parser.add_argument("--steps", type=int, default=40, help="training updates measured")
    parser.add_argument("--translate", type=int, default=64, help="sentences translated")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = multi30k_dir()
    preset = PRESETS["cpu-attention"]
    configs = {"with attention": preset.model,
               "without": dataclasses.replace(preset.model, attention="none")}
    sources = read_lines(data / "test2016.en")
    blocks = list(itertools.takewhile(lambda b: b.sent_id < args.sentences,
                                      read_nbest(data / "nbest" / "test2016.1000best.gz")))
    entries = sum(len(b) for b in blocks)
    en = Vocab.build(counts(data / "train.en.gz"), preset.model.src_vocab_size)
    fr = Vocab.build(counts(data / "train.fr.gz"), preset.model.tgt_vocab_size)
    src_ids = [en.encode(sources[b.sent_id].split()) for b in blocks]
    # the distinct hypotheses of each sentence, as rescore-nbest's features score them (an
    # entry's score covers every listing of its hypothesis)
    hyp_ids = [[fr.encode(h.split()) for h in dict.fromkeys(b.hypotheses)] for b in blocks]
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name, cfg in configs.items():
            train = measure(name, cfg, preset.train, Path(work), torch.device("cpu"),
                            args.steps, float("inf"))
            torch.manual_seed(0)
            model = Seq2Seq(cfg).eval()
            start = time.perf_counter()
            score_prefix_shared(model, src_ids, hyp_ids)
            direct = entries / (time.perf_counter() - start)
            channel_model = Seq2Seq(dataclasses.replace(
                cfg, src_vocab_size=cfg.tgt_vocab_size, tgt_vocab_size=cfg.src_vocab_size)).eval()
            start = time.perf_counter()
            score_channel(channel_model, hyp_ids, src_ids)
            channel = entries / (time.perf_counter() - start)
            start = time.perf_counter()  # the alternative: distinct hypotheses batched plainly
            for hyps, src in zip(hyp_ids, src_ids, strict=True):
                plain_pairs(channel_model, hyps, [src] * len(hyps))
            channel_plain = entries / (time.perf_counter() - start)
            batch = [en.encode(s.split()) for s in sources[: args.translate]]
            start = time.perf_counter()
            for i in range(0, len(batch), 32):
                beam_search(Ensemble([model]), batch[i:i + 32], SearchConfig(beam=12))
            translate = len(batch) / (time.perf_counter() - start)
            rows.append({"model": name, "train tgt words/s": train["tgt_words_per_s"],
                         "direct scoring entries/s": round(direct),
                         "channel scoring entries/s": round(channel),
                         "channel, plain batches entries/s": round(channel_plain),
                         "beam 12 sentences/s": round(translate, 2)})
    with_, without = rows
    rows.append({"model": "ratio with / without", **{
        k: round(float(with_[k]) / float(without[k]), 2) for k in with_ if k != "model"}})
    result = {"rows": rows, "threads": args.threads, "nbest_sentences": args.sentences,
              "nbest_entries": entries, "train_steps": args.steps,
              "shape": "cpu-attention: 2 x 256 LSTM, 256-d embeddings, 8k/8k, dot attention",
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "numpy": np.__version__, "torch": torch.__version__}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "attention.json").write_text(json.dumps(result, indent=2) + "\n")
    import pandas as pd

    print(pd.DataFrame(rows).to_markdown(index=False))


if __name__ == "__main__":
    main()
