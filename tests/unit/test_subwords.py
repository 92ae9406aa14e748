"""Subword vocabularies (sentencepiece BPE and unigram): a vocabulary owns its segmentation
(words in, piece ids out; piece ids in, words out); the prefix-trie scorers equal a plain
forced pass over the pieces for direct, channel and right-to-left models, and their score is
the log-probability of the whole word sequence; unknown-word replacement and attention plots
work on words."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from rescore.beam import Hypothesis
from rescore.config import ModelConfig, TrainConfig
from rescore.errors import InputError
from rescore.features import ChannelFeature, LSTMFeature
from rescore.figures import by_words
from rescore.model import Seq2Seq
from rescore.model_dir import SRC_VOCAB, TGT_VOCAB, save_config, save_weights
from rescore.nbest import read_nbest
from rescore.scoring import score_pairs
from rescore.translate import hypothesis_text
from rescore.vocab import UNK_ID, SubwordVocab, Vocab, subword_vocab, train_subwords

WORDS = [
    "the", "black", "dog", "runs", "on", "the", "green", "grass", ".", "a", "man", "in", "a",
    "red", "shirt", "plays", "the", "guitar", ".", "two", "girls", "are", "walking", "down",
    "the", "street", "with", "their", "mother", ".", "the", "children", "play"
]


def corpus(n: int = 300) -> list[str]:
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(WORDS, int(rng.integers(3, 12)))) for _ in range(n)]


@pytest.fixture(scope="module", params=["bpe", "unigram"])
def vocab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Vocab:
    folder = tmp_path_factory.mktemp(request.param)
    model = train_subwords(corpus(), folder / "m.spm", request.param, 400)
    return subword_vocab(model, folder / "side.vocab")


def test_words_round_trip_through_pieces(vocab: Vocab) -> None:
    assert isinstance(vocab, SubwordVocab) and len(vocab) <= 400
    for line in ("the dog runs .", "a zebra-like xylophone plays", "d' aujourd'hui ."):
        words = line.split()
        ids = vocab.encode(words)
        assert vocab.decode(ids.tolist()) == words  # the same tokens back, unseen ones too
        assert len(ids) >= len(words)
        positions = vocab.word_positions(ids)
        assert positions[0] == 0 and positions[-1] == len(words) - 1
        assert positions == sorted(positions)
        assert vocab.encode(words, reverse=True).tolist() == ids.tolist()[::-1]
    reloaded = Vocab.load(Path(vocab.model_path).with_suffix(".vocab"))  # type: ignore[attr-defined]
    assert isinstance(reloaded, SubwordVocab)
    assert reloaded.fingerprint() == vocab.fingerprint()


def test_a_vocabulary_that_does_not_match_its_model_is_refused(vocab: Vocab,
                                                              tmp_path: Path) -> None:
    path = tmp_path / "side.vocab"
    Vocab([*vocab.words[:-1], "extra-piece"]).save(path)
    path.with_suffix(".spm").write_bytes(Path(vocab.model_path).read_bytes())  # type: ignore[attr-defined]
    with pytest.raises(InputError, match="its pieces are not those of"):
        Vocab.load(path)
    path.with_suffix(".spm").write_bytes(b"not a model")
    with pytest.raises(InputError, match="not a sentencepiece model"):
        Vocab.load(path)


def tiny(vocab: Vocab, seed: int, **config: object) -> Seq2Seq:
    torch.manual_seed(seed)
    cfg = ModelConfig(src_vocab_size=len(vocab), tgt_vocab_size=len(vocab), embed_dim=8,
                      hidden_dim=10, num_layers=2, init_range=0.5,
                      **config)  # type: ignore[arg-type]
    return Seq2Seq(cfg).eval()


def write_model(directory: Path, model: Seq2Seq, vocab: Vocab,
                languages: tuple[str, str]) -> Path:
    directory.mkdir(parents=True)
    save_config(directory, model.config, TrainConfig(),
                {"languages": {"source": languages[0], "target": languages[1]}})
    for name in (SRC_VOCAB, TGT_VOCAB):
        subword_vocab(vocab.model_path, directory / name)  # type: ignore[attr-defined]
    save_weights(model, directory)
    return directory


@pytest.mark.parametrize("attention", ["none", "dot"])
def test_trie_scores_equal_a_plain_pass_over_the_pieces(vocab: Vocab, tmp_path: Path,
                                                        attention: str) -> None:
    nbest = tmp_path / "l.nbest"
    hyps = ["the dog runs on the grass .", "the dog runs on the grassy lawn .",
            "the dogs run on the grass .", "the dog runs on the grass .", "", "xyz qwerty"]
    nbest.write_text("".join(f"0 ||| {h} ||| LM0= -1 ||| -1\n" for h in hyps))
    block = next(read_nbest(nbest))
    src = ["a", "man", "plays", "the", "guitar"]
    words = [h.split() for h in block.hypotheses]
    direct = tiny(vocab, 1, attention=attention)
    feature = LSTMFeature(write_model(tmp_path / "direct", direct, vocab, ("en", "fr")))
    values = feature.score_block(block, " ".join(src))[:, 0]
    plain = score_pairs(direct, vocab, vocab, [src] * len(words), words, batch_size=1).totals
    np.testing.assert_allclose(values, plain, atol=1e-4)
    assert values[0] == values[3]
    channel = tiny(vocab, 2, attention=attention)
    feature = ChannelFeature(write_model(tmp_path / "channel", channel, vocab, ("fr", "en")))
    values = feature.score_block(block, " ".join(src))[:, 0]
    plain = score_pairs(channel, vocab, vocab, words, [src] * len(words), batch_size=1).totals
    np.testing.assert_allclose(values, plain, atol=1e-4)
    r2l = tiny(vocab, 3, attention=attention, reverse_target=True)
    feature = LSTMFeature(write_model(tmp_path / "r2l", r2l, vocab, ("en", "fr")))
    values = feature.score_block(block, " ".join(src))[:, 0]
    plain = score_pairs(r2l, vocab, vocab, [src] * len(words), words, batch_size=1,
                        reverse_target=True).totals
    np.testing.assert_allclose(values, plain, atol=1e-4)
    forward = Seq2Seq(dataclasses.replace(r2l.config, reverse_target=False)).eval()
    forward.load_state_dict(r2l.state_dict())
    left_to_right = score_pairs(forward, vocab, vocab, [src] * len(words), words).totals
    assert not np.allclose(values[:3], left_to_right[:3])  # the pieces in the model's order


def test_the_score_is_the_sum_over_a_words_pieces(vocab: Vocab) -> None:
    model = tiny(vocab, 4)
    src, tgt = ["the", "dog"], ["the", "grassy", "lawn"]
    scores = score_pairs(model, vocab, vocab, [src], [tgt], batch_size=1)
    pieces = vocab.encode(tgt)
    assert len(scores.tokens[0]) == len(pieces) + 1  # every piece and </s>
    assert scores.totals[0] == pytest.approx(scores.tokens[0].sum())


def test_unknown_word_replacement_and_attention_plots_work_on_words(vocab: Vocab) -> None:
    source = ["the", "guitarist", "plays"]
    src_ids = vocab.encode(source)
    positions = vocab.word_positions(src_ids)
    guitarist = positions.index(1)  # the first piece of the source's second word
    out = [int(t) for t in vocab.encode(["a", "man"])]
    hyp = Hypothesis(tokens=[*out, UNK_ID], score=0.0, rank_score=0.0, member_scores=[0.0],
                     alignment=[0] * len(out) + [guitarist])
    text = hypothesis_text(hyp, vocab, "replace", False, source, positions)
    assert text == "a man guitarist"
    assert hypothesis_text(hyp, vocab, "drop") == "a man"
    # right to left: ids in the model's order, words in reading order
    rtl = Hypothesis(tokens=[UNK_ID, *out[::-1]], score=0.0, rank_score=0.0,
                     member_scores=[0.0], alignment=[guitarist] + [0] * len(out))
    assert hypothesis_text(rtl, vocab, "replace", True, source, positions) == "a man guitarist"
    matrix = np.random.default_rng(0).dirichlet(np.ones(len(src_ids)), size=len(out) + 2)
    words = by_words(matrix, positions, vocab.word_positions([*out, UNK_ID]))
    assert words.shape == (3 + 1, 3)  # output words and </s>, by source words
    np.testing.assert_allclose(words.sum(axis=1), 1.0)
    np.testing.assert_allclose(words[-1], np.bincount(positions, matrix[-1]))
