"""Global attention (Luong et al. 2015) through every path that uses a model: teacher forcing
equals stepping, the prefix-trie scorer, the channel scorer and right-to-left scoring equal a
plain forward pass, beam search reports forced-decoding scores (ensembles mixing models with
and without attention included), and the weights are a distribution over the real source
positions in reading order."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from rescore.beam import Ensemble, SearchConfig, beam_search, forced_score, greedy_search
from rescore.config import ModelConfig
from rescore.corpus import make_batch
from rescore.errors import RescoreError
from rescore.model import Seq2Seq
from rescore.scoring import score_channel, score_pairs, score_prefix_shared
from rescore.vocab import BOS_ID, EOS_ID, SPECIALS, Vocab

WORDS = [f"w{i}" for i in range(12)]
VOCAB = Vocab([*SPECIALS, *WORDS])
KINDS = [("dot", False), ("general", False), ("concat", False), ("dot", True),
         ("concat", True)]


def tiny(seed: int, attention: str = "dot", input_feeding: bool = False,
         **config: bool) -> Seq2Seq:
    torch.manual_seed(seed)
    cfg = ModelConfig(src_vocab_size=len(VOCAB), tgt_vocab_size=len(VOCAB), embed_dim=8,
                      hidden_dim=10, num_layers=2, attention=attention,
                      input_feeding=input_feeding, init_range=0.5, **config)
    return Seq2Seq(cfg).eval()


def words(rng: np.random.Generator, low: int, high: int) -> list[str]:
    return [str(w) for w in rng.choice(WORDS, int(rng.integers(low, high)))]


def nbest_like(rng: np.random.Generator, n: int) -> list[list[str]]:
    """Hypotheses sharing prefixes and repeating (some empty, some out of the vocabulary)."""
    stem = words(rng, 5, 6)
    return [stem[:int(rng.integers(0, 6))]
            + [str(w) for w in rng.choice([*WORDS, "oov"], int(rng.integers(0, 3)))]
            for _ in range(n)]


@pytest.mark.parametrize(("attention", "feeding"), KINDS)
@torch.no_grad()
def test_stepping_equals_teacher_forcing_in_a_padded_batch(attention: str,
                                                           feeding: bool) -> None:
    m = tiny(0, attention, feeding)
    batch = make_batch([np.array([5, 6, 7]), np.array([8, 9, 10, 11, 12, 4])],
                       [np.array([4, 9, 11]), np.array([7])])
    teacher = m.token_log_probs(batch)
    for row, target in enumerate([[4, 9, 11], [7]]):
        one = make_batch([batch.src[row, : int(batch.src_lengths[row])].numpy()],
                         [np.array(target)])
        state = m.encode(one.src, one.src_lengths)
        prev, stepped = torch.tensor([BOS_ID]), []
        for token in [*target, EOS_ID]:
            logp, state = m.step(prev, state)
            stepped.append(float(logp[0, token]))
            prev = torch.tensor([token])
        np.testing.assert_allclose(teacher[row, : len(stepped)].numpy(), stepped, atol=1e-5)


@pytest.mark.parametrize("reverse", [True, False])
@torch.no_grad()
def test_weights_are_a_distribution_over_the_source_in_reading_order(reverse: bool) -> None:
    m = tiny(1, reverse_source=reverse)
    src = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 10, 11, 12]])
    state = m.encode(src, torch.tensor([3, 5]))
    _, state = m.step(torch.tensor([BOS_ID, BOS_ID]), state)
    weights = m.attention_weights(state)
    assert weights is not None and weights.shape == (2, 5)
    torch.testing.assert_close(weights.sum(1), torch.ones(2))
    assert bool((weights[0, 3:] == 0).all())
    # a reversed model and a forward one with the same weights, on the reversed source: the
    # same weights, mirrored (reading order in both)
    other = tiny(1, reverse_source=not reverse)
    flipped = other.encode(torch.tensor([[7, 6, 5]]), torch.tensor([3]))
    _, flipped = other.step(torch.tensor([BOS_ID]), flipped)
    w = other.attention_weights(flipped)
    assert w is not None
    torch.testing.assert_close(w[0].flip(0), weights[0, :3])


@pytest.mark.parametrize(("attention", "feeding"), KINDS)
@pytest.mark.parametrize("right_to_left", [False, True])
def test_prefix_trie_equals_a_plain_pass(attention: str, feeding: bool,
                                         right_to_left: bool) -> None:
    m = tiny(2, attention, feeding, reverse_target=right_to_left)
    rng = np.random.default_rng(2)
    sources = [words(rng, 0, 7) for _ in range(4)]
    hyps = [nbest_like(rng, 20) for _ in sources]
    order = -1 if right_to_left else 1
    got = score_prefix_shared(m, [VOCAB.encode(s) for s in sources],
                              [[VOCAB.encode(h[::order]) for h in hs] for hs in hyps],
                              node_batch=7)
    for src, hs, scores in zip(sources, hyps, got, strict=True):
        plain = score_pairs(m, VOCAB, VOCAB, [src] * len(hs), [h[::order] for h in hs],
                            batch_size=1).totals
        np.testing.assert_allclose(scores, plain, atol=1e-4)


@pytest.mark.parametrize(("attention", "feeding"), KINDS)
@pytest.mark.parametrize("reverse_source", [True, False])
def test_channel_equals_a_plain_pass(attention: str, feeding: bool,
                                     reverse_source: bool) -> None:
    m = tiny(3, attention, feeding, reverse_source=reverse_source)
    rng = np.random.default_rng(3)
    sources = [words(rng, 1, 7) for _ in range(3)]
    hyps = [nbest_like(rng, 20) for _ in sources]
    got = score_channel(m, [[VOCAB.encode(h) for h in hs] for hs in hyps],
                        [VOCAB.encode(s) for s in sources], chunk=6)
    for src, hs, scores in zip(sources, hyps, got, strict=True):
        plain = score_pairs(m, VOCAB, VOCAB, hs, [src] * len(hs), batch_size=1).totals
        np.testing.assert_allclose(scores, plain, atol=1e-4)


def mixed(seed: int) -> Ensemble:
    """An ensemble of a model with attention, one with input feeding and one without."""
    return Ensemble([tiny(seed), tiny(seed + 1, "general", True), tiny(seed + 2, "none")])


@pytest.mark.parametrize("seed", range(3))
def test_beam_scores_equal_forced_decoding(seed: int) -> None:
    for ensemble in (Ensemble([tiny(seed, "concat")]), mixed(seed)):
        rng = np.random.default_rng(seed)
        sources = [VOCAB.encode(words(rng, 1, 8)) for _ in range(5)]
        found = beam_search(ensemble, sources, SearchConfig(beam=4, nbest=3))
        for src, hyps in zip(sources, found, strict=True):
            for hyp in hyps:
                total, members = forced_score(ensemble, src, hyp.tokens)
                assert hyp.score == pytest.approx(total, abs=1e-4)
                np.testing.assert_allclose(hyp.member_scores, members, atol=1e-4)


@pytest.mark.parametrize("seed", range(3))
def test_beam_one_equals_greedy_and_batched_equals_alone(seed: int) -> None:
    ensemble = mixed(seed)
    rng = np.random.default_rng(seed)
    sources = [VOCAB.encode(words(rng, 1, 8)) for _ in range(4)]
    cfg = SearchConfig(beam=1)
    batched = beam_search(ensemble, sources, cfg)
    for src, hyps in zip(sources, batched, strict=True):
        assert hyps[0].tokens == greedy_search(ensemble, src, cfg).tokens
    wide = SearchConfig(beam=5, nbest=2)
    for src, hyps in zip(sources, beam_search(ensemble, sources, wide), strict=True):
        alone = beam_search(ensemble, [src], wide)[0]
        assert [h.tokens for h in hyps] == [h.tokens for h in alone]


def test_large_beam_finds_the_exhaustive_optimum() -> None:
    m = Ensemble([tiny(4, "general")])
    src = VOCAB.encode(["w1", "w2"])
    cfg = SearchConfig(beam=40, max_len_a=0, max_len_b=2)
    best = beam_search(m, [src], cfg)[0][0]
    ids = range(len(SPECIALS), len(VOCAB))
    candidates = [list(c) for n in range(3) for c in itertools.product(ids, repeat=n)]
    exhaustive = max(forced_score(m, src, c)[0] for c in candidates)
    assert best.score == pytest.approx(exhaustive, abs=1e-4)


def test_unknown_attention_type_and_feeding_without_attention_are_refused() -> None:
    with pytest.raises(RescoreError, match="unknown attention type 'bahdanau'"):
        ModelConfig(attention="bahdanau")
    with pytest.raises(RescoreError, match="input feeding needs attention"):
        ModelConfig(input_feeding=True)


def test_alignment_is_the_argmax_of_the_weights_along_the_output() -> None:
    m = tiny(5, "general", True)
    ensemble = Ensemble([m, tiny(6, "none")])
    rng = np.random.default_rng(5)
    sources = [VOCAB.encode(words(rng, 2, 8)) for _ in range(4)]
    found = beam_search(ensemble, sources, SearchConfig(beam=3, nbest=2), align=True)
    for src, hyps in zip(sources, found, strict=True):
        for hyp in hyps:
            assert hyp.alignment is not None and len(hyp.alignment) == len(hyp.tokens)
            state = m.encode(torch.from_numpy(src.astype(np.int64)).unsqueeze(0),
                             torch.tensor([len(src)]))
            prev, expected = torch.tensor([BOS_ID]), []
            for token in hyp.tokens:
                _, state = m.step(prev, state)
                weights = m.attention_weights(state)
                assert weights is not None
                expected.append(int(weights[0].argmax()))
                prev = torch.tensor([token])
            assert hyp.alignment == expected
    plain = beam_search(ensemble, sources, SearchConfig(beam=3, nbest=2))
    assert [[h.tokens for h in hs] for hs in plain] == [[h.tokens for h in hs] for hs in found]


def test_replacing_unknown_words_in_reading_order() -> None:
    from rescore.beam import Hypothesis
    from rescore.translate import hypothesis_text
    from rescore.vocab import UNK_ID

    a, b = VOCAB.encode(["w1"])[0], VOCAB.encode(["w2"])[0]
    hyp = Hypothesis([int(a), UNK_ID, int(b), UNK_ID], -1.0, [-1.0], -1.0, [0, 2, 1, 0])
    source = ["x", "y", "z"]
    assert hypothesis_text(hyp, VOCAB, "replace", source=source) == "w1 z w2 x"
    assert hypothesis_text(hyp, VOCAB, "keep", source=source) == "w1 <unk> w2 <unk>"
    # a right-to-left model's tokens (and alignment) are in writing order: reversed at the end
    assert hypothesis_text(hyp, VOCAB, "replace", True, source) == "x w2 z w1"


def test_attention_matrix_rows_are_the_stepped_weights() -> None:
    from rescore.figures import attention_matrix

    m = tiny(7, "concat")
    src, target = VOCAB.encode(["w1", "w2", "w3"]), [5, 6]
    matrix = attention_matrix(Ensemble([m, tiny(8, "none")]), src, target)
    assert matrix is not None and matrix.shape == (3, 3)
    np.testing.assert_allclose(matrix.sum(1), 1.0, atol=1e-6)
    state = m.encode(torch.from_numpy(src.astype(np.int64)).unsqueeze(0), torch.tensor([3]))
    for t, prev in enumerate([BOS_ID, *target]):
        _, state = m.step(torch.tensor([prev]), state)
        weights = m.attention_weights(state)
        assert weights is not None
        np.testing.assert_allclose(matrix[t], weights[0].detach().numpy(), atol=1e-6)
    assert attention_matrix(Ensemble([tiny(8, "none")]), src, target) is None
