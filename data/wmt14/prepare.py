"""WMT'14 English->French as the paper used it (Sutskever et al. 2014, section 3.1): the
12M-pair "selected" subset of Schwenk (2014), newstest2012+2013 for validation, newstest2014
for test, and the baseline SMT system's 1000-best lists that the paper rescored.

The corpus comes from Schwenk's CSLM page (LIUM), which distributes it already tokenized:

- ``bitexts.tgz``: the selected parallel data, one ``NAME.en``/``NAME.fr`` pair per corpus
  (plain, .gz or .xz);
- ``dev+test.tgz``: ``ntst1213.{en,fr}`` (newstest2012+2013) and ``ntst14.{en,fr}``.

Both are the files other public projects fetch from the same page, with the MD5 sums they
record (pinned below and checked on every download and every run). They are fetched from the
paper's address, else from the second LIUM path that publishes the same files, else from
``--mirror``. Downloads resume where an interrupted one stopped (HTTP range requests; a local
mirror resumes the same way) and are retried; a partial file (``NAME.part``) is never taken
for a whole one: only a complete file whose MD5 matches is renamed into place.

The baseline's 1000-best lists are NOT downloaded: the paper says they were published on that
page but names no file, and no public record has one. Give lists you have with
``--nbest-dir DIR`` (Moses format: ``DIR/test.1000best[.gz]`` for newstest2014, optionally
``DIR/valid.1000best[.gz]`` for ntst1213); without them there is no Table 2.

Output layout (as data/multi30k): ``train.{en,fr}.gz``, ``valid.{en,fr}``, ``test.{en,fr}``,
``nbest/{valid,test}.1000best.gz`` (with ``--nbest-dir``).

    python data/wmt14/prepare.py --output work/data/wmt14-en-fr [--nbest-dir DIR] [--mirror DIR]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import itertools
import json
import lzma
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

LOCATIONS = ("http://www-lium.univ-lemans.fr/~schwenk/cslm_joint_paper/data",
             "http://www-lium.univ-lemans.fr/~schwenk/nnmt-shared-task/data")
# name: MD5 as public projects that fetch the same archives record it
PINNED_MD5 = {"bitexts.tgz": "15861dbac4a52c8c75561d5027062d7d",
              "dev+test.tgz": "7d7897317ddd8ba0ae5c5fa7248d3ff5"}
ARCHIVES = {"train": "bitexts.tgz", "devtest": "dev+test.tgz"}
VALID, TEST = "ntst1213", "ntst14"
SUFFIXES = ("", ".gz", ".xz")
NBEST_FILES = {"test": "test.1000best", "valid": "valid.1000best"}  # in --nbest-dir
RETRIES = 3
CHUNK = 1 << 20


class RecipeError(Exception):
    """Bad or missing input; main() prints it as one line and exits 2."""


class Incomplete(Exception):
    """A transfer that stopped early; the partial file is kept for the next try."""


def md5_of(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _copy_from(source: IO[bytes], part: Path, append: bool, total: int | None) -> None:
    """Append (or write) ``source`` to ``part``; :class:`Incomplete` if fewer bytes than
    ``total`` arrived."""
    with open(part, "ab" if append else "wb") as out:
        try:
            for block in iter(lambda: source.read(CHUNK), b""):
                out.write(block)
        except (OSError, http.client.HTTPException) as err:
            raise Incomplete(str(err)) from None
    if total is not None and part.stat().st_size < total:
        raise Incomplete(f"{part.stat().st_size} of {total} bytes")


def transfer(source: str, part: Path) -> None:
    """Fetch ``source`` (a URL or a local path) into ``part``, continuing after the bytes
    ``part`` already holds."""
    have = part.stat().st_size if part.exists() else 0
    if "://" not in source:
        size = Path(source).stat().st_size
        if have > size:
            have = 0
        with open(source, "rb") as f:
            f.seek(have)
            _copy_from(f, part, have > 0, size)
        return
    request = urllib.request.Request(source, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            resumed = have > 0 and response.status == 206
            length = response.headers.get("Content-Length")
            total = (have if resumed else 0) + int(length) if length else None
            if have and not resumed:
                print(f"{source}: the server does not resume; downloading from the start",
                      file=sys.stderr)
            _copy_from(response, part, resumed, total)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # the partial file already holds everything
            return
        raise


def fetch(name: str, sources: list[str], dest: Path, expected: str | None) -> Path:
    """``dest/name``, downloaded from the first of ``sources`` that has it (resumed, retried)
    and checked against the ``expected`` MD5; a file already in place is checked again."""
    target = dest / name
    if target.exists():
        check(target, expected)
        return target
    part = target.with_name(target.name + ".part")
    errors = []
    for base in sources:
        source = f"{base.rstrip('/')}/{name}"
        for attempt in range(1, RETRIES + 1):
            resumed = part.exists() and part.stat().st_size > 0
            if resumed:
                print(f"{source}: resuming after {part.stat().st_size:,} bytes",
                      file=sys.stderr)
            elif "://" in source:
                print(f"downloading {source}", file=sys.stderr)
            try:
                transfer(source, part)
            except Incomplete as err:
                errors.append(f"{source}: interrupted ({err})")
                if attempt < RETRIES:
                    time.sleep(min(30.0, 2.0**attempt) if "://" in source else 0.0)
                continue
            except (OSError, ValueError, http.client.HTTPException) as err:
                errors.append(f"{source}: {err}")
                break  # not there: the next location
            got = md5_of(part)
            if expected is None or got == expected:
                part.replace(target)
                return target
            part.unlink()  # a whole transfer with other bytes: never kept, never resumed
            errors.append(f"{source}: MD5 {got} is not the pinned {expected}")
            if resumed:  # the bytes kept from before may be the bad ones: once from the start
                print(f"{source}: the resumed file does not match; fetching it from the start",
                      file=sys.stderr)
                continue
            break
    detail = "; ".join(errors[-3:])
    hint = (f" (a partial download is kept in {part} and resumed by the next run)"
            if part.exists() else "")
    if any("MD5" in e for e in errors):
        raise RecipeError(f"{name}: no location gave the file with the pinned MD5 ({detail}): "
                          "the archive changed or is damaged; fetch it yourself, compare "
                          f"its MD5 with {expected}, and give its folder with --mirror DIR")
    raise RecipeError(f"{name}: cannot fetch ({detail}){hint}")


def check(path: Path, expected: str | None) -> None:
    if expected is None:
        return
    got = md5_of(path)
    if got != expected:
        raise RecipeError(f"{path}: MD5 {got} is not the pinned {expected} (the file other "
                          "projects fetch from LIUM): delete it to fetch it again, or give "
                          f"a good copy's folder with --mirror DIR")


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


def find_nbest(folder: Path, split: str) -> Path | None:
    for suffix in ("", ".gz"):
        path = folder / f"{NBEST_FILES[split]}{suffix}"
        if path.exists():
            return path
    return None


def check_nbest_dir(folder: Path) -> Path:
    """``folder/test.1000best[.gz]`` (required for Table 2)."""
    if not folder.is_dir():
        raise RecipeError(f"--nbest-dir {folder}: no such folder")
    test = find_nbest(folder, "test")
    if test is None:
        raise RecipeError(f"--nbest-dir {folder}: no {NBEST_FILES['test']} or "
                          f"{NBEST_FILES['test']}.gz (the baseline's 1000-best list of "
                          "newstest2014, Moses format)")
    return test


def prepare(output: Path, sources: list[str], nbest_dir: Path | None = None,
            checksums: dict[str, str] | None = None) -> dict[str, int]:
    """Fetch, verify, unpack and lay out the data; returns line counts per output."""
    if nbest_dir is not None:
        check_nbest_dir(nbest_dir)  # before the downloads
    expected = PINNED_MD5 if checksums is None else checksums
    downloads = output / "download"
    downloads.mkdir(parents=True, exist_ok=True)
    archives = {k: fetch(v, sources, downloads, expected.get(v)) for k, v in ARCHIVES.items()}
    counts: dict[str, int] = {}
    train = extract(archives["train"], downloads / "train")
    devtest = extract(archives["devtest"], downloads / "devtest")
    counts["train"] = write_pairs(find_pairs(train), output / "train.en.gz",
                                  output / "train.fr.gz")
    for split, stem in (("valid", VALID), ("test", TEST)):
        sides = [find_side(devtest, stem, lang) for lang in ("en", "fr")]
        if sides[0] is None or sides[1] is None:
            raise RecipeError(f"{archives['devtest']}: no {stem}.en / {stem}.fr inside")
        counts[split] = write_pairs([(sides[0], sides[1])], output / f"{split}.en",
                                    output / f"{split}.fr")
    if nbest_dir is not None:
        (output / "nbest").mkdir(exist_ok=True)
        for split in ("valid", "test"):
            found = find_nbest(nbest_dir, split)
            if found is not None:
                counts[f"nbest-{split}"] = copy_nbest(found, output / "nbest" /
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
    parser.add_argument("--mirror", help="where the archives are instead of LIUM's two "
                        "locations: a URL or a local folder")
    parser.add_argument("--nbest-dir", type=Path,
                        help="the baseline's 1000-best lists you have, Moses format: "
                        "DIR/test.1000best[.gz] (newstest2014), optionally "
                        "DIR/valid.1000best[.gz]")
    parser.add_argument("--checksums", type=Path,
                        help="a JSON object {archive name: MD5} to check instead of the pinned "
                        "sums (for a mirror of other files, such as the tests' tiny one)")
    args = parser.parse_args()
    try:
        sums = None
        if args.checksums is not None:
            try:
                sums = json.loads(args.checksums.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as err:
                raise RecipeError(f"{args.checksums}: not a JSON object of MD5 sums "
                                  f"({err})") from None
        sources = [args.mirror] if args.mirror else list(LOCATIONS)
        counts = prepare(args.output, sources, args.nbest_dir, sums)
    except RecipeError as err:
        print(f"prepare: error: {err}", file=sys.stderr)
        sys.exit(2)
    for name, n in counts.items():
        print(f"{name}: {n} lines", file=sys.stderr)


if __name__ == "__main__":
    main()
