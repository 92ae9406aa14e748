"""What the commands that choose translations write: a 1-best file (one line per sentence)
and a Moses n-best list, each optional, both appearing atomically together when the run ends
(nothing half-written if it fails). One writer for ``rescore-nbest`` (reranked lists),
``rescore-mbr`` and ``rescore-translate``, as Sockeye's output handlers: the commands decide
what a sentence's lines are, :class:`SystemOutputs` how they reach the files."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from rescore.files import atomic_outputs


class SystemOutputs:
    """``with SystemOutputs(output_1best, output_nbest) as out: out.write(...)``.

    ``with_ids``: each 1-best line starts with ``ID<tab>`` (the shards of a torchrun run,
    merged in id order later); ``detokenize``: a language code, the 1-best lines are
    detokenized with sacremoses (the n-best list stays tokenized, as Moses writes it)."""

    def __init__(self, output_1best: str | Path | None, output_nbest: str | Path | None,
                 with_ids: bool = False, detokenize: str | None = None) -> None:
        self.paths = (output_1best, output_nbest)
        self.with_ids = with_ids
        self.detokenizer: Any = None
        if detokenize:
            from sacremoses import MosesDetokenizer  # only where asked for

            self.detokenizer = MosesDetokenizer(lang=detokenize)
        self._stack = contextlib.ExitStack()
        self._best: IO[str] | None = None
        self._nbest: IO[str] | None = None
        self.sentences = 0

    @property
    def wants_nbest(self) -> bool:
        """Whether an n-best list is written (the caller may skip building its lines)."""
        return self.paths[1] is not None

    def __enter__(self) -> SystemOutputs:
        self._best, self._nbest = self._stack.enter_context(atomic_outputs(*self.paths))
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stack.__exit__(kind, error, trace)

    def write(self, sent_id: int, best: str, nbest: str | Iterable[str] = "") -> None:
        """One sentence: its 1-best text (empty where it has none) and its n-best lines
        (complete Moses lines, each ending in a newline)."""
        self.sentences += 1
        if self._best is not None:
            if self.detokenizer is not None and best:
                best = self.detokenizer.detokenize(best.split())
            self._best.write((f"{sent_id}\t" if self.with_ids else "") + best + "\n")
        if self._nbest is not None:
            if isinstance(nbest, str):
                self._nbest.write(nbest)
            else:
                self._nbest.writelines(nbest)
