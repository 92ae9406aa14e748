"""The paper's figures for our systems.

Figure 3: corpus BLEU (sacrebleu) of each system on bins of test sentences, sorted by length
(source words) or by the average frequency rank of their source words (the rank of a word in
a vocabulary file ordered by falling frequency, as rescore-train writes ``src.vocab``; words
outside it get the vocabulary's size as rank). Bins hold equal numbers of sentences.

Figure 2: a 2-D PCA of the encoder's final hidden state (top layer) for a few phrases.

Plots are matplotlib (Agg) PNG bytes, so reports can embed them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from rescore import model_dir
from rescore.errors import RescoreError
from rescore.files import read_lines
from rescore.metrics import make_bleu
from rescore.vocab import SPECIALS


def frequency_ranks(words: Sequence[str]) -> dict[str, int]:
    """Word -> 1-based frequency rank, from a most-frequent-first word list (specials out)."""
    ranked = [w for w in words if w not in SPECIALS]
    return {w: i for i, w in enumerate(ranked, 1)}


def average_rank(sentence: str, ranks: dict[str, int]) -> float:
    words = sentence.split()
    unknown = len(ranks) + 1
    return float(np.mean([ranks.get(w, unknown) for w in words])) if words else 0.0


def bleu_by_bins(reference: Sequence[str], systems: Sequence[tuple[str, Sequence[str]]],
                 keys: Sequence[float], bins: int = 7, tokenize: str = "none") -> pd.DataFrame:
    """Corpus BLEU per system on ``bins`` equal-count bins of sentences sorted by ``keys``.
    Columns: ``bin``, ``low``, ``high`` (key range), ``sentences``, then one per system."""
    if len(keys) != len(reference):
        raise RescoreError(f"{len(keys)} sort keys for {len(reference)} sentences")
    order = np.argsort(np.asarray(keys, dtype=float), kind="stable")
    bins = max(1, min(bins, len(order)))
    bleu = make_bleu(tokenize)
    rows = []
    for b, idx in enumerate(np.array_split(order, bins)):
        ks = np.asarray(keys, dtype=float)[idx]
        row: dict[str, object] = {"bin": b + 1, "low": float(ks.min()), "high": float(ks.max()),
                                  "sentences": len(idx)}
        refs = [[reference[i] for i in idx]]
        for name, hyps in systems:
            row[name] = bleu.corpus_score([hyps[i] for i in idx], refs).score
        rows.append(row)
    return pd.DataFrame(rows)


def plot_bins(table: pd.DataFrame, systems: Sequence[str], xlabel: str, title: str) -> bytes:
    """A line per system over the bins (x: the bins' key ranges)."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=100)
    labels = [f"{lo:.0f}-{hi:.0f}" for lo, hi in zip(table["low"], table["high"], strict=True)]
    x = np.arange(len(table))
    for name in systems:
        ax.plot(x, table[name], marker="o", label=name)
    ax.set_xticks(x, labels, rotation=30)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("BLEU")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return _png(fig)


@torch.inference_mode()
def encoder_states(directory: str | Path, phrases: Sequence[str]) -> np.ndarray:
    """The encoder's final top-layer hidden state for each phrase: ``(n, hidden)``."""
    loaded = model_dir.load(directory)
    model, vocab = loaded.model, loaded.src_vocab
    states = []
    for phrase in phrases:
        ids = torch.from_numpy(vocab.encode(phrase.split()).astype(np.int64)).unsqueeze(0)
        h, _ = model.encode(ids, torch.tensor([ids.shape[1]]))
        states.append(h[-1, 0].numpy())
    return np.stack(states)


def pca_2d(states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates on the first two principal components, and the variance they explain."""
    centered = states - states.mean(axis=0)
    _, s, vt = np.linalg.svd(centered, full_matrices=False)
    coords = centered @ vt[:2].T
    explained = (s[:2] ** 2) / max(float((s ** 2).sum()), 1e-12)
    return coords, explained


def load_phrases(path: str | Path) -> list[str]:
    phrases = [p.strip() for p in read_lines(path) if p.strip()]
    if len(phrases) < 3:
        raise RescoreError(f"{path}: need at least 3 phrases for a PCA, found {len(phrases)}")
    return phrases


def plot_pca(coords: np.ndarray, phrases: Sequence[str], explained: np.ndarray) -> bytes:
    fig, ax = plt.subplots(figsize=(7.5, 5.5), dpi=100)
    ax.scatter(coords[:, 0], coords[:, 1], s=18)
    for (x, y), text in zip(coords, phrases, strict=True):
        ax.annotate(text, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(f"PC1 ({100 * explained[0]:.0f}% of variance)")
    ax.set_ylabel(f"PC2 ({100 * explained[1]:.0f}% of variance)")
    ax.set_title("Encoder final states, 2-D PCA (Figure 2)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
