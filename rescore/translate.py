"""Standalone translation: models loaded as one ensemble, a corpus translated in length-sorted
batches, outputs as 1-best lines and Moses-format n-best lists."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from rescore import model_dir
from rescore.beam import Ensemble, Hypothesis, SearchConfig, beam_search
from rescore.corpus import make_tokenizer
from rescore.errors import InputError, RescoreError
from rescore.files import iter_line_chunks
from rescore.nbest import format_score
from rescore.outputs import SystemOutputs
from rescore.scoring import autocast
from rescore.vocab import UNK_ID, Vocab


@dataclass
class Translator:
    """An ensemble of models sharing both vocabularies, ready to translate token lists."""

    ensemble: Ensemble
    src_vocab: Vocab
    tgt_vocab: Vocab
    max_source_len: int  # the longest source the models were trained on (tokens)
    tokenize: str  # how the models' training text was tokenized (none, moses)
    names: list[str]
    right_to_left: bool = False  # the models write the target in reverse (output reversed)

    @classmethod
    def load(cls, directories: Sequence[str | Path], mode: str = "log-linear",
             device: torch.device | None = None) -> Translator:
        if not directories:
            raise RescoreError("give at least one --model")
        loaded = [model_dir.load(d, device) for d in directories]
        model_dir.check_compatible(loaded)
        tokenizers = {m.tokenize for m in loaded}
        if len(tokenizers) > 1:
            raise RescoreError(f"the models were trained on differently tokenized text "
                               f"({', '.join(sorted(tokenizers))})")
        orders = {m.right_to_left for m in loaded}
        if len(orders) > 1:
            raise RescoreError("left-to-right and right-to-left models cannot search together "
                               "(their next-word distributions are of different words); "
                               "rescore n-best lists with both instead (rescore-nbest --model)")
        return cls(Ensemble([m.model for m in loaded], mode, [str(d) for d in directories]),
                   loaded[0].src_vocab,
                   loaded[0].tgt_vocab, min(m.train_config.max_len for m in loaded),
                   tokenizers.pop(), [f"LSTM{i}" for i in range(len(loaded))], orders.pop())


def read_sources(path: str | Path, translator: Translator, src_lang: str,
                 max_len: int | None = None,
                 words: list[list[str]] | None = None) -> list[np.ndarray]:
    """Source lines as id arrays (an empty line gives an empty array); ``words``, when given,
    receives each line's tokens. A line longer than ``max_len`` tokens (default: the models'
    training limit) is an error naming it."""
    tokenizer = make_tokenizer(translator.tokenize, src_lang)
    limit = translator.max_source_len if max_len is None else max_len
    out = []
    for first, lines in iter_line_chunks(path):
        for offset, line in enumerate(lines):
            tokens = tokenizer(line)
            if len(tokens) > limit:
                raise InputError(path, first + offset, f"{len(tokens)} tokens: longer than "
                                 f"the models' limit of {limit} (--max-input-len)")
            out.append(translator.src_vocab.encode(tokens))
            if words is not None:
                words.append(tokens)
    return out


def translate(translator: Translator, sources: Sequence[np.ndarray], config: SearchConfig,
              batch_size: int = 32, device: torch.device | None = None,
              progress: bool = False, precision: str = "fp32") -> list[list[Hypothesis]]:
    """Hypotheses for every source, in input order; sources are decoded in batches of similar
    length (``batch_size`` sentences). An empty source gets no hypothesis. ``precision``
    bf16: the models' matrix products under bf16 autocast (log-probabilities and beam scores
    stay fp32)."""
    device = device or torch.device("cpu")
    order = sorted((i for i, s in enumerate(sources) if len(s)), key=lambda i: len(sources[i]))
    out: list[list[Hypothesis]] = [[] for _ in sources]
    with tqdm(total=len(order), unit="sent", disable=not progress, desc="translate") as bar:
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            with autocast(device, precision):
                found = beam_search(translator.ensemble, [sources[i] for i in rows], config,
                                    device, align=config.unk == "replace")
            for i, hyps in zip(rows, found, strict=True):
                out[i] = hyps
            bar.update(len(rows))
    return out


def grid_output(template: str | Path, alpha: float, reward: float = 0.0) -> str:
    """The file of length penalty ``alpha`` and word reward ``reward`` of ``rescore-translate
    --output-grid TEMPLATE``: ``{alpha}`` and ``{reward}`` replaced by the numbers in their
    shortest form (0.5, 1, 3.5)."""
    return str(template).replace("{alpha}", f"{alpha:g}").replace("{reward}", f"{reward:g}")


def hypothesis_text(hyp: Hypothesis, vocab: Vocab, unk: str, right_to_left: bool = False,
                    source: Sequence[str] | None = None,
                    source_words: Sequence[int] | None = None) -> str:
    """Target words of a hypothesis in reading order (a right-to-left model's reversed);
    ``<unk>`` left in (keep), removed (drop) or replaced by the ``source`` word its
    alignment points at (replace: Luong et al. 2015's unknown-word replacement).
    ``source_words``: the word of each source id (a subword source: its pieces' words)."""
    ids = list(hyp.tokens)
    align = list(hyp.alignment) if hyp.alignment is not None else None
    if unk == "drop":
        keep = [i for i, t in enumerate(ids) if t != UNK_ID]
        ids = [ids[i] for i in keep]
        align = [align[i] for i in keep] if align is not None else None
    if right_to_left:  # the ids in reading order, then the words they spell
        ids = ids[::-1]
        align = align[::-1] if align is not None else None
    replace = {}
    if unk == "replace" and source is not None and align is not None:
        words = list(source_words) if source_words is not None else list(range(len(source)))
        replace = {i: vocab.as_piece(source[words[a]])
                   for i, (t, a) in enumerate(zip(ids, align, strict=True))
                   if t == UNK_ID and a < len(words)}
    return " ".join(vocab.decode(ids, replace))


def nbest_lines(sentence: int, hyps: Sequence[Hypothesis], texts: Sequence[str],
                names: Sequence[str]) -> Iterator[str]:
    """Moses n-best lines: ``id ||| hyp ||| LSTM0= s0 [LSTM1= s1 ...] ||| total``, where the
    features are each model's ln P(hyp | source) and the total the search's ranking score."""
    for hyp, text in zip(hyps, texts, strict=True):
        feats = " ".join(f"{n}= {format_score(s)}"
                         for n, s in zip(names, hyp.member_scores, strict=True))
        yield f"{sentence} ||| {text} ||| {feats} ||| {format_score(hyp.rank_score)}\n"


def write_outputs(results: Sequence[Sequence[Hypothesis]], translator: Translator, unk: str,
                  out: SystemOutputs, sources: Sequence[Sequence[str]] | None = None) -> None:
    """Through ``out``: the 1-best lines (one per source, empty for an empty source) and the
    n-best list; ``sources``: the source tokens, for ``unk`` replace."""
    for i, hyps in enumerate(results):
        source = sources[i] if sources is not None else None
        positions = (translator.src_vocab.word_positions(translator.src_vocab.encode(source))
                     if source is not None and unk == "replace" else None)
        texts = [hypothesis_text(h, translator.tgt_vocab, unk, translator.right_to_left,
                                 source, positions) for h in hyps]
        out.write(i, texts[0] if texts else "",
                  nbest_lines(i, hyps, texts, translator.names) if out.wants_nbest else "")
