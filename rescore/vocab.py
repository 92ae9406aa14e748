"""Vocabularies: the most frequent N words of a side, everything else mapped to <unk>."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from rescore.errors import InputError
from rescore.files import atomic_output, read_lines

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)


class Vocab:
    """Word <-> id. Ids 0-3 are <pad>, <unk>, <s>, </s>; words follow by falling frequency
    (ties in alphabetical order, so a vocabulary is reproducible)."""

    def __init__(self, words: Sequence[str]) -> None:
        if tuple(words[:4]) != SPECIALS:
            raise ValueError(f"a vocabulary starts with {SPECIALS}")
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("duplicate words in vocabulary")

    @classmethod
    def build(cls, counts: Counter[str], size: int) -> Vocab:
        """The ``size - 4`` most frequent words plus the four specials."""
        ranked = sorted((w for w in counts if w not in SPECIALS), key=lambda w: (-counts[w], w))
        return cls([*SPECIALS, *ranked[: max(0, size - len(SPECIALS))]])

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        get = self.index.get
        return np.fromiter((get(t, UNK_ID) for t in tokens), dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.words[i] for i in ids]

    def fingerprint(self) -> str:
        """A short hash of the word list: equal vocabularies have equal fingerprints."""
        return hashlib.sha256("\n".join(self.words).encode("utf-8")).hexdigest()[:16]

    def save(self, path: str | Path) -> None:
        with atomic_output(path) as out:
            out.write("".join(w + "\n" for w in self.words))

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        words = read_lines(path)
        try:
            return cls(words)
        except ValueError as err:
            raise InputError(path, 1, f"not a rescore vocabulary: {err}") from None
