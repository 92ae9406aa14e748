"""Running a pipeline's rescore commands: each once (skipped when every output exists),
timed, up to ``jobs`` at a time, each queued as soon as the work it reads is done
(:meth:`Runner.after`) rather than at the end of a phase."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TextIO

PY = sys.executable


def say(line: str, stream: TextIO = sys.stderr) -> None:
    """One whole line in one write: ``--jobs`` runs stages from several threads, and
    ``print`` writes a line's text and its newline separately, so two lines could merge."""
    stream.write(line + "\n")
    stream.flush()


Call = tuple[str, str, list[str | Path], list[Path]]  # name, command, arguments, outputs


class Runner:
    """Runs rescore commands once (skipped when every output exists), timing each, up to
    ``jobs`` at a time; ``dry``: lists them instead. ``times``: a JSON-lines file each
    finished stage appends its seconds to, so that a run stopped and started again (the
    stages done are skipped, trainings resume) still says how long every stage took.

    Work waits only for what it needs (``after``): a stage is queued as soon as the stages
    it reads have finished, so a core that one phase leaves idle (the last training, the
    longest search) takes the next phase's work instead of waiting for the whole phase."""

    def __init__(self, prog: str, threads: int, jobs: int = 1, dry: bool = False,
                 times: Path | None = None) -> None:
        self.prog, self.threads, self.dry, self.times = prog, threads, dry, times
        self.seconds: dict[str, float] = {}
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=jobs)  # the stages
        self.waiters = ThreadPoolExecutor(max_workers=32)  # threads that only wait

    def __call__(self, name: str, command: str, args: list[str | Path],
                 outputs: list[Path]) -> None:
        if all(p.exists() for p in outputs):
            return
        argv = [PY, "-m", f"rescore.cli.{command}", *map(str, args)]
        if command not in ("tune", "combine", "report", "model"):
            argv += ["--threads", str(self.threads)]
        if self.dry:
            say(f"[plan] {name}: {' '.join(argv[2:])}", sys.stdout)
            return
        for p in outputs:
            p.parent.mkdir(parents=True, exist_ok=True)
        say(f"[run ] {name}: {' '.join(argv[2:])}")
        start = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        self.seconds[name] = round(time.perf_counter() - start, 1)
        if result.returncode != 0:
            self.pool.shutdown(wait=False, cancel_futures=True)  # nothing queued starts
            sys.exit(f"{self.prog}: {name} failed:\n{result.stderr[-2000:]}")
        say(f"[done] {name} ({self.seconds[name]:.0f} s)")
        if self.times is not None:
            line = json.dumps({"stage": name, "seconds": self.seconds[name],
                               "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
            self.times.parent.mkdir(parents=True, exist_ok=True)
            with self.lock, self.times.open("a+b") as out:
                if out.tell() > 0:  # after a line a stop cut short: start a new one
                    out.seek(-1, 2)
                    line = ("" if out.read(1) == b"\n" else "\n") + line
                out.write((line + "\n").encode())

    def recorded_seconds(self) -> dict[str, float]:
        """Every stage's seconds in ``times``, from this process and the runs before it
        (a stage run again: its latest time; a training resumed: its last process's part,
        while the model's own log.jsonl counts all of its ``elapsed_s``)."""
        seconds = dict(self.seconds)
        if self.times is not None and self.times.exists():
            for line in self.times.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    seconds[str(entry["stage"])] = float(entry["seconds"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a stop: that stage is not counted
        return seconds

    def submit(self, call: Call) -> Future[None]:
        return self.pool.submit(self, *call)

    def after(self, needs: list[Future[None]], work: Callable[[], None]) -> Future[None]:
        """``work`` queued on the pool once every future in ``needs`` is done (its failure
        is theirs); the future returned is done when ``work`` is."""
        def chain() -> None:
            for need in needs:
                need.result()
            self.pool.submit(work).result()
        return self.waiters.submit(chain)

    def parallel(self, calls: list[Call]) -> None:
        """Every call, up to ``jobs`` at a time; returns when all are done."""
        wait_all([self.submit(c) for c in calls])


def wait_all(futures: list[Future[None]]) -> None:
    """Waits for every future; the first failure (a stage's exit) is raised here."""
    for future in futures:
        future.result()
