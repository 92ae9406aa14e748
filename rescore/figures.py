"""The paper's figures for our systems.

Figure 3: corpus BLEU (sacrebleu) of each system on bins of test sentences, sorted by length
(source words) or by the average frequency rank of their source words (the rank of a word in
a vocabulary file ordered by falling frequency, as rescore-train writes ``src.vocab``; words
outside it get the vocabulary's size as rank). Bins hold equal numbers of sentences.

Figure 2: a 2-D PCA of the encoder's final hidden state (top layer) for a few phrases.

Attention matrices (models with attention): the weights over the source words at each output
word of a translation, as Luong et al. (2015) and Bahdanau et al. (2015) draw them.

Plots are matplotlib (Agg) PNG bytes, so reports can embed them.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from rescore import model_dir
from rescore.beam import Ensemble
from rescore.errors import RescoreError
from rescore.files import read_lines
from rescore.metrics import make_bleu
from rescore.vocab import BOS_ID, EOS_ID, SPECIALS


def frequency_ranks(words: Sequence[str]) -> dict[str, int]:
    """Word -> 1-based frequency rank, from a most-frequent-first word list (specials out)."""
    ranked = [w for w in words if w not in SPECIALS]
    return {w: i for i, w in enumerate(ranked, 1)}


def average_rank(sentence: str, ranks: dict[str, int]) -> float:
    words = sentence.split()
    unknown = len(ranks) + 1
    return float(np.mean([ranks.get(w, unknown) for w in words])) if words else 0.0


def integer_bins(keys: Sequence[float], bins: int) -> list[np.ndarray]:
    """Sentence indices in at most ``bins`` bins of about equal size over the keys rounded to
    integers, each bin a range of whole values that no other bin shares (a value is never
    split between two bins, so the ranges never overlap); in key order."""
    rounded = np.rint(np.asarray(keys, dtype=float)).astype(np.int64)
    order = np.argsort(rounded, kind="stable")
    values = rounded[order]
    n = len(values)
    cuts = [0]
    for b in range(1, bins):
        target = round(b * n / bins)
        value = values[min(target, n - 1)]
        left = int(np.searchsorted(values, value, side="left"))  # where its run starts
        right = int(np.searchsorted(values, value, side="right"))  # and ends
        cut = left if target - left <= right - target else right
        if cuts[-1] < cut < n:
            cuts.append(cut)
    cuts.append(n)
    return [order[lo:hi] for lo, hi in itertools.pairwise(cuts) if hi > lo]


def bleu_by_bins(reference: Sequence[str], systems: Sequence[tuple[str, Sequence[str]]],
                 keys: Sequence[float], bins: int = 7, tokenize: str = "none") -> pd.DataFrame:
    """Corpus BLEU per system on up to ``bins`` bins of about equal size of the sentences
    sorted by ``keys`` (rounded to integers; see :func:`integer_bins`). Columns: ``bin``,
    ``low``, ``high`` (the bin's integer key range, inclusive), ``sentences``, then one per
    system."""
    if len(keys) != len(reference):
        raise RescoreError(f"{len(keys)} sort keys for {len(reference)} sentences")
    rounded = np.rint(np.asarray(keys, dtype=float)).astype(np.int64)
    bleu = make_bleu(tokenize)
    rows = []
    for b, idx in enumerate(integer_bins(keys, max(1, bins))):
        row: dict[str, object] = {"bin": b + 1, "low": int(rounded[idx].min()),
                                  "high": int(rounded[idx].max()), "sentences": len(idx)}
        refs = [[reference[i] for i in idx]]
        for name, hyps in systems:
            row[name] = bleu.corpus_score([hyps[i] for i in idx], refs).score
        rows.append(row)
    return pd.DataFrame(rows)


MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def plot_bins(table: pd.DataFrame, groups: dict[str, list[str]], baseline: str | None,
              xlabel: str, title: str) -> bytes:
    """One panel per group of systems (a report's table: rescoring, standalone translation),
    each with its own y axis. With a ``baseline`` (a column of ``table``) a panel shows each
    system's BLEU minus the baseline's per bin, the baseline being the zero line; without one,
    BLEU itself. Every line has its own marker and dash, and lines are drawn a little apart
    along x, so a system equal to another (or to the baseline) stays visible."""
    labels = [f"{lo}-{hi}" if lo != hi else f"{lo}"
              for lo, hi in zip(table["low"], table["high"], strict=True)]
    x = np.arange(len(table), dtype=float)
    panels = [(name, systems) for name, systems in groups.items() if systems] or [("", [])]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 1.2 + 3.0 * len(panels)), dpi=100,
                             sharex=True, squeeze=False)
    base = table[baseline].to_numpy() if baseline is not None else None
    for ax, (group, systems) in zip(axes[:, 0], panels, strict=True):
        width = 0.25 / max(1, len(systems))
        if base is not None:
            ax.axhline(0.0, color="black", linewidth=1.2, label=f"{baseline} (zero line)")
        for i, name in enumerate(systems):
            values = table[name].to_numpy()
            ax.plot(x + (i - (len(systems) - 1) / 2) * width,
                    values - base if base is not None else values,
                    marker=MARKERS[i % len(MARKERS)], linestyle=("-", "--", ":", "-.")[i % 4],
                    markersize=6, label=name, alpha=0.9)
        ax.set_ylabel("BLEU difference to the baseline" if base is not None else "BLEU",
                      fontsize=8)
        ax.set_title(group or title, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(title)
    axes[-1, 0].set_xticks(x, labels, rotation=30)
    axes[-1, 0].set_xlabel(xlabel)
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
        states.append(model.sentence_vector(ids, torch.tensor([ids.shape[1]]))[0].numpy())
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


def plot_pca(coords: np.ndarray, phrases: Sequence[str], explained: np.ndarray,
             model: str = "") -> bytes:
    """The phrases' points, each numbered next to it where the number overlaps no other
    label (the first free place of eight around the point), and the numbered phrases listed
    beside the plot (up to 40 characters each; the report's table lists them in full).
    ``model``: whose encoder the states are, named in the title."""
    fig, (ax, side) = plt.subplots(1, 2, figsize=(12, 7), dpi=100,
                                   gridspec_kw={"width_ratios": [3, 1.3]})
    ax.scatter(coords[:, 0], coords[:, 1], s=18)
    ax.margins(x=0.12, y=0.12)
    ax.set_xlabel(f"PC1 ({100 * explained[0]:.0f}% of variance)")
    ax.set_ylabel(f"PC2 ({100 * explained[1]:.0f}% of variance)")
    ax.set_title("Encoder final states" + (f" of {model}" if model else "")
                 + ", 2-D PCA (Figure 2)", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    frame = ax.get_window_extent(renderer)
    boxes: list[Any] = []
    offsets = [(5, 4), (5, -12), (-12, 4), (-12, -12), (0, 9), (0, -17), (10, -4), (-17, -4)]
    for i in np.argsort(coords[:, 0], kind="stable"):
        best = None
        for dx, dy in offsets:
            label = ax.annotate(str(i + 1), coords[i], xytext=(dx, dy),
                                textcoords="offset points", fontsize=8, color="#224")
            box = label.get_window_extent(renderer)
            free = frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1) and \
                not any(box.overlaps(other) for other in boxes)
            if free:
                best = (label, box)
                break
            label.remove()
        if best is None:  # crowded: the first place, overlapping
            label = ax.annotate(str(i + 1), coords[i], xytext=offsets[0],
                                textcoords="offset points", fontsize=8, color="#224")
            best = (label, label.get_window_extent(renderer))
        boxes.append(best[1])
    side.axis("off")
    listing = "\n".join(f"{i + 1}. " + (p if len(p) <= 40 else p[:39] + "…")
                        for i, p in enumerate(phrases))
    side.text(0.0, 1.0, listing, va="top", ha="left", fontsize=8, family="monospace",
              transform=side.transAxes)
    return _png(fig)


@torch.inference_mode()
def attention_matrix(ensemble: Ensemble, source: np.ndarray,
                     target: Sequence[int]) -> np.ndarray | None:
    """The attention weights while forced-decoding ``target </s>`` from ``source`` (ids):
    ``(len(target) + 1, len(source))``, row t the weights (mean over the ensemble's members
    with attention) when output t was chosen, over the source in reading order; None when no
    member attends."""
    src = torch.from_numpy(np.asarray(source, dtype=np.int64)).unsqueeze(0)
    states = ensemble.encode(src, torch.tensor([src.shape[1]]))
    prev, rows = torch.tensor([BOS_ID]), []
    for token in [*target, EOS_ID]:
        _, _, states = ensemble.step(prev, states)
        weights = ensemble.attention(states)
        if weights is None:
            return None
        rows.append(weights[0].float().numpy())
        prev = torch.tensor([token])
    return np.stack(rows)


def by_words(matrix: np.ndarray, source_words: Sequence[int],
             output_words: Sequence[int]) -> np.ndarray:
    """An attention matrix over ids (``(outputs + 1, sources)``, the last row ``</s>``) as one
    over words: a source word's columns summed (the weight it got), an output word's rows
    averaged. With word vocabularies every word is one id and the matrix stays as it is."""
    n_src = max(source_words, default=-1) + 1
    cols = np.zeros((matrix.shape[0], n_src))
    np.add.at(cols.T, np.asarray(source_words), matrix.T)
    groups = [*output_words, max(output_words, default=-1) + 1]  # </s> its own row
    rows = np.zeros((groups[-1] + 1, n_src))
    counts = np.zeros(groups[-1] + 1)
    np.add.at(rows, np.asarray(groups), cols)
    np.add.at(counts, np.asarray(groups), 1)
    return rows / counts[:, None]


def plot_attention(matrix: np.ndarray, source: Sequence[str], output: Sequence[str],
                   title: str = "") -> bytes:
    """A heat map of an attention matrix ``(len(output) + 1, len(source))``: source words
    across, output words (and ``</s>``) down, darker for more weight."""
    rows, cols = matrix.shape
    fig, ax = plt.subplots(figsize=(max(4.0, 0.35 * cols + 2), max(3.0, 0.3 * rows + 1.5)),
                           dpi=100)
    ax.imshow(matrix, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(cols), list(source), rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(rows), [*output, "</s>"], fontsize=8)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return _png(fig)


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
