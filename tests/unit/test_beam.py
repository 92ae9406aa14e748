"""Beam search: each part alone, the whole on a scripted fake model, and the invariants on a
tiny real model (beam 1 == greedy, reported score == forced decoding, a large beam finds the
exhaustive optimum, batched == one sentence at a time)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
import torch

from rescore.beam import (
    Ensemble,
    SearchConfig,
    beam_search,
    beam_topk,
    forced_score,
    greedy_search,
    rerank,
    select_candidates,
)
from rescore.config import ModelConfig
from rescore.errors import RescoreError
from rescore.model import Seq2Seq
from rescore.scoring import score_pairs
from rescore.vocab import EOS_ID, SPECIALS, UNK_ID, Vocab

A, B, C = 4, 5, 6  # word ids after the four specials
V = 7


class ScriptedModel:
    """A fake decoder: the next-token distribution depends only on the previous token, from a
    fixed table; the state is the previous token (rows follow the batch)."""

    def __init__(self, table: dict[int, dict[int, float]]) -> None:
        self.table = table
        self.steps = 0

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> torch.Tensor:
        return torch.zeros(src.shape[0], dtype=torch.long)

    def step(self, prev: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, Any]:
        self.steps += 1
        out = torch.full((prev.shape[0], V), -math.inf)
        for row, token in enumerate(prev.tolist()):
            for nxt, p in self.table.get(token, {EOS_ID: 1.0}).items():
                out[row, nxt] = math.log(p)
        return out, prev.clone()

    def select_state(self, state: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return state.index_select(0, index)


# greedy takes A (0.6) then ends at 0.4; B (0.4) is followed by </s> for sure
GARDEN_PATH = {2: {A: 0.6, B: 0.4}, A: {A: 0.3, B: 0.3, EOS_ID: 0.4}, B: {EOS_ID: 1.0}}
SOURCE = np.array([A], dtype=np.int32)


def test_select_candidates_splits_finished_and_continuing() -> None:
    scores = torch.tensor([[0.0, -1.0]])
    log_probs = torch.full((1, 2, V), -math.inf)
    log_probs[0, 0, EOS_ID] = -0.1  # best overall: finishes
    log_probs[0, 0, A] = -0.5
    log_probs[0, 1, B] = -0.2
    log_probs[0, 1, EOS_ID] = -3.0  # rank 3 of 4: outside the first K = 2, not finished
    cand = select_candidates(scores, log_probs)
    assert cand.finished == [(0, 0, pytest.approx(-0.1))]
    assert cand.next_beams.tolist() == [[0, 1]]
    assert cand.next_tokens.tolist() == [[A, B]]
    assert cand.next_scores[0].tolist() == pytest.approx([-0.5, -1.2])


def test_ensemble_combinations() -> None:
    members = torch.log(torch.tensor([[[0.5, 0.5]], [[0.9, 0.1]]]))
    models = [ScriptedModel({}), ScriptedModel({})]
    linear = Ensemble(models, "linear").combine(members).exp()
    assert linear[0].tolist() == pytest.approx([0.7, 0.3])
    loglin = Ensemble(models, "log-linear").combine(members).exp()
    geo = torch.sqrt(torch.tensor([0.45, 0.05]))
    assert loglin[0].tolist() == pytest.approx((geo / geo.sum()).tolist())
    with pytest.raises(RescoreError):
        Ensemble(models, "max")


def test_scripted_garden_path() -> None:
    model = Ensemble([ScriptedModel(GARDEN_PATH)])
    greedy = beam_search(model, [SOURCE], SearchConfig(beam=1))[0][0]
    assert greedy.tokens == [A] and greedy.score == pytest.approx(math.log(0.6 * 0.4))
    best = beam_search(model, [SOURCE], SearchConfig(beam=2, nbest=2))[0]
    assert [h.tokens for h in best] == [[B], [A]]
    assert best[0].score == pytest.approx(math.log(0.4))


def test_scripted_max_length_forces_the_end() -> None:
    loop = {2: {A: 1.0}, A: {A: 0.9, EOS_ID: 0.1}}
    cfg = SearchConfig(beam=1, max_len_a=0.0, max_len_b=3)
    hyp = beam_search(Ensemble([ScriptedModel(loop)]), [SOURCE], cfg)[0][0]
    assert hyp.tokens == [A, A, A]
    # at the limit only </s> may follow, scored with its model probability
    assert hyp.score == pytest.approx(math.log(0.9 * 0.9 * 0.1))
    assert greedy_search(Ensemble([ScriptedModel(loop)]), SOURCE, cfg).tokens == [A, A, A]


def test_scripted_stops_early_when_nothing_can_win() -> None:
    model = ScriptedModel({2: {B: 0.9, A: 0.1}, A: {A: 0.5, EOS_ID: 0.5}})
    beam_search(Ensemble([model]), [SOURCE], SearchConfig(beam=2, max_len_b=50))
    assert model.steps <= 3  # B </s> at 0.9 beats every continuation of A after step 2


def test_unk_policies() -> None:
    table = {2: {UNK_ID: 0.7, A: 0.3}}
    keep = beam_search(Ensemble([ScriptedModel(table)]), [SOURCE], SearchConfig(beam=2))
    forbid = beam_search(Ensemble([ScriptedModel(table)]), [SOURCE],
                         SearchConfig(beam=2, unk="forbid"))
    assert keep[0][0].tokens == [UNK_ID] and forbid[0][0].tokens == [A]


def test_length_normalisation_prefers_longer() -> None:
    table = {2: {A: 0.5, B: 0.5}, A: {EOS_ID: 0.1, C: 0.9}, C: {EOS_ID: 1.0},
             B: {EOS_ID: 1.0}}
    plain = beam_search(Ensemble([ScriptedModel(table)]), [SOURCE], SearchConfig(beam=4))
    normed = beam_search(Ensemble([ScriptedModel(table)]), [SOURCE],
                         SearchConfig(beam=4, length_norm=True))
    assert plain[0][0].tokens == [B]  # log .5 = -0.69 beats log .45 = -0.80
    assert normed[0][0].tokens == [A, C]  # log(.45) / 3 = -0.27 beats log(.5) / 2 = -0.35
    assert normed[0][0].rank_score == pytest.approx(math.log(0.45) / 3)


def test_bad_config() -> None:
    with pytest.raises(RescoreError):
        SearchConfig(beam=2, nbest=3)
    with pytest.raises(RescoreError):
        SearchConfig(unk="copy")


# --- a tiny real model -----------------------------------------------------------------------

def tiny(seed: int, words: int = 10, init: float = 0.5) -> tuple[Seq2Seq, Vocab]:
    vocab = Vocab([*SPECIALS, *(f"w{i}" for i in range(words))])
    torch.manual_seed(seed)
    cfg = ModelConfig(src_vocab_size=len(vocab), tgt_vocab_size=len(vocab), embed_dim=8,
                      hidden_dim=12, num_layers=2, init_range=init)
    return Seq2Seq(cfg).eval(), vocab


def sources(seed: int, n: int, words: int = 10) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(4, 4 + words, int(rng.integers(1, 9))).astype(np.int32)
            for _ in range(n)]


@pytest.mark.parametrize("seed", range(3))
def test_beam_one_equals_greedy(seed: int) -> None:
    model, _ = tiny(seed)
    ens = Ensemble([model])
    srcs = sources(seed, 8)
    beams = beam_search(ens, srcs, SearchConfig(beam=1))
    for src, (hyp,) in zip(srcs, beams, strict=True):
        greedy = greedy_search(ens, src, SearchConfig(beam=1))
        assert hyp.tokens == greedy.tokens
        assert hyp.score == pytest.approx(greedy.score, abs=1e-4)


@pytest.mark.parametrize("seed", range(3))
def test_reported_score_equals_forced_decoding(seed: int) -> None:
    model, vocab = tiny(seed)
    srcs = sources(seed, 6)
    out = beam_search(Ensemble([model]), srcs, SearchConfig(beam=5, nbest=3))
    pairs = [(s, h) for s, hyps in zip(srcs, out, strict=True) for h in hyps]
    forced = score_pairs(model, vocab, vocab, [vocab.decode(s.tolist()) for s, _ in pairs],
                         [vocab.decode(h.tokens) for _, h in pairs])
    assert [h.score for _, h in pairs] == pytest.approx(forced.totals.tolist(), abs=1e-4)
    assert [h.member_scores[0] for _, h in pairs] == pytest.approx(forced.totals.tolist(),
                                                                   abs=1e-4)


@pytest.mark.parametrize("mode", ["log-linear", "linear"])
def test_ensemble_scores_equal_forced_decoding(mode: str) -> None:
    ens = Ensemble([tiny(1)[0], tiny(2)[0], tiny(3)[0]], mode)
    srcs = sources(7, 3)
    cfg = SearchConfig(beam=4, nbest=4, max_len_a=1.0, max_len_b=3)
    for src, hyps in zip(srcs, beam_search(ens, srcs, cfg),
                         strict=True):
        for hyp in hyps:
            total, members = forced_score(ens, src, hyp.tokens)
            assert hyp.score == pytest.approx(total, abs=1e-4)
            assert hyp.member_scores == pytest.approx(members, abs=1e-4)


@pytest.mark.parametrize("seed", range(4))
def test_large_beam_finds_the_exhaustive_optimum(seed: int) -> None:
    model, _ = tiny(seed, words=2, init=1.0)  # peaky distributions over 2 words and </s>
    ens = Ensemble([model])
    cfg = SearchConfig(beam=32, max_len_a=0.0, max_len_b=4, unk="forbid")
    src = sources(seed, 1, words=2)[0]
    candidates = [list(c) for n in range(5) for c in itertools.product([4, 5], repeat=n)]
    exhaustive = max(candidates, key=lambda c: forced_score(ens, src, c)[0])
    found = beam_search(ens, [src], cfg)[0][0]
    assert found.tokens == exhaustive
    assert found.score == pytest.approx(forced_score(ens, src, exhaustive)[0], abs=1e-5)


@pytest.mark.parametrize("beam", [1, 4])
def test_batched_equals_one_at_a_time(beam: int) -> None:
    ens = Ensemble([tiny(0)[0], tiny(5)[0]])
    srcs = sources(3, 8)
    cfg = SearchConfig(beam=beam, nbest=beam, max_len_a=1.0, max_len_b=4)
    batched = beam_search(ens, srcs, cfg)
    for src, hyps in zip(srcs, batched, strict=True):
        alone = beam_search(ens, [src], cfg)[0]
        assert [h.tokens for h in hyps] == [h.tokens for h in alone]
        assert [h.score for h in hyps] == pytest.approx([h.score for h in alone], abs=1e-5)


@pytest.mark.parametrize("v", [8000, 8003, 300, 50])
def test_beam_topk_equals_a_topk_over_all_extensions(v: int) -> None:
    gen = torch.Generator().manual_seed(v)
    b, k = 6, 5
    log_probs = torch.log_softmax(torch.randn(b, k, v, generator=gen) * 3, dim=2)
    scores = torch.randn(b, k, generator=gen) * 4
    scores[0, 1:] = -math.inf  # the first step: one live beam
    log_probs[1] = math.log(1 / v)  # all tied
    scores[1] = 0.0
    log_probs[2, :, v // 2:] = -math.inf
    log_probs[3, 2, -1] = 0.0  # the best extension in the tail (v not a multiple of 64)
    log_probs[4, :, :3] = -0.01  # ties among the best
    for n in (1, 7, 2 * k):
        values, beams, tokens = beam_topk(scores, log_probs, n)
        total = (scores.unsqueeze(2) + log_probs).view(b, k * v)
        assert torch.equal(values, total.topk(n, dim=1).values)
        rows = torch.arange(b).unsqueeze(1)
        assert torch.equal(scores[rows, beams] + log_probs[rows, beams, tokens], values)
        pairs = [set(zip(bs, ts, strict=True)) for bs, ts in
                 zip(beams.tolist(), tokens.tolist(), strict=True)]
        assert all(len(p) == n for p in pairs)  # distinct extensions


def test_chunked_selection_changes_no_search_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a vocabulary large enough for the chunked top-k (and the first step computed once
    per sentence), search gives what the direct top-k over all extensions gives."""
    import rescore.beam as beam_module

    model, _ = tiny(4, words=1000, init=0.3)
    ens = Ensemble([model])
    srcs = sources(5, 6, words=1000)
    cfg = SearchConfig(beam=6, nbest=6, max_len_a=1.0, max_len_b=3)
    chunked = beam_search(ens, srcs, cfg)
    direct_topk = beam_module.beam_topk
    monkeypatch.setattr(beam_module, "beam_topk",
                        lambda s, lp, n: direct_topk(s, lp, n, chunk=10**9))
    direct = beam_search(ens, srcs, cfg)
    for a, b in zip(chunked, direct, strict=True):
        assert [h.tokens for h in a] == [h.tokens for h in b]
        assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-6)
    monkeypatch.undo()
    for src, hyps in zip(srcs, chunked, strict=True):
        assert [h.tokens for h in beam_search(ens, [src], cfg)[0]] == [h.tokens for h in hyps]


def test_zero_length_limit_ends_at_the_first_step() -> None:
    model, _ = tiny(2)
    ens = Ensemble([model])
    srcs = sources(1, 3)
    out = beam_search(ens, srcs, SearchConfig(beam=4, nbest=2, max_len_a=0.0, max_len_b=0))
    for src, hyps in zip(srcs, out, strict=True):
        assert len(hyps) == 1 and hyps[0].tokens == []  # only </s> can end at the limit
        assert hyps[0].score == pytest.approx(forced_score(ens, src, [])[0], abs=1e-6)


def test_length_penalty_and_word_reward_rank_as_stated() -> None:
    """GNMT's penalty divides by ((5 + length) / 6) ** alpha; the reward adds R per token
    after the division (a reward never turns the penalty around); the scores reported stay
    log-probabilities, equal to forced decoding."""
    config = SearchConfig(length_penalty=1.0, word_reward=0.5)
    assert config.rank(-6.0, 3) == pytest.approx(-6.0 / (8 / 6) + 1.5)
    assert SearchConfig(length_norm=True).rank(-6.0, 3) == pytest.approx(-2.0)
    assert SearchConfig(length_norm=True, word_reward=0.5).rank(-6.0, 3) == pytest.approx(-0.5)
    # a reward larger than a hypothesis' cost per token: the penalty still moves the
    # ranking towards the longer one (inside the division it moved it to the shorter)
    reward, penalised = SearchConfig(word_reward=1.0), SearchConfig(length_penalty=2.0,
                                                                    word_reward=1.0)
    gap = lambda c: c.rank(-8.0, 10) - c.rank(-3.0, 4)  # noqa: E731
    assert gap(penalised) > gap(reward) > 0
    assert not config.scores_only_fall and SearchConfig(word_reward=-1).scores_only_fall
    with pytest.raises(RescoreError):
        SearchConfig(length_norm=True, length_penalty=1.0)
    model, _ = tiny(0)
    ensemble = Ensemble([model])
    sources = [np.array([4, 5, 6, 7]), np.array([8, 9])]
    plain = beam_search(ensemble, sources, SearchConfig(beam=5, nbest=5))
    longer = beam_search(ensemble, sources, SearchConfig(beam=5, nbest=5, word_reward=2.0))
    for hyps in (*plain, *longer):
        for h in hyps:
            total, _ = forced_score(ensemble, sources[0] if h in (*plain[0], *longer[0])
                                    else sources[1], h.tokens)
            assert abs(total - h.score) < 1e-4
    mean = lambda rs: np.mean([len(h.tokens) for hs in rs for h in hs[:1]])  # noqa: E731
    assert mean(longer) >= mean(plain)
    assert all(h.rank_score == pytest.approx(h.score + 2.0 * (len(h.tokens) + 1))
               for hs in longer for h in hs)


@pytest.mark.parametrize("reward", [0.0, -0.5, 0.7])
def test_one_exhaustive_search_serves_every_length_penalty(reward: float) -> None:
    """An exhaustive search's finished hypotheses, reranked for a length penalty, give the
    1-best (and n-best) of a search run with that penalty, alpha 0's early stop included."""
    ensemble = Ensemble([tiny(1, init=2.0)[0], tiny(2, init=2.0)[0]])  # lengths vary
    srcs = sources(7, 30)
    once = beam_search(ensemble, srcs, SearchConfig(beam=6, nbest=6, exhaustive=True,
                                                    length_penalty=1.0, word_reward=reward))
    assert all(len(h) >= 6 for h in once)  # every sentence ran until 6 finished, all kept
    assert any(len(h) > 6 for h in once)  # (the last step can finish several)
    assert not SearchConfig(exhaustive=True).scores_only_fall
    winners = []
    for alpha in (0.0, 0.5, 1.0, 2.0, 4.0):
        config = SearchConfig(beam=6, nbest=3, length_penalty=alpha, word_reward=reward)
        direct = beam_search(ensemble, srcs, config)
        for hyps, found in zip(direct, once, strict=True):
            ranked = rerank(found, config)[:3]
            assert [h.tokens for h in ranked] == [h.tokens for h in hyps]
            assert [h.rank_score for h in ranked] == pytest.approx([h.rank_score for h in hyps])
            assert [h.score for h in ranked] == pytest.approx([h.score for h in hyps])
        winners.append([len(h[0].tokens) for h in direct])
    assert len({tuple(w) for w in winners}) > 1  # the penalties do choose differently
