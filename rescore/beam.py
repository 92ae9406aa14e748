"""Left-to-right beam search over batches of sentences, with ensembles (Sutskever et al. 2014,
section 3.1), built from small parts:

- :class:`DecoderModel`: the narrow interface a model offers (``encode``, ``step``,
  ``select_state``), a subset of :class:`rescore.models.DecoderModel` that every
  architecture implements, and so can a scripted fake.
- :class:`Ensemble`: one or more models as one decoder: per-step log-probabilities averaged
  (``log-linear``, renormalised) or probabilities averaged (``linear``).
- :func:`select_candidates`: one beam step for a batch: the best ``2K`` extensions of each
  sentence's ``K`` beams, split into finished (``</s>``) and continuing ones.
- :func:`beam_search`: the loop; :func:`greedy_search`: the one-sentence reference.

Scores are natural-log probabilities, ``</s>`` included, so the score of an output equals its
forced-decoding score. A sentence stops when its ``K``-th hypothesis finishes, or earlier when
(without length normalisation) no live hypothesis can beat its ``n``-th best finished one:
scores only fall as hypotheses grow. A hypothesis that reaches the sentence's maximum length
(``a * source length + b``) can only end there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import torch

from rescore.errors import RescoreError, unknown_choice
from rescore.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID

ENSEMBLE_MODES = ("log-linear", "linear")
UNK_POLICIES = ("keep", "drop", "forbid", "replace")


class DecoderModel(Protocol):
    """What beam search needs from a model. ``state`` is opaque; its rows follow the batch."""

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> Any: ...

    def step(self, prev: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """Previous tokens ``(B,)`` -> next-token log-probabilities ``(B, V)``, new state."""
        ...

    def select_state(self, state: Any, index: torch.Tensor) -> Any:
        """The state of rows ``index`` (reorders, drops and repeats rows)."""
        ...


def attention_of(model: Any, state: Any) -> torch.Tensor | None:
    """A model's last attention weights over the source ``(B, S)`` in reading order, or None
    (a model without attention, or one that does not say)."""
    weights = getattr(model, "attention_weights", None)
    return weights(state) if weights is not None else None


class Ensemble:
    """Models with one target vocabulary decoding as one. ``step`` returns the combined
    log-probabilities and each member's, so every output can carry per-model scores."""

    def __init__(self, models: Sequence[DecoderModel], mode: str = "log-linear",
                 names: Sequence[str] | None = None) -> None:
        if not models:
            raise RescoreError("an ensemble needs at least one model")
        if mode not in ENSEMBLE_MODES:
            raise unknown_choice("ensemble mode", mode, ENSEMBLE_MODES)
        self.models = list(models)
        self.mode = mode
        # what an error names each member by (its model directory)
        self.names = list(names) if names is not None else [f"model {i}" for i in
                                                            range(len(self.models))]

    def check_finite(self, members: torch.Tensor) -> None:
        """Refuse NaN log-probabilities ``(M, B, V)`` (a broken model), naming the member: a
        NaN would never rank, finish or compare. Beam search calls it only when a step's best
        extensions hold a NaN (:class:`BeamStep`), which costs nothing."""
        if bool(torch.isnan(members).any()):
            bad = next(i for i in range(members.shape[0]) if bool(torch.isnan(members[i]).any()))
            raise RescoreError(f"{self.names[bad]}: the model gives NaN log-probabilities: its "
                               "weights or its input are broken")

    def __len__(self) -> int:
        return len(self.models)

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> list[Any]:
        return [m.encode(src, src_lengths) for m in self.models]

    def step(self, prev: torch.Tensor,
             states: list[Any]) -> tuple[torch.Tensor, torch.Tensor, list[Any]]:
        """-> combined log-probs ``(B, V)``, member log-probs ``(M, B, V)``, new states."""
        outs = [m.step(prev, s) for m, s in zip(self.models, states, strict=True)]
        if len(outs) == 1:  # no copy: the member's distribution is the combined one
            log_probs = outs[0][0].float()
            return log_probs, log_probs.unsqueeze(0), [outs[0][1]]
        members = torch.stack([lp.float() for lp, _ in outs])
        return self.combine(members), members, [s for _, s in outs]

    def combine(self, members: torch.Tensor) -> torch.Tensor:
        if len(self.models) == 1:
            return members[0]
        if self.mode == "log-linear":
            return torch.log_softmax(members.mean(0), dim=-1)
        return torch.logsumexp(members, 0) - math.log(len(self.models))

    def select_state(self, states: list[Any], index: torch.Tensor) -> list[Any]:
        return [m.select_state(s, index) for m, s in zip(self.models, states, strict=True)]

    @property
    def attends(self) -> bool:
        """Some member attends over the source (its weights give alignments)."""
        return any(bool(getattr(m, "attends", False)) for m in self.models)

    def attention(self, states: list[Any]) -> torch.Tensor | None:
        """The mean of the attending members' last attention weights ``(B, S)`` over the
        source positions in reading order; None when no member attends."""
        found = [w for w in (attention_of(m, s) for m, s in zip(self.models, states,
                                                                 strict=True))
                 if w is not None]
        return torch.stack(found).mean(0) if found else None


@dataclass(frozen=True)
class SearchConfig:
    beam: int = 12
    nbest: int = 1  # hypotheses returned per sentence (at most beam)
    max_len_a: float = 1.5  # a hypothesis has at most a * source length + b tokens
    max_len_b: int = 10
    length_norm: bool = False  # rank finished hypotheses by score / (tokens + 1)
    length_penalty: float = 0.0  # alpha of GNMT's length penalty (Wu et al. 2016): rank
    # finished hypotheses by score / ((5 + tokens + 1) / 6) ** alpha (0: off)
    word_reward: float = 0.0  # added to the search's score for every token written (</s>
    # included): longer hypotheses survive the beam; reported scores stay log-probabilities
    unk: str = "keep"  # keep: may output <unk>; drop: removed from the text; forbid: never;
    # replace: the source word the attention weights most (as keep in the search itself)
    exhaustive: bool = False  # no early stop: a sentence ends when ``beam`` hypotheses have
    # finished (or none can continue), and every finished one is returned (up to 2 * beam - 1:
    # the last step can finish several). Which hypotheses finish never depends on how finished
    # ones are ranked, so one such search serves every length penalty (:func:`rerank`)

    def __post_init__(self) -> None:
        if self.beam < 1 or not 1 <= self.nbest <= self.beam:
            raise RescoreError(f"need beam >= 1 and 1 <= nbest <= beam (beam {self.beam}, "
                               f"nbest {self.nbest})")
        if self.unk not in UNK_POLICIES:
            raise unknown_choice("UNK policy", self.unk, UNK_POLICIES)
        if self.max_len_a < 0 or self.max_len_b < 0:
            raise RescoreError("--max-len-a and --max-len-b must be non-negative")
        if not (math.isfinite(self.length_penalty) and math.isfinite(self.word_reward)):
            raise RescoreError("--length-penalty and --word-reward must be finite numbers")
        if self.length_penalty < 0:
            raise RescoreError(f"--length-penalty must be >= 0, not {self.length_penalty}")
        if self.length_norm and self.length_penalty:
            raise RescoreError("give --length-norm or --length-penalty, not both")

    def rank(self, score: float, length: int) -> float:
        """What a finished hypothesis of log-probability ``score`` and ``length`` tokens
        (``</s>`` included) is ranked by: the score divided by the length (``length_norm``)
        or by GNMT's penalty ``((5 + length) / 6) ** alpha``, plus the word reward for each
        token. The reward stays outside the division, so it means the same with any
        penalty: inside it, a reward that made a score positive would turn the penalty into
        a preference for short outputs."""
        value = score
        if self.length_norm:
            value = score / length
        elif self.length_penalty:
            value = score / ((5 + length) / 6) ** self.length_penalty
        return value + self.word_reward * length

    @property
    def scores_only_fall(self) -> bool:
        """A live hypothesis' rank can only fall as it grows (plain log-probabilities, no
        reward, no normalisation): a sentence can stop once none can beat its n-th best."""
        return not (self.exhaustive or self.length_norm or self.length_penalty
                    or self.word_reward > 0)

    def max_length(self, src_len: int) -> int:
        return int(self.max_len_a * src_len + self.max_len_b)


@dataclass
class Hypothesis:
    """A finished output: target ids (``</s>`` excluded), its log-probability under the
    search's (combined) model, each member's, the score it was ranked by and, when the search
    tracked attention, for each target id the source position (0-based, reading order) with
    the largest attention weight when it was chosen."""

    tokens: list[int]
    score: float
    member_scores: list[float]
    rank_score: float
    alignment: list[int] | None = None
    order: int = 0  # its place among the sentence's hypotheses in finishing order (ties)


@dataclass
class BeamStep:
    """One beam step for ``b`` sentences (see :func:`select_candidates`)."""

    next_scores: torch.Tensor  # (b, K) scores of the continuing beams
    next_beams: torch.Tensor  # (b, K) which beam each continues
    next_tokens: torch.Tensor  # (b, K) the token it appends
    finished: list[tuple[int, int, float]] = field(default_factory=list)  # (sentence, beam, score)
    nan: bool = False  # a NaN among the best extensions (top-k ranks NaN above every number,
    # so a NaN anywhere in the log-probabilities shows here)


def beam_topk(scores: torch.Tensor, log_probs: torch.Tensor, n: int,
              chunk: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ``n`` best one-token extensions of each sentence's beams: the largest values of
    ``scores[s, j] + log_probs[s, j, t]`` over beams ``j`` and tokens ``t`` (``scores (b, K)``,
    ``log_probs (b, K, V)``) -> values, beams, tokens, each ``(b, n)``, best first. The values
    equal a top-k over the ``K * V`` sums; among tied values the choice may differ.

    Exact and cheap: the ``n`` largest sums lie in the ``n`` chunks (``chunk`` tokens of one
    beam) with the largest ``score + chunk maximum`` (a chunk left out has ``n`` chunks above
    it, whose maxima are ``n`` sums at least as large as all of its own); so one pass of chunk
    maxima, a top-k over chunks and one over ``n * chunk`` candidates replace a top-k over
    every token of every beam, and nothing ``(b, K, V)``-sized is written."""
    b, k, v = log_probs.shape
    n = min(n, k * v)
    full = v // chunk
    if full < 4 * n // k + 1:  # small vocabularies: the direct top-k
        total = (scores.unsqueeze(2) + log_probs).view(b, k * v)
        values, index = total.topk(n, dim=1)
        return values, index // v, index % v
    if log_probs.stride(2) != 1:
        log_probs = log_probs.contiguous()
    s0, s1, _ = log_probs.stride()  # s1 is 0 for beams expanded from one row
    chunks = log_probs.as_strided((b, k, full, chunk), (s0, s1, chunk, 1))  # no copy
    maxima = (chunks.amax(dim=3) + scores.unsqueeze(2)).view(b, k * full)
    _, best = maxima.topk(min(n, k * full), dim=1)  # (b, n): beam * full + chunk
    rows = torch.arange(b, device=log_probs.device).unsqueeze(1)
    beam_of, chunk_of = best // full, best % full
    cand = (chunks[rows, beam_of, chunk_of] + scores[rows, beam_of].unsqueeze(2)).view(b, -1)
    tail = v - full * chunk  # tokens after the last whole chunk: always candidates
    if tail:
        tails = (log_probs[:, :, full * chunk:] + scores.unsqueeze(2)).reshape(b, k * tail)
        cand = torch.cat([cand, tails], dim=1)
    values, pos = cand.topk(n, dim=1)
    in_chunks = pos < best.shape[1] * chunk
    slot = pos.clamp(max=best.shape[1] * chunk - 1)
    picked = best.gather(1, slot // chunk)
    beams = torch.where(in_chunks, picked // full, (pos - best.shape[1] * chunk) // max(tail, 1))
    tokens = torch.where(in_chunks, (picked % full) * chunk + slot % chunk,
                         full * chunk + (pos - best.shape[1] * chunk) % max(tail, 1))
    return values, beams, tokens


def select_candidates(scores: torch.Tensor, log_probs: torch.Tensor) -> BeamStep:
    """The best ``2K`` one-token extensions of each sentence's ``K`` beams (``scores (b, K)``,
    ``log_probs (b, K, V)``): ``</s>`` extensions ranked in the first ``K`` finish (finite ones
    only); the first ``K`` other extensions continue. At most ``K`` of the ``2K`` end in
    ``</s>`` (one per beam), so ``K`` continuing ones always exist (possibly at -inf)."""
    k = log_probs.shape[1]
    top_scores, beams, tokens = beam_topk(scores, log_probs, 2 * k)
    is_eos = tokens == EOS_ID
    ends = is_eos[:, :k] & torch.isfinite(top_scores[:, :k])
    finished = [(int(s), int(beams[s, j]), float(top_scores[s, j]))
                for s, j in ends.nonzero().tolist()]
    # stable: continuing candidates keep their rank order; the first K of them are taken
    rank = torch.where(is_eos, torch.full_like(tokens, 2 * k + 1),
                       torch.arange(tokens.shape[1], device=tokens.device))
    keep = rank.argsort(dim=1, stable=True)[:, :k]
    return BeamStep(top_scores.gather(1, keep), beams.gather(1, keep),
                      tokens.gather(1, keep), finished, bool(torch.isnan(top_scores).any()))


def _pad(sources: Sequence[np.ndarray], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([max(len(s), 1) for s in sources], dtype=torch.long)
    src = torch.full((len(sources), int(lengths.max())), PAD_ID, dtype=torch.long)
    for i, s in enumerate(sources):
        if len(s):
            src[i, : len(s)] = torch.from_numpy(np.asarray(s, dtype=np.int64))
        else:
            src[i, 0] = EOS_ID
    return src.to(device), lengths.to(device)


def _forbidden(unk: str) -> list[int]:
    """Token ids never generated: <pad>, <s>, and <unk> when forbidden."""
    return [PAD_ID, BOS_ID, UNK_ID] if unk == "forbid" else [PAD_ID, BOS_ID]


@torch.inference_mode()
def beam_search(model: Ensemble, sources: Sequence[np.ndarray], config: SearchConfig,
                device: torch.device | None = None,
                align: bool = False) -> list[list[Hypothesis]]:
    """Beam search for a batch of source id arrays at once: the ``config.nbest`` best
    hypotheses of each sentence, best first. Sentences leave the batch as they finish.
    ``align`` (and a member with attention): each hypothesis carries its alignment."""
    device = device or torch.device("cpu")
    n, k, m = len(sources), config.beam, len(model)
    if n == 0:
        return []
    src, lengths = _pad(sources, device)
    limits = torch.tensor([config.max_length(len(s)) for s in sources], device=device)
    # the K beams of a sentence are equal at the start: its first step is computed once
    states = model.encode(src, lengths)
    scores = torch.full((n, k), -math.inf, device=device)
    scores[:, 0] = 0.0
    member_scores = torch.zeros((m, n, k), device=device)
    history = torch.empty((n, k, 0), dtype=torch.long, device=device)
    align = align and model.attends
    aligned = torch.empty((n, k, 0), dtype=torch.long, device=device)  # source positions
    prev = torch.full((n,), BOS_ID, dtype=torch.long, device=device)
    active = torch.arange(n, device=device)  # the original index of each batch row
    results: list[list[Hypothesis]] = [[] for _ in range(n)]
    forbidden = _forbidden(config.unk)
    last_step = int(limits.max())  # every sentence ends by then, whatever the scores
    t = 0
    while active.numel() and t <= last_step:
        combined, members, states = model.step(prev, states)
        b, v = active.numel(), combined.shape[-1]
        rows = k if t else 1  # decoder rows a sentence has in this step
        log_probs = combined.view(b, rows, v)
        log_probs[:, :, forbidden] = -math.inf  # in place: never picked, so members agree
        at_limit = t >= limits[active]
        if bool(at_limit.any()):
            only_eos = torch.ones(v, dtype=torch.bool, device=device)
            only_eos[EOS_ID] = False
            log_probs[at_limit] = log_probs[at_limit].masked_fill(only_eos, -math.inf)
        members = members.view(m, b, rows, v)
        if rows < k:  # views, no copies: beams 1.. are at -inf and never continue
            log_probs, members = log_probs.expand(b, k, v), members.expand(m, b, k, v)
        if config.word_reward:  # not in place: a lone member's scores are these
            log_probs = log_probs + config.word_reward
        cand = select_candidates(scores, log_probs)
        if cand.nan:
            model.check_finite(members)  # names the member
        for s, beam, score in cand.finished:
            sentence = int(active[s])
            length = t + 1  # tokens with </s>
            logprob = score - config.word_reward * length
            results[sentence].append(Hypothesis(
                history[s, beam].tolist(), logprob,
                (member_scores[:, s, beam] + members[:, s, beam, EOS_ID]).tolist(),
                config.rank(logprob, length), aligned[s, beam].tolist() if align else None,
                len(results[sentence])))
        # continuing beams: gather their history, scores and per-model scores
        scores = cand.next_scores
        index = torch.arange(b, device=device).unsqueeze(1)
        picked = members[:, index, cand.next_beams, cand.next_tokens]  # (m, b, K)
        member_scores = member_scores[:, index, cand.next_beams] + picked
        history = torch.cat([history[index, cand.next_beams],
                             cand.next_tokens.unsqueeze(2)], dim=2)
        if align:
            weights = model.attention(states)
            assert weights is not None
            position = weights.argmax(-1).view(b, rows).expand(b, k)
            aligned = torch.cat([aligned[index, cand.next_beams],
                                 position[index, cand.next_beams].unsqueeze(2)], dim=2)
        done = _done(results, active, scores, config)
        keep = (~done).nonzero().squeeze(1)
        t += 1
        if keep.numel() == 0:
            break
        if keep.numel() < b:
            active, scores, history = active[keep], scores[keep], history[keep]
            aligned = aligned[keep] if align else aligned
            member_scores = member_scores[:, keep]
            cand.next_beams, cand.next_tokens = cand.next_beams[keep], cand.next_tokens[keep]
            index = index[keep]
        state_rows = (index * rows + cand.next_beams * (rows > 1)).reshape(-1)
        states = model.select_state(states, state_rows)
        prev = cand.next_tokens.reshape(-1)
    for hyps in results:
        hyps.sort(key=lambda h: -h.rank_score)  # stable: earlier (shorter) first on ties
        if not config.exhaustive:  # an exhaustive search keeps every finished one: another
            del hyps[config.nbest:]  # ranking may prefer those this one ranks last
    return results


def rerank(hyps: Sequence[Hypothesis], config: SearchConfig) -> list[Hypothesis]:
    """The hypotheses of one sentence ranked as a search with ``config``'s ranking (length
    penalty, normalisation, word reward) ranks its finished ones, best first, ties in
    finishing order; each ``rank_score`` is ``config``'s. Given the hypotheses of an
    exhaustive search (:attr:`SearchConfig.exhaustive`), the first is the 1-best that a search
    with ``config`` and the same beam finds: the finished set does not depend on the ranking,
    and an early stop only ends a search once no live hypothesis can beat the n-th best."""
    ranked = [replace(h, rank_score=config.rank(h.score, len(h.tokens) + 1)) for h in hyps]
    return sorted(ranked, key=lambda h: (-h.rank_score, h.order))


def _done(results: list[list[Hypothesis]], active: torch.Tensor, scores: torch.Tensor,
          config: SearchConfig) -> torch.Tensor:
    """Which active sentences are finished: ``beam`` hypotheses found, no finite live beam,
    or (without length normalisation) the best live score below the ``nbest``-th finished."""
    best_alive = scores.max(dim=1).values.tolist()
    done = []
    for row, sentence in enumerate(active.tolist()):
        found = results[sentence]
        if len(found) >= config.beam or best_alive[row] == -math.inf:
            done.append(True)
        elif config.scores_only_fall and len(found) >= config.nbest:
            nth = sorted((h.rank_score for h in found), reverse=True)[config.nbest - 1]
            done.append(best_alive[row] <= nth)
        else:
            done.append(False)
    return torch.tensor(done, dtype=torch.bool, device=scores.device)


@torch.inference_mode()
def greedy_search(model: Ensemble, source: np.ndarray, config: SearchConfig,
                  device: torch.device | None = None) -> Hypothesis:
    """The reference: one sentence, the most probable next token at every step."""
    device = device or torch.device("cpu")
    src, lengths = _pad([source], device)
    states = model.encode(src, lengths)
    prev = torch.tensor([BOS_ID], device=device)
    tokens: list[int] = []
    total, members_total = 0.0, [0.0] * len(model)
    limit = config.max_length(len(source))
    while True:
        combined, members, states = model.step(prev, states)
        model.check_finite(members)
        log_probs = combined[0].clone()
        log_probs[_forbidden(config.unk)] = -math.inf
        token = EOS_ID if len(tokens) >= limit else int(log_probs.argmax())
        total += float(log_probs[token])
        members_total = [a + float(members[j, 0, token]) for j, a in enumerate(members_total)]
        if token == EOS_ID:
            return Hypothesis(tokens, total, members_total, config.rank(total, len(tokens) + 1))
        tokens.append(token)
        prev = torch.tensor([token], device=device)


@torch.inference_mode()
def forced_score(model: Ensemble, source: np.ndarray, target: Sequence[int],
                 device: torch.device | None = None) -> tuple[float, list[float]]:
    """log P(target </s> | source) under the ensemble's combined distribution, and each
    member's: the score beam search reports for that output."""
    device = device or torch.device("cpu")
    src, lengths = _pad([source], device)
    states = model.encode(src, lengths)
    prev = torch.tensor([BOS_ID], device=device)
    total, members_total = 0.0, torch.zeros(len(model), device=device)
    for token in [*target, EOS_ID]:
        combined, members, states = model.step(prev, states)
        model.check_finite(members)
        total += float(combined[0, token])
        members_total += members[:, 0, token]
        prev = torch.tensor([token], device=device)
    return total, members_total.tolist()
