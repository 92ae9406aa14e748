"""Binarized corpora and vocabularies."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rescore.corpus import BinarizedCorpus, binarize, count_words, make_batch, make_tokenizer
from rescore.errors import InputError
from rescore.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Vocab


def files(tmp_path: Path, src: str, tgt: str) -> tuple[Path, Path]:
    (tmp_path / "s").write_text(src, encoding="utf-8")
    (tmp_path / "t").write_text(tgt, encoding="utf-8")
    return tmp_path / "s", tmp_path / "t"


def test_vocab_keeps_most_frequent_and_maps_the_rest_to_unk() -> None:
    vocab = Vocab.build(Counter({"a": 5, "b": 3, "c": 3, "d": 1}), 6)
    assert vocab.words[4:] == ["a", "b"]  # ties broken alphabetically: reproducible
    assert vocab.encode(["a", "c", "zz"]).tolist() == [4, UNK_ID, UNK_ID]


def test_binarize_round_trip_and_skips_are_counted(tmp_path: Path) -> None:
    src, tgt = files(tmp_path, "a b\n\nc d e f\nb a\n", "x y\nz\nx\ny y\n")
    tok = make_tokenizer("none", "en")
    sc, tc = count_words(src, tgt, tok, tok, max_len=3)
    sv, tv = Vocab.build(sc, 10), Vocab.build(tc, 10)
    stats = binarize(src, tgt, sv, tv, tmp_path / "bin", tok, tok, max_len=3)
    assert (stats.pairs, stats.kept, stats.skipped_empty, stats.skipped_long) == (4, 2, 1, 1)
    corpus = BinarizedCorpus(tmp_path / "bin")
    assert len(corpus) == 2
    s, t = corpus.pair(1)
    assert sv.decode(s.tolist()) == ["b", "a"] and tv.decode(t.tolist()) == ["y", "y"]
    assert isinstance(corpus.src_tokens, np.memmap)


def test_mismatched_line_counts(tmp_path: Path) -> None:
    src, tgt = files(tmp_path, "a\nb\nc\n", "x\ny\n")
    with pytest.raises(InputError, match=r"/s:3: more lines than .*/t \(2\)"):
        list(count_words(src, tgt, str.split, str.split, 10))


def test_moses_tokenizer_for_raw_text() -> None:
    tok = make_tokenizer("moses", "en")
    assert tok("A dog's toy, red.") == ["a", "dog", "'s", "toy", ",", "red", "."]


def test_make_batch_layout() -> None:
    batch = make_batch([np.array([5, 6]), np.array([7])], [np.array([8]), np.array([9, 10])])
    assert batch.src.tolist() == [[5, 6], [7, PAD_ID]]
    assert batch.tgt_in.tolist() == [[BOS_ID, 8, PAD_ID], [BOS_ID, 9, 10]]
    assert batch.tgt_out.tolist() == [[8, EOS_ID, PAD_ID], [9, 10, EOS_ID]]
    assert batch.tgt_tokens == 5
