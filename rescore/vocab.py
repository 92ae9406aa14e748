"""Vocabularies: the most frequent N words of a side, everything else mapped to <unk>; or
subword pieces (sentencepiece BPE or unigram) that spell every word.

A vocabulary owns its segmentation: :meth:`Vocab.encode` takes words and gives ids (a word
vocabulary one id a word, a subword vocabulary the ids of the word's pieces), and
:meth:`Vocab.decode` takes ids and gives words back. Scorers, prefix tries and beam search see
ids only and never learn what a piece is."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rescore.errors import InputError, RescoreError
from rescore.files import atomic_output, atomic_write_bytes, read_lines

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

    def encode(self, tokens: Sequence[str], reverse: bool = False) -> np.ndarray:
        """The ids of ``tokens`` (words); ``reverse``: in reverse order (a right-to-left
        model's target, reversed after segmentation)."""
        get = self.index.get
        ids = np.fromiter((get(t, UNK_ID) for t in tokens), dtype=np.int32)
        return np.ascontiguousarray(ids[::-1]) if reverse else ids

    def decode(self, ids: Iterable[int], replace: dict[int, str] | None = None) -> list[str]:
        """The words ``ids`` spell; ``replace``: position -> the string to put in place of
        the id there (unknown-word replacement)."""
        replace = replace or {}
        return [replace.get(i, self.words[t]) for i, t in enumerate(ids)]

    def word_positions(self, ids: Sequence[int] | np.ndarray) -> list[int]:
        """For each id, the index of the word it belongs to (a word vocabulary: its own)."""
        return list(range(len(ids)))

    def as_piece(self, word: str) -> str:
        """What :meth:`decode` puts in place of an id to give the whole word ``word``."""
        return word

    def fingerprint(self) -> str:
        """A short hash of the word list: equal vocabularies have equal fingerprints."""
        return hashlib.sha256("\n".join(self.words).encode("utf-8")).hexdigest()[:16]

    def save(self, path: str | Path) -> None:
        with atomic_output(path) as out:
            out.write("".join(w + "\n" for w in self.words))

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        """A vocabulary file; with a sentencepiece model beside it (``NAME.spm`` for
        ``NAME.vocab``), the subword vocabulary of that model."""
        words = read_lines(path)
        model = Path(path).with_suffix(SPM_SUFFIX)
        try:
            if model.exists():
                return SubwordVocab(words, model)
            return cls(words)
        except ValueError as err:
            raise InputError(path, 1, f"not a rescore vocabulary: {err}") from None


SPM_SUFFIX = ".spm"
WORD_START = "\u2581"  # sentencepiece's mark of a piece that starts a word
SUBWORD_TYPES = ("bpe", "unigram")
BYTE_PIECE = re.compile(r"<0x[0-9A-F]{2}>")  # sentencepiece's byte-fallback pieces


class SubwordVocab(Vocab):
    """Pieces of a sentencepiece model: ids 0-3 our specials (sentencepiece's own unknown
    piece is ``<unk>``), then the model's pieces in its order. Words are encoded by joining
    them with spaces and segmenting the line, so every word starts a new piece; decoding joins
    the pieces and splits at the word marks, giving back the same words."""

    def __init__(self, words: Sequence[str], model: Path) -> None:
        super().__init__(words)
        self.model_path = Path(model)
        try:
            self.processor, pieces = load_pieces(model)
        except InputError as err:
            raise ValueError(err.message) from None
        if pieces != self.words[len(SPECIALS):]:
            raise ValueError(f"its pieces are not those of {model}")
        self.starts = np.array([w.startswith(WORD_START) for w in self.words], dtype=bool)
        self.starts[UNK_ID] = True  # an unknown piece is a word of its own (as --unk replace)
        self.piece_bytes = [bytes([int(w[3:5], 16)]) if BYTE_PIECE.fullmatch(w)
                            else w.encode("utf-8") for w in self.words]

    def encode(self, tokens: Sequence[str], reverse: bool = False) -> np.ndarray:
        if not tokens:
            return np.zeros(0, dtype=np.int32)
        pieces = self.processor.EncodeAsPieces(" ".join(tokens))
        get = self.index.get
        ids = np.fromiter((get(p, UNK_ID) for p in pieces), dtype=np.int32)
        return np.ascontiguousarray(ids[::-1]) if reverse else ids

    def decode(self, ids: Iterable[int], replace: dict[int, str] | None = None) -> list[str]:
        """Pieces joined into words (byte pieces as the UTF-8 bytes they stand for;
        ``replace``d positions as the strings given)."""
        replace = replace or {}
        raw = b"".join(replace[i].encode("utf-8") if i in replace else self.piece_bytes[t]
                       for i, t in enumerate(ids))
        return raw.decode("utf-8", errors="replace").replace(WORD_START, " ").split()

    def as_piece(self, word: str) -> str:
        return WORD_START + word

    def word_positions(self, ids: Sequence[int] | np.ndarray) -> list[int]:
        out, word = [], -1
        for i, t in enumerate(ids):
            if i == 0 or self.starts[t]:
                word += 1
            out.append(word)
        return out


def train_subwords(text: Iterable[str], output: Path, kind: str, size: int) -> Path:
    """Train a sentencepiece model of ``kind`` (bpe, unigram) with ``size`` ids in all (our
    four specials included) on the lines ``text`` (tokenized words joined by spaces); writes
    ``output`` (the model) and returns it. Text is kept as it is (no normalisation), and a
    character the training text lacks is spelled in byte pieces (byte fallback: 256 of the
    ids), so decoding gives back exactly the tokens encoded."""
    import io

    import sentencepiece as spm

    if kind not in SUBWORD_TYPES:
        raise ValueError(f"unknown subword type {kind!r}")
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(text), model_writer=model, model_type=kind,
            vocab_size=size - len(SPECIALS) + 1, character_coverage=1.0,
            normalization_rule_name="identity", unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1,
            num_threads=1, minloglevel=2, input_sentence_size=2_000_000,
            shuffle_input_sentence=True, hard_vocab_limit=False, byte_fallback=True)
    except RuntimeError as err:  # sentencepiece's checks, e.g. a size below its minimum
        detail = str(err).split("]", 1)[-1].strip().split(". Increase")[0]
        raise RescoreError(f"{output.name}: sentencepiece cannot train a {kind} model of "
                           f"{size} pieces on this text ({detail}); give a larger vocabulary "
                           "size (byte fallback alone takes 256)") from None
    atomic_write_bytes(output, model.getvalue())
    return output


def load_pieces(model: Path) -> tuple[Any, list[str]]:
    """A sentencepiece model's processor and its pieces in id order (its unknown piece and
    control symbols left out: our specials stand for them)."""
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor()
    try:
        processor.Load(str(model))
    except (OSError, RuntimeError) as err:
        raise InputError(model, None, f"not a sentencepiece model ({err})") from None
    return processor, [processor.IdToPiece(i) for i in range(processor.GetPieceSize())
                       if not processor.IsUnknown(i) and not processor.IsControl(i)]


def subword_vocab(model: Path, vocab_path: Path) -> SubwordVocab:
    """The vocabulary of a sentencepiece model, saved at ``vocab_path`` (the model copied
    beside it as ``NAME.spm``)."""
    _, pieces = load_pieces(model)
    target = vocab_path.with_suffix(SPM_SUFFIX)
    if Path(model).resolve() != target.resolve():
        atomic_write_bytes(target, Path(model).read_bytes())
    Vocab([*SPECIALS, *pieces]).save(vocab_path)
    return SubwordVocab([*SPECIALS, *pieces], target)
