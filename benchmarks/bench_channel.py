"""Channel model vs direct model throughput on the real test2016 1000-best list, same run,
same model size: listed entries scored per second by ``LSTMFeature`` (ln P(hyp | source),
prefix-shared decoder) and ``ChannelFeature`` (ln P(source | hyp): hypotheses encoded over a
shared trie, the source decoded under each). Goal: channel >= 1/3 of direct.

The two models have the shape of a preset (default ``cpu-multi30k``: 2 x 256, vocabularies of
the 8,000 most frequent words of each side of the Multi30k training data) with random
weights: speed does not depend on the weights' values. With ``--direct DIR --channel DIR``
trained models are used instead.

    .venv/bin/python benchmarks/bench_channel.py [--sentences 40] [--threads 1]

Writes benchmarks/results/channel.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch

from rescore.config import PRESETS, TrainConfig
from rescore.features import ChannelFeature, FeatureScorer, LSTMFeature
from rescore.files import iter_line_chunks, read_lines
from rescore.model import Seq2Seq
from rescore.model_dir import SRC_VOCAB, TGT_VOCAB, save_config, save_weights
from rescore.nbest import read_nbest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # pipelines/: the shared data
from pipelines.engine.paths import multi30k_dir
from rescore.vocab import Vocab

RESULTS = Path(__file__).resolve().parent / "results"


def counts(path: Path) -> Counter[str]:
    out: Counter[str] = Counter()
    for _, lines in iter_line_chunks(path):
        for line in lines:
            out.update(line.split())
    return out


def random_model(directory: Path, preset: str, src: Vocab, tgt: Vocab, seed: int) -> Path:
    import dataclasses

    directory.mkdir(parents=True)
    cfg = dataclasses.replace(PRESETS[preset].model, src_vocab_size=len(src),
                              tgt_vocab_size=len(tgt), dropout=0.0)
    torch.manual_seed(seed)
    save_config(directory, cfg, TrainConfig(), {})
    src.save(directory / SRC_VOCAB)
    tgt.save(directory / TGT_VOCAB)
    save_weights(Seq2Seq(cfg), directory)
    return directory


def rate(feature: FeatureScorer, blocks: list, sources: list[str]) -> float:  # type: ignore[type-arg]
    start = time.perf_counter()
    for i in range(0, len(blocks), feature.group_size):
        group = blocks[i:i + feature.group_size]
        feature.score_blocks(group, [sources[b.sent_id] for b in group])
    return sum(len(b) for b in blocks) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--preset", default="cpu-multi30k")
    parser.add_argument("--direct", type=Path, help="a trained direct model (en -> fr)")
    parser.add_argument("--channel", type=Path, help="a trained channel model (fr -> en)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = multi30k_dir()
    sources = read_lines(data / "test2016.en")
    blocks = []
    for block in read_nbest(data / "nbest" / "test2016.1000best.gz"):
        if block.sent_id >= args.sentences:
            break
        blocks.append(block)
    if args.direct and args.channel:
        direct_dir, channel_dir = args.direct, args.channel
    else:
        size = PRESETS[args.preset].model.src_vocab_size
        en = Vocab.build(counts(data / "train.en.gz"), size)
        fr = Vocab.build(counts(data / "train.fr.gz"), size)
        root = Path(tempfile.mkdtemp(prefix="bench-channel-"))
        direct_dir = random_model(root / "direct", args.preset, en, fr, 1)
        channel_dir = random_model(root / "channel", args.preset, fr, en, 2)
    direct = LSTMFeature(direct_dir)
    channel = ChannelFeature(channel_dir, "Channel0")
    rates = {"direct": rate(direct, blocks, sources), "channel": rate(channel, blocks, sources)}
    result = {"sentences": args.sentences, "entries": sum(len(b) for b in blocks),
              "threads": args.threads, "preset": args.preset,
              "direct_entries_per_s": round(rates["direct"]),
              "channel_entries_per_s": round(rates["channel"]),
              "channel / direct": round(rates["channel"] / rates["direct"], 3),
              "direct_decoder_steps": direct.stats.decoder_steps,
              "channel_encoder_steps": channel.stats.encoder_steps,
              "channel_input_tokens": channel.stats.input_tokens,
              "channel_decoder_steps": channel.stats.decoder_steps}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "channel.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
