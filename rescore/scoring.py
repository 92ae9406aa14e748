"""Scoring sentence pairs with a trained model: natural-log log P(target | source).

The score of a target is the sum over its tokens of ln P(y_t | y_<t, x), </s> included; per-
token log-probabilities are available. Words outside the vocabulary are scored as <unk>.
Batching (pairs sorted by length, padded) gives the same numbers as scoring one pair at a
time: the encoder is packed and the decoder is left-to-right, so padding never leaks in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rescore.corpus import BinarizedCorpus, make_batch
from rescore.errors import RescoreError
from rescore.models.protocol import DecoderModel
from rescore.vocab import BOS_ID, EOS_ID, UNK_ID, Vocab


@dataclass
class PairScores:
    """``totals (n,)``: ln P(target | source) with </s>; ``tokens[i]``: the per-token terms
    of pair i (length len(target) + 1); ``unknown (n,)``: target words scored as <unk>."""

    totals: np.ndarray
    tokens: list[np.ndarray]
    unknown: np.ndarray


def score_pairs(model: DecoderModel, src_vocab: Vocab, tgt_vocab: Vocab,
                sources: Sequence[Sequence[str]], targets: Sequence[Sequence[str]],
                batch_size: int = 64, reverse_target: bool = False) -> PairScores:
    """Score pair i = (sources[i], targets[i]) by a plain teacher-forced forward pass (token
    lists, already tokenized; an empty source is read as a lone </s>), on the model's device.

    Pairs are sorted by length and padded in batches of ``batch_size``. This is the reference
    that the faster scorers (:func:`score_prefix_shared`) are checked against.
    ``reverse_target``: the target's ids in reverse order (a right-to-left model).
    """
    device = next(model.parameters()).device
    src_ids = [src_vocab.encode(s) if len(s) else np.array([EOS_ID], np.int32) for s in sources]
    tgt_ids = [tgt_vocab.encode(t, reverse=reverse_target) for t in targets]
    order = sorted(range(len(tgt_ids)), key=lambda i: (len(tgt_ids[i]), len(src_ids[i])))
    tokens: list[np.ndarray] = [np.empty(0)] * len(tgt_ids)
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            batch = make_batch([src_ids[i] for i in rows], [tgt_ids[i] for i in rows])
            logp = model.token_log_probs(batch.to(device)).double().cpu().numpy()
            for j, i in enumerate(rows):
                tokens[i] = logp[j, : len(tgt_ids[i]) + 1]
    model.train(was_training)
    totals = np.array([t.sum() for t in tokens])
    unknown = np.array([int((t == UNK_ID).sum()) for t in tgt_ids])
    return PairScores(totals, tokens, unknown)


@dataclass
class TrieStats:
    """Work done by :func:`score_prefix_shared`: decoder steps (one per distinct prefix, the
    empty prefix included) against the target tokens scored."""

    decoder_steps: int = 0
    tokens: int = 0


def score_prefix_shared(model: DecoderModel, sources: Sequence[np.ndarray],
                        hypotheses: Sequence[Sequence[np.ndarray]],
                        device: torch.device | None = None, node_batch: int = 2048,
                        stats: TrieStats | None = None) -> list[np.ndarray]:
    """ln P(hyp | source) (``</s>`` included) of every hypothesis of every sentence, sharing
    the decoder computation of common prefixes.

    ``sources[k]``: source ids of sentence k; ``hypotheses[k]``: its target id arrays
    (without ``</s>``). Each source is encoded once. The hypotheses of all sentences form one
    prefix trie per sentence, expanded level by level: level t runs one batched decoder step
    for every distinct prefix of length t that some hypothesis continues, so the decoder does
    one step per distinct prefix instead of one per listed token. Returns one ``(n_k,)``
    array per sentence, equal to scoring each hypothesis alone (to float rounding).
    """
    device = device or torch.device("cpu")
    counts = [len(hs) for hs in hypotheses]
    if not sum(counts):
        return [np.zeros(0) for _ in counts]
    flat = [np.asarray(h, dtype=np.int64) for hs in hypotheses for h in hs]
    lengths = np.array([len(h) + 1 for h in flat], dtype=np.int64)  # </s> included
    tokens = np.full((len(flat), int(lengths.max(initial=1))), EOS_ID, dtype=np.int64)
    for i, h in enumerate(flat):
        tokens[i, : len(h)] = h
    totals = np.zeros(len(flat))
    vocab = int(model.config.tgt_vocab_size)
    src = [s if len(s) else np.array([EOS_ID], np.int32) for s in sources]
    with torch.inference_mode():
        batch = make_batch(src, [np.zeros(0, np.int32)] * len(src)).to(device)
        state = model.encode(batch.src, batch.src_lengths)
        # level 0: one node per sentence (the empty prefix), fed <s>
        node_input = torch.full((len(src),), BOS_ID, dtype=torch.long, device=device)
        node = np.repeat(np.arange(len(src)), counts)  # each hypothesis' node at this level
        for depth in range(tokens.shape[1]):
            alive = np.flatnonzero(lengths > depth)
            tok = tokens[alive, depth]
            picked, state = _step_and_pick(model, node_input, state, node_batch, node[alive], tok)
            totals[alive] += picked
            if stats is not None:
                stats.decoder_steps += int(node_input.shape[0])
                stats.tokens += len(alive)
            going = lengths[alive] > depth + 1  # the hypothesis goes on after this token
            if not going.any():
                break
            keys = node[alive[going]] * vocab + tok[going]
            unique, inverse = np.unique(keys, return_inverse=True)
            node = np.full(len(flat), -1, dtype=np.int64)
            node[alive[going]] = inverse
            parents = torch.from_numpy(unique // vocab).to(device)
            state = model.select_state(state, parents)
            node_input = torch.from_numpy(unique % vocab).to(device)
    return list(np.split(totals, np.cumsum(counts)[:-1]))


def _step_and_pick(model: DecoderModel, inputs: torch.Tensor, state: Any, chunk: int,
                   rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, Any]:
    """One decoder step for every node, ``chunk`` nodes at a time; returns the log-probability
    of token ``cols[j]`` at node ``rows[j]`` for every j (never the whole nodes x vocabulary
    matrix at once) and the new states."""
    picked = np.empty(len(rows))
    total = int(inputs.shape[0])
    if total <= chunk:
        parts = [(0, state)]
    else:
        parts = [(start, model.select_state(state, torch.arange(
            start, min(start + chunk, total), device=inputs.device)))
            for start in range(0, total, chunk)]
    states = []
    for start, part_state in parts:
        logp, new = model.step(inputs[start:start + chunk], part_state)
        states.append(new)
        sel = np.flatnonzero((rows >= start) & (rows < start + chunk))
        if len(sel):
            got = logp[torch.from_numpy(rows[sel] - start).to(logp.device),
                       torch.from_numpy(cols[sel]).to(logp.device)]
            picked[sel] = got.double().cpu().numpy()
    return picked, states[0] if len(states) == 1 else model.cat_states(states)


@dataclass
class ChannelStats:
    """Work done by :func:`score_channel`: encoder steps (one per distinct input prefix in
    reading order) against the input tokens, and decoder steps (one per output token of every
    distinct input, ``</s>`` included)."""

    encoder_steps: int = 0
    input_tokens: int = 0
    decoder_steps: int = 0


def score_channel(model: Any, inputs: Sequence[Sequence[np.ndarray]],
                  outputs: Sequence[np.ndarray], device: torch.device | None = None,
                  chunk: int = 256, stats: ChannelStats | None = None) -> list[np.ndarray]:
    """ln P(outputs[k] | inputs[k][i]) (``</s>`` included) for every input i of every
    sentence k: the noisy-channel direction, where a sentence's many hypotheses are the
    model's inputs and its one source sentence is the output scored under each.

    The inputs of all sentences form one trie in the order the encoder reads them (reversed
    for a reversed-source model, so hypotheses that end alike share the encoder's first
    steps); each trie node is one batched encoder step. The output is then scored by a
    teacher-forced decoder pass from each input's final state, ``chunk`` inputs at a time;
    a decoder with attention attends over all of that input's encoder outputs (each trie
    node's output is computed once and shared by the inputs through it).
    An empty input is read as a lone ``</s>`` (as :func:`score_pairs` reads an empty source).
    Returns one ``(len(inputs[k]),)`` array per sentence, equal to scoring each pair alone.
    """
    device = device or torch.device("cpu")
    counts = [len(hs) for hs in inputs]
    if not sum(counts):
        return [np.zeros(0) for _ in counts]
    if not model.steps_encoder:
        return _channel_by_batches(model, inputs, outputs, device, chunk, stats)
    flat = [np.asarray(h, dtype=np.int64) if len(h) else np.array([EOS_ID], np.int64)
            for hs in inputs for h in hs]
    if model.config.reverse_source:
        flat = [h[::-1] for h in flat]
    lengths = np.array([len(h) for h in flat], dtype=np.int64)
    tokens = np.zeros((len(flat), int(lengths.max())), dtype=np.int64)
    for i, h in enumerate(flat):
        tokens[i, : len(h)] = h
    vocab = int(model.config.src_vocab_size)
    attends = model.attends
    # with attention, the decoder reads every encoder output of its input: each trie node's
    # top-layer output is kept once (row 1 + its number in the node order; row 0 is padding)
    # and each input's positions point at its nodes' rows
    node_rows = np.zeros((len(flat), tokens.shape[1]), dtype=np.int64)
    node_outputs: list[torch.Tensor] = []
    finals: list[tuple[np.ndarray, Any]] = []  # (inputs ending at a depth, their states)
    with torch.inference_mode():
        state = model.initial_encoder_state(1, device)
        node = np.zeros(len(flat), dtype=np.int64)  # every input starts at the root
        next_row = 1
        for depth in range(tokens.shape[1]):
            alive = np.flatnonzero(lengths > depth)
            keys = node[alive] * vocab + tokens[alive, depth]
            unique, inverse = np.unique(keys, return_inverse=True)
            parents = torch.from_numpy(unique // vocab).to(device)
            state = model.encoder_step(torch.from_numpy(unique % vocab).to(device),
                                       model.select_encoder_state(state, parents))
            if stats is not None:
                stats.encoder_steps += len(unique)
                stats.input_tokens += len(alive)
            node = np.full(len(flat), -1, dtype=np.int64)
            node[alive] = inverse
            if attends:
                node_outputs.append(model.encoder_output(state))
                node_rows[alive, depth] = next_row + inverse
                next_row += len(unique)
            done = alive[lengths[alive] == depth + 1]
            if len(done):
                at = torch.from_numpy(node[done]).to(device)
                finals.append((done, model.select_encoder_state(state, at)))
        order = torch.from_numpy(np.argsort(np.concatenate([d for d, _ in finals]))).to(device)
        final = model.select_encoder_state(model.cat_encoder_states([f for _, f in finals]),
                                           order)  # input i's final state in row i
        memory = (torch.cat([node_outputs[0][:1] * 0, *node_outputs]) if attends else None)
        totals = np.zeros(len(flat))
        start = 0
        for k, count in enumerate(counts):
            target = np.asarray(outputs[k], dtype=np.int64)
            tgt_in = torch.tensor([BOS_ID, *target.tolist()], device=device)
            tgt_out = torch.tensor([*target.tolist(), EOS_ID], device=device)
            for lo in range(start, start + count, chunk):
                hi = min(lo + chunk, start + count)
                n = hi - lo
                width = int(lengths[lo:hi].max())
                values = (None if memory is None else
                          memory[torch.from_numpy(node_rows[lo:hi, :width]).to(device)])
                begin = model.start_decoder(
                    model.select_encoder_state(final, torch.arange(lo, hi, device=device)),
                    values, torch.from_numpy(lengths[lo:hi]).to(device))
                logits, _ = model.decode(tgt_in.expand(n, -1), begin)
                logp = torch.log_softmax(logits.float(), dim=-1)
                picked = logp.gather(2, tgt_out.expand(n, -1).unsqueeze(2)).squeeze(2)
                totals[lo:hi] = picked.sum(1).double().cpu().numpy()
                if stats is not None:
                    stats.decoder_steps += n * len(tgt_out)
            start += count
    return list(np.split(totals, np.cumsum(counts)[:-1]))


def _channel_by_batches(model: DecoderModel, inputs: Sequence[Sequence[np.ndarray]],
                        outputs: Sequence[np.ndarray], device: torch.device, chunk: int,
                        stats: ChannelStats | None) -> list[np.ndarray]:
    """:func:`score_channel` for an encoder that cannot be stepped (bidirectional): each input
    encoded whole, ``chunk`` inputs a batch, no prefix shared (one encoder step per input
    token where the trie takes one per distinct prefix)."""
    out = []
    with torch.inference_mode():
        for hs, target in zip(inputs, outputs, strict=True):
            scores = np.zeros(len(hs))
            tgt = np.asarray(target, dtype=np.int32)
            for lo in range(0, len(hs), chunk):
                part = [np.asarray(h, np.int32) if len(h) else np.array([EOS_ID], np.int32)
                        for h in hs[lo:lo + chunk]]
                batch = make_batch(part, [tgt] * len(part)).to(device)
                logp = model.token_log_probs(batch).double().sum(1).cpu().numpy()
                scores[lo:lo + len(part)] = logp
                if stats is not None:
                    stats.encoder_steps += sum(len(p) for p in part)
                    stats.input_tokens += sum(len(p) for p in part)
                    stats.decoder_steps += len(part) * (len(tgt) + 1)
            out.append(scores)
    return out


def validation_perplexity(model: Any, corpus: BinarizedCorpus, device: torch.device,
                          batch_size: int = 128, precision: str = "auto") -> float:
    """exp(summed NLL / target tokens, </s> included) over the whole corpus."""
    order = np.argsort(corpus.tgt_lengths, kind="stable")
    nll, tokens = 0.0, 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for i in range(0, len(order), batch_size):
            batch = corpus.batch(order[i:i + batch_size]).to(device)
            with autocast(device, precision):
                nll += float(model.loss(batch))
            tokens += batch.tgt_tokens
    model.train(was_training)
    return math.exp(nll / tokens)


PRECISIONS = ("auto", "fp32", "bf16")


def cpu_has_bf16() -> bool:
    """This CPU computes bf16 natively (AVX-512 BF16 or AMX tiles), so bf16 autocast makes
    its matrix products faster; elsewhere bf16 is emulated and slower than fp32."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def check_precision(device: torch.device, precision: str) -> None:
    """Refuse bf16 on a CPU that only emulates it (slower than fp32 there)."""
    if precision == "bf16" and device.type == "cpu" and not cpu_has_bf16():
        raise RescoreError("--precision bf16: this CPU has no native bf16 (AVX-512 BF16 or "
                           "AMX), where it is slower than fp32; use fp32")


def autocast(device: torch.device, precision: str = "auto") -> Any:
    """The forward pass's precision: ``auto`` is bf16 autocast on GPU and fp32 on the CPU;
    ``fp32`` everywhere (to check a GPU against the CPU); ``bf16`` autocast on either (on the
    CPU where :func:`cpu_has_bf16`)."""
    return torch.autocast(device.type, dtype=torch.bfloat16,
                          enabled=uses_bf16(device, precision))


def uses_bf16(device: torch.device, precision: str) -> bool:
    """Whether ``precision`` on ``device`` means bf16 autocast (see :func:`autocast`)."""
    return precision == "bf16" or (precision == "auto" and device.type == "cuda")
