"""A Moses system's data folder as the evidence pipeline reads it, laid out as
../shared/data/multi30k-en-fr (any language pair, any test set names)::

    train.SRC.gz train.TGT.gz          training text (tokenized as the lists)
    val.SRC val.TGT TEST.SRC TEST.TGT  tuning and test sets
    nbest/val.1000best.gz nbest/TEST.1000best.gz   Moses' n-best lists
    baseline/TEST.1best                Moses' 1-best output of the test set
    moses.ini.tuned                    Moses' tuned weights ([weight] section)
    lm/train.TGT.5g.arpa.gz            a language model of the training target text

The test sets are the names of ``nbest/*.1000best.gz`` other than ``val``. Every file is
checked before anything runs, and each missing one named.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rescore.errors import RescoreError


@dataclass(frozen=True)
class Layout:
    """The language codes and the test set of a data folder (names only)."""

    src: str = "en"
    tgt: str = "fr"
    test: str = "test2016"

    @property
    def langs(self) -> list[str]:
        """rescore-nbest's options for the list's languages."""
        return ["--src-lang", self.src, "--tgt-lang", self.tgt]

    def lm(self, folder: Path) -> Path:
        return folder / "lm" / f"train.{self.tgt}.5g.arpa.gz"

    def required(self) -> list[str]:
        """The files the evidence pipeline reads, relative to the folder."""
        return [f"train.{self.src}.gz", f"train.{self.tgt}.gz",
                *(f"{split}.{side}" for split in ("val", self.test)
                  for side in (self.src, self.tgt)),
                "nbest/val.1000best.gz", f"nbest/{self.test}.1000best.gz",
                f"baseline/{self.test}.1best", "moses.ini.tuned",
                f"lm/train.{self.tgt}.5g.arpa.gz"]


def test_sets(folder: Path) -> list[str]:
    """The test sets of a folder: its ``nbest/NAME.1000best.gz`` other than val."""
    names = (p.name.removesuffix(".1000best.gz") for p in (folder / "nbest").glob("*.1000best.gz"))
    return sorted(n for n in names if n != "val")


def discover(folder: Path, src: str = "en", tgt: str = "fr", test: str | None = None) -> Layout:
    """The layout of ``folder`` for the pair ``src``->``tgt``: its test set (``test``, or the
    only one the folder has, or test2016 among several), every file checked; one error that
    names each missing file."""
    if not folder.is_dir():
        raise RescoreError(f"{folder}: no such data folder")
    found = test_sets(folder)
    if test is None:
        if not found:
            raise RescoreError(f"{folder}: no test set (no nbest/NAME.1000best.gz besides "
                               "val)")
        test = found[0] if len(found) == 1 else ("test2016" if "test2016" in found else None)
        if test is None:
            raise RescoreError(f"{folder}: several test sets ({', '.join(found)}): choose one "
                               "with --test")
    layout = Layout(src, tgt, test)
    missing = [name for name in layout.required() if not (folder / name).is_file()]
    if missing:
        raise RescoreError(f"{folder}: missing {', '.join(missing)} (a data folder is laid out "
                           "as ../shared/data/multi30k-en-fr: docs/pipelines.md)")
    return layout


DEFAULT_LAYOUT = Layout()  # Multi30k en->fr, test2016
