"""WMT'14 English->French as the paper used it (Sutskever et al. 2014, section 3.1): the
12M-pair "selected" subset of Schwenk (2014), newstest2012+2013 for validation, newstest2014
for test, and the 1000-best lists of the baseline SMT system that the paper rescored.

The files come from Schwenk's CSLM page (LIUM), which distributes them already tokenized:

- ``bitexts.tgz``: the selected parallel data, one ``NAME.en``/``NAME.fr`` pair per corpus
  (plain, .gz or .xz);
- ``dev+test.tgz``: ``ntst1213.{en,fr}`` (newstest2012+2013) and ``ntst14.{en,fr}``;
- ``nbest.tgz``: Moses-format 1000-best lists of the baseline for newstest2014 (and the
  dev set), when published.

Nothing here could be downloaded while this recipe was written (no network): the addresses are
those of the page as cited by the paper, the checksums are recorded on first download into
``DIR/checksums.json`` and checked on every later run. ``--mirror DIR_OR_URL`` reads the same
file names from elsewhere (a local copy; the tests use a tiny mirror of the formats).

Output layout (as data/multi30k): ``train.{en,fr}.gz``, ``valid.{en,fr}``, ``test.{en,fr}``,
``nbest/{valid,test}.1000best.gz`` (when the lists exist).

    python data/wmt14/prepare.py --output work/data/wmt14-en-fr [--mirror DIR]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import itertools
import json
import lzma
import shutil
import sys
import tarfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

BASE_URL = "http://www-lium.univ-lemans.fr/~schwenk/cslm_joint_paper/data"
ARCHIVES = {"train": "bitexts.tgz", "devtest": "dev+test.tgz", "nbest": "nbest.tgz"}
OPTIONAL = {"nbest"}
VALID, TEST = "ntst1213", "ntst14"
SUFFIXES = ("", ".gz", ".xz")


class RecipeError(Exception):
    """Bad or missing input; main() prints it as one line and exits 2."""


def fetch(name: str, base: str, dest: Path, checksums: dict[str, str]) -> Path | None:
    """Copy or download ``base/name`` to ``dest/name`` (once), checking its SHA-256 against
    the recorded one; None when it does not exist and is optional."""
    target = dest / name
    if not target.exists():
        source = f"{base.rstrip('/')}/{name}"
        tmp = target.with_name(target.name + ".part")
        try:
            if "://" not in base:
                shutil.copyfile(Path(base) / name, tmp)
            else:
                print(f"downloading {source}", file=sys.stderr)
                with urllib.request.urlopen(source, timeout=120) as response, \
                        open(tmp, "wb") as out:
                    shutil.copyfileobj(response, out)
        except (OSError, ValueError) as err:
            tmp.unlink(missing_ok=True)
            key = next((k for k, v in ARCHIVES.items() if v == name), "")
            if key in OPTIONAL:
                print(f"{source}: not available ({err}); going on without it", file=sys.stderr)
                return None
            raise RecipeError(f"{source}: cannot fetch ({err})") from None
        tmp.replace(target)
    digest = sha256(target)
    if checksums.setdefault(name, digest) != digest:
        raise RecipeError(f"{target}: SHA-256 {digest} differs from the recorded "
                          f"{checksums[name]} (delete the file to fetch it again)")
    return target


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def extract(archive: Path, dest: Path) -> Path:
    """Unpack a tar archive into ``dest`` (members may not leave it)."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as err:
        raise RecipeError(f"{archive}: cannot unpack ({err})") from None
    return dest


def open_any(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="\n")
    if path.name.endswith(".xz"):
        return lzma.open(path, "rt", encoding="utf-8", newline="\n")
    return open(path, encoding="utf-8", newline="\n")


def find_side(folder: Path, stem: str, lang: str) -> Path | None:
    for suffix in SUFFIXES:
        hits = sorted(folder.rglob(f"{stem}.{lang}{suffix}"))
        if hits:
            return hits[0]
    return None


def find_pairs(folder: Path, src: str = "en", tgt: str = "fr") -> list[tuple[Path, Path]]:
    """Every ``NAME.src`` with a ``NAME.tgt`` beside it (plain, .gz or .xz), sorted."""
    pairs = []
    for suffix in SUFFIXES:
        for path in sorted(folder.rglob(f"*.{src}{suffix}")):
            stem = path.name[: -len(f".{src}{suffix}")]
            other = find_side(path.parent, stem, tgt)
            if other is None:
                raise RecipeError(f"{path}: no {tgt} side ({stem}.{tgt}) beside it")
            pairs.append((path, other))
    if not pairs:
        raise RecipeError(f"{folder}: no {src}-{tgt} file pairs found")
    return pairs


def paired_lines(src: Path, tgt: Path) -> Iterator[tuple[str, str]]:
    """Aligned lines; a length mismatch is an error naming the shorter file."""
    with open_any(src) as fs, open_any(tgt) as ft:
        for n, (s, t) in enumerate(itertools.zip_longest(fs, ft), 1):
            if s is None or t is None:
                longer, shorter = (src, tgt) if s is not None else (tgt, src)
                raise RecipeError(f"{longer}:{n}: more lines than {shorter} ({n - 1})")
            yield s.rstrip("\n"), t.rstrip("\n")


def write_pairs(pairs: list[tuple[Path, Path]], out_src: Path, out_tgt: Path) -> int:
    """Concatenate aligned pairs into two files (gzip by extension), written atomically."""
    tmp_s, tmp_t = (p.with_name(p.name + ".tmp") for p in (out_src, out_tgt))
    count = 0
    try:
        with _open_out(tmp_s) as fs, _open_out(tmp_t) as ft:
            for src, tgt in pairs:
                for s, t in paired_lines(src, tgt):
                    fs.write(s + "\n")
                    ft.write(t + "\n")
                    count += 1
    except BaseException:
        tmp_s.unlink(missing_ok=True)
        tmp_t.unlink(missing_ok=True)
        raise
    tmp_s.replace(out_src)
    tmp_t.replace(out_tgt)
    return count


def _open_out(path: Path) -> IO[str]:
    if path.name.endswith(".gz.tmp"):
        return gzip.open(path, "wt", encoding="utf-8", newline="\n")
    return open(path, "w", encoding="utf-8", newline="\n")


def prepare(output: Path, base: str) -> dict[str, int]:
    """Fetch, unpack and lay out the data; returns line counts per output."""
    downloads = output / "download"
    downloads.mkdir(parents=True, exist_ok=True)
    sums_path = downloads / "checksums.json"
    checksums = json.loads(sums_path.read_text()) if sums_path.exists() else {}
    counts: dict[str, int] = {}
    try:
        archives = {k: fetch(v, base, downloads, checksums) for k, v in ARCHIVES.items()}
    finally:
        sums_path.write_text(json.dumps(checksums, indent=2) + "\n")
    train = extract(archives["train"], downloads / "train")  # type: ignore[arg-type]
    devtest = extract(archives["devtest"], downloads / "devtest")  # type: ignore[arg-type]
    counts["train"] = write_pairs(find_pairs(train), output / "train.en.gz",
                                  output / "train.fr.gz")
    for split, stem in (("valid", VALID), ("test", TEST)):
        sides = [find_side(devtest, stem, lang) for lang in ("en", "fr")]
        if sides[0] is None or sides[1] is None:
            raise RecipeError(f"{archives['devtest']}: no {stem}.en / {stem}.fr inside")
        counts[split] = write_pairs([(sides[0], sides[1])], output / f"{split}.en",
                                    output / f"{split}.fr")
    if archives["nbest"] is not None:
        lists = extract(archives["nbest"], downloads / "nbest")
        (output / "nbest").mkdir(exist_ok=True)
        for split, stem in (("valid", VALID), ("test", TEST)):
            found = sorted(p for p in lists.rglob(f"{stem}*") if "nbest" in p.name
                           or "1000" in p.name)
            if found:
                counts[f"nbest-{split}"] = copy_nbest(found[0], output / "nbest" /
                                                      f"{split}.1000best.gz", counts[split])
    return counts


def copy_nbest(path: Path, target: Path, sentences: int) -> int:
    """Copy an n-best list gzip-compressed, checking its ids lie in [0, sentences)."""
    tmp = target.with_name(target.name + ".tmp")
    n = 0
    with open_any(path) as f, gzip.open(tmp, "wt", encoding="utf-8", newline="\n") as out:
        for n, line in enumerate(f, 1):
            head = line.split(" ||| ", 1)[0]
            if not head.isdigit() or int(head) >= sentences:
                tmp.unlink(missing_ok=True)
                raise RecipeError(f"{path}:{n}: sentence id {head!r} is not in 0..{sentences - 1}")
            out.write(line)
    tmp.replace(target)
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path("work/data/wmt14-en-fr"))
    parser.add_argument("--mirror", default=BASE_URL,
                        help="where the archives are: a URL or a local folder")
    args = parser.parse_args()
    try:
        counts = prepare(args.output, args.mirror)
    except RecipeError as err:
        print(f"prepare: error: {err}", file=sys.stderr)
        sys.exit(2)
    for name, n in counts.items():
        print(f"{name}: {n} lines", file=sys.stderr)


if __name__ == "__main__":
    main()
