"""Prepare Multi30k English-French (Task 1) as the toolkit expects it: tokenized (sacremoses,
Moses' tokenizer rules, no escaping) and lowercased, in the layout of
../shared/data/multi30k-en-fr (train.{en,fr}.gz, val.{en,fr}, test2016.{en,fr}).

Use it when the shared data is absent. It downloads the public originals from the Multi30k
repository (pinned commit) and checks the SHA-256 of their decompressed text, or reads them
from a local folder with --from-raw. The Moses n-best lists of the shared data come from a
Moses system trained on this data (see that folder's README); they cannot be downloaded.

    python data/multi30k/prepare.py --output work/data/multi30k-en-fr
    python data/multi30k/prepare.py --from-raw ../shared/data/multi30k-en-fr/raw --output DIR
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import sys
import urllib.request
from pathlib import Path

from sacremoses import MosesTokenizer

COMMIT = "a3d2e0d26b56f3846f66a952536ffed4e401d05a"
URL = f"https://raw.githubusercontent.com/multi30k/dataset/{COMMIT}/data/task1/raw/{{name}}.gz"
# our name -> (Multi30k's name, SHA-256 of the decompressed UTF-8 text)
SPLITS = {
    "train.en": ("train.en", "460a15fbd157e34a7a9957ee388c1ca247fe47af3ef25fb50442af6c274e0fc6"),
    "train.fr": ("train.fr", "5925a3c18f1587b6b54b87743106e6e8ab93618edb6f65d19eac0621f853a10d"),
    "val.en": ("val.en", "1f2a23d992769b5b3d209b0a10dd0b77c08cceb1f20dfb97ed0aafa49d107227"),
    "val.fr": ("val.fr", "5304e444d842e962b2dda4d816b70b22a1765b15401642b7ca37a67477e708dc"),
    "test2016.en": ("test_2016_flickr.en",
                    "399a4382932c1aadd3ceb9bef1008d388a64c76d4ae4e9d4728c6f4301cac182"),
    "test2016.fr": ("test_2016_flickr.fr",
                    "cb3160d69b002bb638e66cc7612fcd56cb0af82eadc9c142dedc438afb885ef6"),
}


def read_raw(name: str, from_raw: Path | None) -> bytes:
    """The decompressed original text of split ``name``, checksum-verified."""
    if from_raw is not None:
        local = from_raw / name
        data = gzip.decompress((from_raw / f"{name}.gz").read_bytes()) \
            if not local.exists() else local.read_bytes()
    else:
        url = URL.format(name=SPLITS[name][0])
        print(f"downloading {url}", file=sys.stderr)
        with urllib.request.urlopen(url, timeout=60) as response:
            data = gzip.decompress(response.read())
    digest = hashlib.sha256(data).hexdigest()
    if digest != SPLITS[name][1]:
        raise SystemExit(f"prepare: {name}: SHA-256 {digest} differs from the expected "
                         f"{SPLITS[name][1]}: not the pinned Multi30k original")
    return data


def tokenize_lines(lines: list[str], lang: str) -> list[str]:
    """Moses tokenization (sacremoses, no XML escaping) and lowercasing, as the shared data."""
    tok = MosesTokenizer(lang=lang)
    return [tok.tokenize(line, escape=False, return_str=True).lower() for line in lines]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path("work/data/multi30k-en-fr"))
    parser.add_argument("--from-raw", type=Path, help="folder with the originals (no download)")
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    for name in SPLITS:
        lines = read_raw(name, args.from_raw).decode("utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        text = "".join(t + "\n" for t in tokenize_lines(lines, name.rsplit(".", 1)[1]))
        target = args.output / (f"{name}.gz" if name.startswith("train") else name)
        tmp = target.with_name(target.name + ".tmp")
        if target.name.endswith(".gz"):
            with gzip.open(tmp, "wt", encoding="utf-8") as out:
                out.write(text)
        else:
            tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
        print(f"{target}: {len(lines)} lines", file=sys.stderr)


if __name__ == "__main__":
    main()
