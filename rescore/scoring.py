"""Scoring sentence pairs with a trained model: natural-log log P(target | source).

The score of a target is the sum over its tokens of ln P(y_t | y_<t, x), </s> included; per-
token log-probabilities are available. Words outside the vocabulary are scored as <unk>.
Batching (pairs sorted by length, padded) gives the same numbers as scoring one pair at a
time: the encoder is packed and the decoder is left-to-right, so padding never leaks in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rescore.config import load_config
from rescore.corpus import make_batch
from rescore.model import Seq2Seq
from rescore.train import load_model
from rescore.vocab import BOS_ID, EOS_ID, UNK_ID, Vocab


@dataclass
class PairScores:
    """``totals (n,)``: ln P(target | source) with </s>; ``tokens[i]``: the per-token terms
    of pair i (length len(target) + 1); ``unknown (n,)``: target words scored as <unk>."""

    totals: np.ndarray
    tokens: list[np.ndarray]
    unknown: np.ndarray


class Scorer:
    """A model with its vocabularies, ready to score tokenized sentence pairs."""

    def __init__(self, model: Seq2Seq, src_vocab: Vocab, tgt_vocab: Vocab,
                 device: torch.device | None = None, batch_size: int = 64) -> None:
        self.device = device or torch.device("cpu")
        self.model = model.to(self.device).eval()
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab
        self.batch_size = batch_size

    @classmethod
    def from_directory(cls, directory: str | Path, device: torch.device | None = None,
                       batch_size: int = 64) -> Scorer:
        path = Path(directory)
        model_cfg, _, _ = load_config(path / "config.json")
        return cls(load_model(path, model_cfg), Vocab.load(path / "src.vocab"),
                   Vocab.load(path / "tgt.vocab"), device, batch_size)

    def score(self, sources: Sequence[Sequence[str]],
              targets: Sequence[Sequence[str]]) -> PairScores:
        """Score pair i = (sources[i], targets[i]); token lists, already tokenized. An empty
        source is read as a lone </s>."""
        src_ids = [self.src_vocab.encode(s) if len(s) else np.array([EOS_ID], np.int32)
                   for s in sources]
        tgt_ids = [self.tgt_vocab.encode(t) for t in targets]
        order = sorted(range(len(tgt_ids)), key=lambda i: (len(tgt_ids[i]), len(src_ids[i])))
        tokens: list[np.ndarray] = [np.empty(0)] * len(tgt_ids)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                rows = order[start:start + self.batch_size]
                batch = make_batch([src_ids[i] for i in rows], [tgt_ids[i] for i in rows])
                logp = self.model.token_log_probs(batch.to(self.device)).double().cpu().numpy()
                for j, i in enumerate(rows):
                    tokens[i] = logp[j, : len(tgt_ids[i]) + 1]
        totals = np.array([t.sum() for t in tokens])
        unknown = np.array([int((t == UNK_ID).sum()) for t in tgt_ids])
        return PairScores(totals, tokens, unknown)


@dataclass
class TrieStats:
    """Work done by :func:`score_prefix_shared`: decoder steps (one per distinct prefix, the
    empty prefix included) against the target tokens scored."""

    decoder_steps: int = 0
    tokens: int = 0


def score_prefix_shared(model: Seq2Seq, sources: Sequence[np.ndarray],
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
    seqs = [[np.append(h, EOS_ID).astype(np.int64) for h in hyps] for hyps in hypotheses]
    totals = [np.zeros(len(s)) for s in seqs]
    src = [s if len(s) else np.array([EOS_ID], np.int32) for s in sources]
    with torch.inference_mode():
        batch = make_batch(src, [np.zeros(0, np.int32)] * len(src)).to(device)
        h, c = model.encode(batch.src, batch.src_lengths)
        # level 0: the empty prefix of each sentence, fed <s>
        node_state = (h, c)
        node_input = torch.full((len(src),), BOS_ID, dtype=torch.long, device=device)
        # hypothesis (k, i) sits at node node_of[k][i] of the current level
        node_of = [np.full(len(s), k, dtype=np.int64) for k, s in enumerate(seqs)]
        depth = 0
        while True:
            logp, new_state = _step_in_chunks(model, node_input, node_state, node_batch)
            if stats is not None:
                stats.decoder_steps += int(node_input.shape[0])
            logp_np = logp.double().cpu().numpy()
            # score token y_{depth+1} of every hypothesis from its node's distribution
            keys: dict[tuple[int, int], int] = {}
            parents: list[int] = []
            tokens: list[int] = []
            next_node = []
            for k, s in enumerate(seqs):
                nodes = node_of[k]
                nxt = np.full(len(s), -1, dtype=np.int64)
                for i, seq in enumerate(s):
                    if nodes[i] < 0:
                        continue
                    tok = int(seq[depth])
                    totals[k][i] += logp_np[nodes[i], tok]
                    if stats is not None:
                        stats.tokens += 1
                    if depth + 1 < len(seq):  # the hypothesis goes on after this token
                        key = (int(nodes[i]), tok)
                        node = keys.get(key)
                        if node is None:
                            node = keys[key] = len(parents)
                            parents.append(int(nodes[i]))
                            tokens.append(tok)
                        nxt[i] = node
                next_node.append(nxt)
            if not parents:
                break
            index = torch.tensor(parents, device=device)
            node_state = (new_state[0][:, index], new_state[1][:, index])
            node_input = torch.tensor(tokens, dtype=torch.long, device=device)
            node_of = next_node
            depth += 1
    return totals


def _step_in_chunks(model: Seq2Seq, inputs: torch.Tensor, state: tuple[torch.Tensor, ...],
                    chunk: int) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    logps, hs, cs = [], [], []
    for start in range(0, int(inputs.shape[0]), chunk):
        part = slice(start, start + chunk)
        logp, (h, c) = model.step(inputs[part], (state[0][:, part].contiguous(),
                                                 state[1][:, part].contiguous()))
        logps.append(logp)
        hs.append(h)
        cs.append(c)
    return torch.cat(logps), (torch.cat(hs, 1), torch.cat(cs, 1))
