"""Copy Multi30k en-fr in the layout of ../shared/data/multi30k-en-fr (or of prepare.py's
output, or another Moses system's folder in that layout: --src-lang, --tgt-lang, --test) into
a pipeline's data folder, whole or as a slice: the first --train-pairs training pairs and the
first --sentences sentences of val and the test set with their n-best lists (when the source
folder has them). Outputs are written atomically.

    python data/multi30k/slice.py --from ../shared/data/multi30k-en-fr --output DIR \
        [--train-pairs 10000] [--sentences 100]
"""

from __future__ import annotations

import argparse
import io
import itertools
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from rescore.files import atomic_output, open_binary


def open_text(path: Path) -> io.TextIOWrapper:
    """UTF-8 text (gzip by extension), line ends kept as they are."""
    return io.TextIOWrapper(open_binary(path), encoding="utf-8", newline="")


def head(path: Path, n: int | None) -> Iterator[str]:
    with open_text(path) as f:
        yield from (f if n is None else itertools.islice(f, n))


def nbest_head(path: Path, sentences: int | None) -> Iterator[str]:
    with open_text(path) as f:
        if sentences is None:
            yield from f
            return
        for line in f:
            if int(line.split(" ||| ", 1)[0]) >= sentences:
                break
            yield line


def copy(lines: Iterator[str], target: Path) -> int:
    count = 0
    with atomic_output(target) as out:
        for line in lines:
            out.write(line)
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--train-pairs", type=int, help="first N training pairs (default all)")
    parser.add_argument("--sentences", type=int, help="first N val/test sentences (default all)")
    parser.add_argument("--src-lang", default="en", help="the folder's source language code")
    parser.add_argument("--tgt-lang", default="fr", help="the folder's target language code")
    parser.add_argument("--test", default="test2016", help="the folder's test set")
    args = parser.parse_args()
    src, out = args.source, args.output
    sides, splits = (args.src_lang, args.tgt_lang), ("val", args.test)
    text = [f"{split}.{side}" for split in splits for side in sides]
    lists = {split: f"nbest/{split}.1000best.gz" for split in splits}
    baselines = {split: f"baseline/{split}.1best" for split in splits}
    (out / "nbest").mkdir(parents=True, exist_ok=True)
    (out / "baseline").mkdir(exist_ok=True)
    for side in sides:
        n = copy(head(src / f"train.{side}.gz", args.train_pairs), out / f"train.{side}.gz")
        print(f"train.{side}.gz: {n} lines", file=sys.stderr)
    for name in text:
        n = copy(head(src / name, args.sentences), out / name)
        print(f"{name}: {n} lines", file=sys.stderr)
    for split, rel in lists.items():
        if (src / rel).exists():
            n = copy(nbest_head(src / rel, args.sentences), out / rel)
            if (src / baselines[split]).exists():
                copy(head(src / baselines[split], args.sentences), out / baselines[split])
            print(f"{rel}: {n} lines", file=sys.stderr)
        else:
            print(f"{src / rel}: absent (no Moses n-best lists: rescoring stages are left out)",
                  file=sys.stderr)
    if (src / "moses.ini.tuned").exists():
        shutil.copyfile(src / "moses.ini.tuned", out / "moses.ini.tuned")


if __name__ == "__main__":
    main()
