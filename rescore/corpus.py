"""Parallel corpora: tokenization, a binarized on-disk form, and length-bucketed batches.

A corpus is streamed twice (count words, then encode) and written as flat int32 token files
plus per-pair lengths, read back through numpy memmaps: a corpus of 12M pairs is never a list
of Python strings in RAM. What stays in memory is one int32 length per pair and side (for
bucketing), 8 bytes a pair.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from rescore.errors import InputError, RescoreError, unknown_choice
from rescore.files import iter_line_chunks
from rescore.vocab import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    SPM_SUFFIX,
    Vocab,
    subword_vocab,
    train_subwords,
)

TRAIN_TOKENIZERS = ("none", "moses")  # how training text is split into words
Tokenizer = Callable[[str], list[str]]


def make_tokenizer(mode: str, lang: str) -> Tokenizer:
    """``none``: the text is already tokenized (split on spaces); ``moses``: sacremoses'
    Moses tokenizer without XML escaping, then lowercasing (as the shared Multi30k data)."""
    if mode == "none":
        return str.split
    if mode == "moses":
        from sacremoses import MosesTokenizer

        tok = MosesTokenizer(lang=lang)
        return lambda line: tok.tokenize(line, escape=False, return_str=True).lower().split()
    raise unknown_choice("tokenizer", mode, TRAIN_TOKENIZERS)


def iter_pairs(src: Path, tgt: Path) -> Iterator[tuple[int, str, str]]:
    """``(line number, source line, target line)``; a length mismatch is an error."""
    src_lines = (ln for _, chunk in iter_line_chunks(src) for ln in chunk)
    tgt_lines = (ln for _, chunk in iter_line_chunks(tgt) for ln in chunk)
    for n, (s, t) in enumerate(itertools.zip_longest(src_lines, tgt_lines), 1):
        if s is None or t is None:
            longer, shorter = (src, tgt) if s is not None else (tgt, src)
            raise InputError(longer, n, f"more lines than {shorter} ({n - 1}): source and "
                             "target files must have the same number of lines")
        yield n, s, t


@dataclass
class CorpusStats:
    """What binarization kept and skipped (empty lines and over-long pairs are skipped and
    counted, never silently)."""

    pairs: int = 0
    kept: int = 0
    skipped_empty: int = 0
    skipped_long: int = 0
    src_tokens: int = 0
    tgt_tokens: int = 0


def count_words(src: Path, tgt: Path, src_tok: Tokenizer, tgt_tok: Tokenizer,
                max_len: int) -> tuple[Counter[str], Counter[str]]:
    """Word counts over the pairs that binarization keeps."""
    src_counts: Counter[str] = Counter()
    tgt_counts: Counter[str] = Counter()
    for _, s, t in iter_pairs(src, tgt):
        sw, tw = src_tok(s), tgt_tok(t)
        if sw and tw and len(sw) <= max_len and len(tw) <= max_len:
            src_counts.update(sw)
            tgt_counts.update(tw)
    return src_counts, tgt_counts


def binarize(src: Path, tgt: Path, src_vocab: Vocab, tgt_vocab: Vocab, out_dir: Path,
             src_tok: Tokenizer, tgt_tok: Tokenizer, max_len: int,
             reverse_target: bool = False) -> CorpusStats:
    """Write ``out_dir/{src,tgt}.tokens`` (int32), ``{src,tgt}.lengths`` (int32) and
    ``meta.json``. Pairs with an empty side are skipped, as are pairs with more than
    ``max_len`` tokens on either side; both are counted in the returned stats.
    ``reverse_target``: store each target right to left (a right-to-left model's data)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stats = CorpusStats()
    names = ("src.tokens", "tgt.tokens", "src.lengths", "tgt.lengths")
    with contextlib.ExitStack() as stack:
        files = {n: stack.enter_context(open(out_dir / f"{n}.tmp", "wb")) for n in names}
        for _, s, t in iter_pairs(src, tgt):
            stats.pairs += 1
            sw, tw = src_tok(s), tgt_tok(t)
            if not sw or not tw:
                stats.skipped_empty += 1
                continue
            if len(sw) > max_len or len(tw) > max_len:
                stats.skipped_long += 1
                continue
            stats.kept += 1
            stats.src_tokens += len(sw)
            stats.tgt_tokens += len(tw)
            src_ids, tgt_ids = src_vocab.encode(sw), tgt_vocab.encode(tw, reverse=reverse_target)
            files["src.tokens"].write(src_ids.tobytes())
            files["tgt.tokens"].write(tgt_ids.tobytes())
            files["src.lengths"].write(np.int32(len(src_ids)).tobytes())
            files["tgt.lengths"].write(np.int32(len(tgt_ids)).tobytes())
    if stats.kept == 0:
        raise InputError(src, None, "no usable sentence pairs (all empty or too long)")
    for name in names:
        (out_dir / f"{name}.tmp").replace(out_dir / name)
    meta = {"stats": asdict(stats), "max_len": max_len,
            "src_vocab": src_vocab.fingerprint(), "tgt_vocab": tgt_vocab.fingerprint()}
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return stats


class BinarizedCorpus:
    """A binarized corpus read through memmaps: pair ``i`` is two int32 arrays."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        try:
            self.meta = json.loads((directory / "meta.json").read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise RescoreError(f"{directory}: not a binarized corpus: {err}") from None
        self.src_lengths = np.fromfile(directory / "src.lengths", dtype=np.int32)
        self.tgt_lengths = np.fromfile(directory / "tgt.lengths", dtype=np.int32)
        self.src_offsets = np.concatenate([[0], np.cumsum(self.src_lengths, dtype=np.int64)])
        self.tgt_offsets = np.concatenate([[0], np.cumsum(self.tgt_lengths, dtype=np.int64)])
        self.src_tokens = np.memmap(directory / "src.tokens", dtype=np.int32, mode="r")
        self.tgt_tokens = np.memmap(directory / "tgt.tokens", dtype=np.int32, mode="r")

    def __len__(self) -> int:
        return len(self.src_lengths)

    def pair(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        s = self.src_tokens[self.src_offsets[i]:self.src_offsets[i + 1]]
        t = self.tgt_tokens[self.tgt_offsets[i]:self.tgt_offsets[i + 1]]
        return np.asarray(s), np.asarray(t)

    def batch(self, indices: np.ndarray) -> Batch:
        pairs = [self.pair(int(i)) for i in indices]
        return make_batch([p[0] for p in pairs], [p[1] for p in pairs])


@dataclass
class Batch:
    """Padded tensors of one batch.

    ``src (B, S)`` and ``src_lengths (B,)``: source ids in reading order (the model reverses
    them when configured to); ``tgt_in (B, T+1)``: ``<s> y1 .. yT``; ``tgt_out (B, T+1)``:
    ``y1 .. yT </s>``; padding is PAD_ID. ``tgt_tokens``: target tokens scored, </s> included.
    """

    src: torch.Tensor
    src_lengths: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor

    @property
    def size(self) -> int:
        return int(self.src.shape[0])

    @property
    def tgt_tokens(self) -> int:
        return int((self.tgt_out != PAD_ID).sum())

    def select(self, rows: slice) -> Batch:
        return Batch(self.src[rows], self.src_lengths[rows], self.tgt_in[rows],
                     self.tgt_out[rows])

    def to(self, device: torch.device) -> Batch:
        return Batch(self.src.to(device), self.src_lengths, self.tgt_in.to(device),
                     self.tgt_out.to(device))


def make_batch(sources: list[np.ndarray], targets: list[np.ndarray]) -> Batch:
    n = len(sources)
    src_len = np.array([len(s) for s in sources], dtype=np.int64)
    tgt_len = np.array([len(t) for t in targets], dtype=np.int64)
    src = np.full((n, max(1, int(src_len.max()))), PAD_ID, dtype=np.int64)
    tgt_in = np.full((n, int(tgt_len.max()) + 1), PAD_ID, dtype=np.int64)
    tgt_out = np.full_like(tgt_in, PAD_ID)
    for i, (s, t) in enumerate(zip(sources, targets, strict=True)):
        src[i, : len(s)] = s
        tgt_in[i, 0] = BOS_ID
        tgt_in[i, 1: len(t) + 1] = t
        tgt_out[i, : len(t)] = t
        tgt_out[i, len(t)] = EOS_ID
    return Batch(torch.from_numpy(src), torch.from_numpy(src_len), torch.from_numpy(tgt_in),
                 torch.from_numpy(tgt_out))


def epoch_batches(src_lengths: np.ndarray, tgt_lengths: np.ndarray, batch_size: int,
                  seed: int, epoch: int) -> list[np.ndarray]:
    """Batches of pairs of similar length for one epoch, a pure function of (seed, epoch).

    Pairs are sorted by (target length, source length), ties broken by a seeded random
    permutation, cut into batches of ``batch_size``, and the batch order is shuffled (the
    buckets are shuffled, not the pairs). Being a pure function of its arguments, the same
    epoch can be regenerated exactly when a run resumes.
    """
    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(len(src_lengths))
    key = tgt_lengths[perm].astype(np.int64) * (int(src_lengths.max()) + 1) + src_lengths[perm]
    order = perm[np.argsort(key, kind="stable")]
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    shuffled = rng.permutation(len(batches))
    return [batches[i] for i in shuffled]


@dataclass
class PreparedData:
    src_vocab: Vocab
    tgt_vocab: Vocab
    train: BinarizedCorpus
    valid: BinarizedCorpus | None
    stats: dict[str, CorpusStats]


@dataclass(frozen=True)
class DataFiles:
    """Where a run's prepared data lives: its two vocabularies and the folder of binarized
    corpora (a model directory's names for them are :func:`rescore.model_dir.data_files`)."""

    src_vocab: Path
    tgt_vocab: Path
    data: Path


@dataclass(frozen=True)
class Subwords:
    """Subword vocabularies: sentencepiece models of ``kind`` trained on the training text
    (each side's size the model's vocabulary size), or the given ``src_model`` /
    ``tgt_model`` reused."""

    kind: str = "bpe"
    src_model: Path | None = None
    tgt_model: Path | None = None


def _side_text(src: Path, tgt: Path, tok: Tokenizer, side: int, max_len: int,
               other: Tokenizer) -> Iterator[str]:
    """The kept training pairs' ``side`` (0 source, 1 target) as tokenized lines."""
    for _, s, t in iter_pairs(src, tgt):
        sw, tw = (tok(s), other(t)) if side == 0 else (other(s), tok(t))
        if sw and tw and len(sw) <= max_len and len(tw) <= max_len:
            yield " ".join(sw if side == 0 else tw)


def prepare_data(files: DataFiles, src_train: Path, tgt_train: Path, src_valid: Path | None,
                 tgt_valid: Path | None, src_vocab_size: int, tgt_vocab_size: int,
                 tokenize: str, src_lang: str, tgt_lang: str, max_len: int,
                 reverse_target: bool = False,
                 subwords: Subwords | None = None, shared: bool = False) -> PreparedData:
    """Build the vocabularies from the training data (``files.src_vocab``,
    ``files.tgt_vocab``; with ``subwords``, sentencepiece models beside them) and binarize
    training and validation data under ``files.data``. Validation pairs are never skipped for
    length (only empty ones are), so perplexities cover the whole set. ``max_len`` counts
    words, with subwords too. ``shared``: one vocabulary for both sides (of
    ``src_vocab_size`` entries), built from both sides' training text (words, or one
    sentencepiece model), or the one sentencepiece model given for a side; given models that
    differ are refused."""
    src_tok, tgt_tok = make_tokenizer(tokenize, src_lang), make_tokenizer(tokenize, tgt_lang)
    if subwords is None:
        src_counts, tgt_counts = count_words(src_train, tgt_train, src_tok, tgt_tok, max_len)
        if shared:
            src_counts = tgt_counts = src_counts + tgt_counts
            tgt_vocab_size = src_vocab_size
        src_vocab = Vocab.build(src_counts, src_vocab_size)
        tgt_vocab = Vocab.build(tgt_counts, tgt_vocab_size)
        src_vocab.save(files.src_vocab)
        tgt_vocab.save(files.tgt_vocab)
    else:
        given = (subwords.src_model, subwords.tgt_model)
        if shared and None in given:
            model = given[0] or given[1]
            if model is None:  # one model trained on both sides' text
                model = files.src_vocab.with_suffix(SPM_SUFFIX)
                train_subwords(itertools.chain(
                    _side_text(src_train, tgt_train, src_tok, 0, max_len, tgt_tok),
                    _side_text(src_train, tgt_train, tgt_tok, 1, max_len, src_tok)),
                    model, subwords.kind, src_vocab_size)
            given = (model, model)
        vocabs = []
        for side, (model, size, path, tok, other) in enumerate((
                (given[0], src_vocab_size, files.src_vocab, src_tok, tgt_tok),
                (given[1], tgt_vocab_size, files.tgt_vocab, tgt_tok, src_tok))):
            if model is None:
                model = path.with_suffix(SPM_SUFFIX)
                train_subwords(_side_text(src_train, tgt_train, tok, side, max_len, other),
                               model, subwords.kind, size)
            vocabs.append(subword_vocab(model, path))
        src_vocab, tgt_vocab = vocabs
        if shared and src_vocab.words != tgt_vocab.words:
            raise RescoreError(f"shared embeddings need one vocabulary on both sides: the "
                               f"sentencepiece models {given[0]} and {given[1]} differ (give "
                               f"one model as both, or leave them out to train one)")
    stats = {"train": binarize(src_train, tgt_train, src_vocab, tgt_vocab, files.data / "train",
                               src_tok, tgt_tok, max_len, reverse_target)}
    valid = None
    if src_valid is not None and tgt_valid is not None:
        stats["valid"] = binarize(src_valid, tgt_valid, src_vocab, tgt_vocab,
                                  files.data / "valid", src_tok, tgt_tok, 10**9,
                                  reverse_target)
        valid = BinarizedCorpus(files.data / "valid")
    return PreparedData(src_vocab, tgt_vocab, BinarizedCorpus(files.data / "train"),
                        valid, stats)


def load_prepared(files: DataFiles) -> PreparedData:
    """The vocabularies and binarized data a previous :func:`prepare_data` wrote."""
    valid_dir = files.data / "valid"
    return PreparedData(
        Vocab.load(files.src_vocab), Vocab.load(files.tgt_vocab),
        BinarizedCorpus(files.data / "train"),
        BinarizedCorpus(valid_dir) if valid_dir.exists() else None, {})
