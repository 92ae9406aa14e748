"""Staged pipelines: each stage is one command with declared inputs and outputs; a stage is
skipped when it is up to date, so a rerun after a change redoes only what changed.

A stage is up to date when it last finished with the same command and the same code (the
package version and a digest of the rescore modules its command imports, docstrings and
comments left out), its input files and folders have the same content (SHA-256) as then, the
files the pipeline writes for it (a report spec) have the same text, every stage it depends
on is up to date and has not run since, and its outputs exist. A stage that runs makes every
stage after it that depends on it run too. Records live in ``ROOT/.stages/NAME.json``,
written only when a stage finishes; logs in ``ROOT/logs/NAME.log``. An interrupted stage
starts again, or continues from its own checkpoint when it has a ``resume`` command
(training).
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import logging
import os
import runpy
import shlex
import shutil
import signal
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import rescore
from rescore import __version__
from rescore.errors import RescoreError
from rescore.files import atomic_output, format_seconds

PACKAGE_DIR = Path(rescore.__file__).resolve().parent  # the installed toolkit's code
EXIT_INTERRUPTED = 130
logger = logging.getLogger(__name__)


@dataclass
class Stage:
    """``command`` (argv) makes ``outputs`` from ``inputs`` (files or folders made outside
    the pipeline or by the stages in ``after``). ``resume``: the command that continues an
    interrupted run when ``partial`` exists (and the command is unchanged)."""

    name: str
    command: list[str]
    outputs: list[Path]
    inputs: list[Path] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    resume: list[str] | None = None
    partial: Path | None = None
    description: str = ""
    generated: dict[Path, str] = field(default_factory=dict)  # files written before it runs
    workspace: Path | None = None  # a folder the stage owns: emptied when it starts afresh

    def shell(self, argv: Sequence[str] | None = None) -> str:
        return " ".join(shlex.quote(str(a)) for a in (argv or self.command))


def digest(path: Path) -> str:
    """SHA-256 of a file, or of a folder's relative file names and contents (hidden and
    temporary files left out); ``missing`` for a path that does not exist."""
    if path.is_file():
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    if path.is_dir():
        h = hashlib.sha256()
        for sub in sorted(p for p in path.rglob("*") if p.is_file()
                          and not any(part.startswith(".") for part in p.relative_to(path).parts)):
            h.update(str(sub.relative_to(path)).encode() + b"\0" + digest(sub).encode())
        return h.hexdigest()
    return "missing"


def _module_file(name: str) -> Path | None:
    """The source file of module ``rescore.x.y`` (a package's ``__init__.py``), or None."""
    parts = name.split(".")[1:]
    base = PACKAGE_DIR.joinpath(*parts)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imported_modules(path: Path) -> set[str]:
    """The rescore modules a source file imports (anywhere in it, lazy imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "rescore"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "rescore":
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names
                      if _module_file(f"{node.module}.{a.name}") is not None}
    return found


def _semantic_digest(path: Path) -> str:
    """SHA-256 of a source file's syntax tree without docstrings: comments, formatting and
    documentation changes do not count as code changes."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            body[0] = ast.Pass()
    return hashlib.sha256(ast.dump(tree).encode("utf-8")).hexdigest()


def code_digest(command: Sequence[str | Path]) -> str | None:
    """A digest of the code a command runs: for ``python -m rescore...`` or ``python
    SCRIPT.py`` the module or script and every rescore module it imports, transitively (with
    each package's ``__init__``); None for any other command."""
    args = [str(a) for a in command]
    if len(args) > 2 and args[1] == "-m" and args[2].split(".")[0] == "rescore":
        entry = _module_file(args[2])
    elif len(args) > 1 and args[1].endswith(".py") and Path(args[1]).is_file():
        entry = Path(args[1])
    else:
        return None
    if entry is None:
        return None
    files: dict[Path, None] = {}
    todo = [entry]
    while todo:
        path = todo.pop()
        if path in files:
            continue
        files[path] = None
        for name in _imported_modules(path):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # the module and every package above it
                found = _module_file(".".join(parts[:i]))
                if found is not None and found not in files:
                    todo.append(found)
    h = hashlib.sha256()
    for path in sorted(files):
        label = path.relative_to(PACKAGE_DIR) if path.is_relative_to(PACKAGE_DIR) else path.name
        h.update(f"{label}\0{_semantic_digest(path)}\n".encode())
    return h.hexdigest()


def _text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class Decision:
    stage: Stage
    run: bool
    reason: str
    resume: bool = False


class Pipeline:
    """Stages in dependency order (each stage's ``after`` names earlier stages)."""

    def __init__(self, root: Path, stages: Sequence[Stage], in_process: bool = True) -> None:
        self.in_process = in_process
        self.root = Path(root)
        self.stages = list(stages)
        names: set[str] = set()
        for stage in self.stages:
            unknown = [a for a in stage.after if a not in names]
            if unknown:
                raise RescoreError(f"stage {stage.name}: depends on {unknown}, not an earlier "
                                   "stage")
            if stage.name in names:
                raise RescoreError(f"stage {stage.name} is defined twice")
            names.add(stage.name)
        self.records_dir = self.root / ".stages"
        self.logs_dir = self.root / "logs"
        self._code: dict[str, str | None] = {}

    def code(self, stage: Stage) -> dict[str, str | None]:
        """What the stage's record keeps of the code: the package version and the digest of
        the modules its command runs."""
        if stage.name not in self._code:
            self._code[stage.name] = code_digest(stage.command)
        return {"version": __version__, "digest": self._code[stage.name]}

    def record(self, name: str) -> dict[str, object] | None:
        path = self.records_dir / f"{name}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) else None

    def plan(self) -> list[Decision]:
        """What a run would do, stage by stage, and why."""
        decisions: list[Decision] = []
        will_run: set[str] = set()
        for stage in self.stages:
            decision = self._decide(stage, will_run)
            if decision.run:
                will_run.add(stage.name)
            decisions.append(decision)
        return decisions

    def _decide(self, stage: Stage, will_run: set[str]) -> Decision:
        rec = self.record(stage.name)
        resume = bool(stage.resume and stage.partial and stage.partial.exists())
        if rec is None or rec.get("state") != "done":
            same = rec is not None and rec.get("command") == stage.command
            if resume and same:
                return Decision(stage, True, "interrupted: continue", resume=True)
            return Decision(stage, True, "not run yet" if rec is None else "interrupted")
        if rec.get("command") != stage.command:
            return Decision(stage, True, "command changed")
        if rec.get("code") != self.code(stage):
            return Decision(stage, True, "code changed")
        made = rec.get("generated", {})
        for path, text in stage.generated.items():
            if not isinstance(made, dict) or made.get(str(path)) != _text_digest(text):
                return Decision(stage, True, f"{path} changed")
        upstream = [a for a in stage.after if a in will_run]
        if upstream:
            return Decision(stage, True, f"{', '.join(upstream)} will run")
        runs = rec.get("upstream", {})
        for name in stage.after:
            up = self.record(name)
            if up is None or not isinstance(runs, dict) or runs.get(name) != up.get("run_id"):
                return Decision(stage, True, f"{name} ran since")
        inputs = rec.get("inputs", {})
        for path in stage.inputs:
            if not isinstance(inputs, dict) or inputs.get(str(path)) != digest(path):
                return Decision(stage, True, f"input {path} changed")
        missing = [p for p in stage.outputs if not p.exists()]
        if missing:
            return Decision(stage, True, f"output {missing[0]} missing")
        return Decision(stage, False, "up to date")

    def _write_record(self, stage: Stage, state: str, seconds: float = 0.0) -> None:
        self.records_dir.mkdir(parents=True, exist_ok=True)
        upstream = {}
        for name in stage.after:
            up = self.record(name)
            upstream[name] = up.get("run_id") if up else None
        data = {"state": state, "command": stage.command, "code": self.code(stage),
                "generated": {str(p): _text_digest(t) for p, t in stage.generated.items()},
                "run_id": uuid.uuid4().hex,
                "inputs": {str(p): digest(p) for p in stage.inputs} if state == "done" else {},
                "upstream": upstream, "outputs": [str(p) for p in stage.outputs],
                "seconds": round(seconds, 3), "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
        with atomic_output(self.records_dir / f"{stage.name}.json") as out:
            out.write(json.dumps(data, indent=2) + "\n")

    def run(self, dry_run: bool = False, echo: bool = True, jobs: int = 1) -> list[Decision]:
        """Run the stages that are not up to date, in order; stop at the first failure
        (RescoreError naming the stage and its log). ``dry_run``: only decide (see
        :func:`format_plan`); ``echo``: log each stage's start and time (logger
        ``pipelines.engine.pipeline``); ``jobs``: run up to this many stages side by side
        (each as its own process), a stage starting once every stage in its ``after`` has
        finished."""
        decisions = self.plan()
        if dry_run:
            return decisions
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        planned = [d.stage.name for d in decisions if d.run]
        will_run: set[str] = set()
        if jobs > 1:
            done = self._run_side_by_side(jobs, planned, will_run, echo)
        else:
            done = []
            for stage in self.stages:
                d = self._decide(stage, will_run)  # again: an earlier stage may have changed
                done.append(d)
                if self._announce(d, planned, will_run, echo):
                    self._run_stage(d, echo)
        if will_run:
            self.write_times(echo)
        return done

    def _announce(self, d: Decision, planned: list[str], will_run: set[str],
                  echo: bool) -> bool:
        """Log a stage's decision; True (and counted in ``will_run``) when it runs."""
        if not d.run:
            if echo:
                logger.info("[skip] %s (up to date)", d.stage.name)
            return False
        will_run.add(d.stage.name)
        if echo:
            logger.info("[run ] %s (%s) %s", d.stage.name, d.reason,
                        self._progress(d.stage.name, planned, will_run))
        return True

    def _run_side_by_side(self, jobs: int, planned: list[str], will_run: set[str],
                          echo: bool) -> list[Decision]:
        """Up to ``jobs`` stages at once, each a process; a stage is decided when the stages
        it depends on have finished. A failure lets the running stages finish, starts no
        more and raises; an interrupt stops them all."""
        waiting = list(self.stages)
        finished: set[str] = set()
        running: dict[str, tuple[subprocess.Popen[bytes], Decision, IO[str], float]] = {}
        decided: list[Decision] = []
        failure: RescoreError | None = None
        try:
            while waiting or running:
                for stage in list(waiting):
                    if failure or len(running) >= jobs:
                        break
                    if any(a not in finished for a in stage.after):
                        continue
                    waiting.remove(stage)
                    d = self._decide(stage, will_run)
                    decided.append(d)
                    if not self._announce(d, planned, will_run, echo):
                        finished.add(stage.name)
                        continue
                    argv, log = self._start(d)
                    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                               env=_stage_env())
                    running[stage.name] = (process, d, log, time.perf_counter())
                if failure and not running:
                    raise failure
                if not running:
                    if waiting and not failure:  # cannot happen: "after" names earlier stages
                        raise RescoreError(f"stage {waiting[0].name}: waits for a stage that "
                                           "never runs")
                    break
                name = self._wait_any(running)
                process, d, log, start = running.pop(name)
                log.close()
                try:
                    self._finish(d, process.returncode, time.perf_counter() - start, echo)
                    finished.add(name)
                except RescoreError as err:
                    failure = failure or err
        except BaseException:
            for process, _, log, _ in running.values():
                process.terminate()
                process.wait()
                log.close()
            raise
        return decided

    @staticmethod
    def _wait_any(running: dict[str, tuple[subprocess.Popen[bytes], Decision, IO[str],
                                           float]]) -> str:
        """The name of a running stage that has ended (polls every 0.05 s)."""
        while True:
            for name, (process, *_rest) in running.items():
                if process.poll() is not None:
                    return name
            time.sleep(0.05)

    def write_times(self, echo: bool = True) -> Path:
        """``ROOT/stage-times.csv``: every finished stage's time when it last ran (which step of
        an experiment dominates); the slowest are logged."""
        import pandas as pd  # only when stages ran

        rows = []
        for stage in self.stages:
            rec = self.record(stage.name) or {}
            if rec.get("state") == "done":
                rows.append({"stage": stage.name, "description": stage.description,
                             "seconds": rec.get("seconds"), "finished": rec.get("finished")})
        table = pd.DataFrame(rows, columns=["stage", "description", "seconds", "finished"])
        path = self.root / "stage-times.csv"
        with atomic_output(path) as out:
            out.write(table.to_csv(index=False))
        if echo and len(table):
            slow = table.sort_values("seconds", ascending=False).head(5)
            total = float(table["seconds"].sum())
            logger.info("stage times (%s in all; %s): %s", format_seconds(total), path,
                        ", ".join(f"{name} {format_seconds(float(sec))}"
                                  for name, sec in zip(slow["stage"], slow["seconds"],
                                                       strict=True)))
        return path

    def _progress(self, name: str, planned: list[str], started: set[str]) -> str:
        """``[stage 3/18; log PATH; about 4 min left]``: the overall ETA sums the times the
        stages still to run took when they last finished (unknown for a first run)."""
        index = planned.index(name) + 1 if name in planned else len(started)
        total = max(len(planned), index)
        parts = [f"stage {index}/{total}", f"log {self.logs_dir / (name + '.log')}"]
        rest = [self.record(n) for n in planned[index - 1:]]
        seconds = [r.get("seconds") for r in rest if r is not None]
        if rest and len(seconds) == len(rest) and all(isinstance(s, int | float) for s in seconds):
            parts.append(f"about {format_seconds(sum(seconds))} left")  # type: ignore[arg-type]
        return "[" + "; ".join(parts) + "]"

    def _start(self, d: Decision) -> tuple[list[str], IO[str]]:
        """Prepare a stage's run (a fresh start empties its outputs; generated files written;
        the record says running) and open its log: the argv to run and the log."""
        stage = d.stage
        argv = stage.resume if d.resume and stage.resume else stage.command
        for path in [*stage.outputs, *([stage.workspace] if stage.workspace else [])]:
            if not d.resume and path.is_dir():  # a fresh start: no leftovers of an older run
                shutil.rmtree(path)
            path.parent.mkdir(parents=True, exist_ok=True)
        for path, text in stage.generated.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(path) as out_file:
                out_file.write(text)
        self._write_record(stage, "running")
        log = open(self.logs_dir / f"{stage.name}.log", "w", encoding="utf-8")  # noqa: SIM115
        log.write(f"$ {stage.shell(argv)}\n")
        log.flush()
        return [str(a) for a in argv], log

    def _run_stage(self, d: Decision, echo: bool) -> None:
        argv, out = self._start(d)
        start = time.perf_counter()
        with out:
            if self.in_process and len(argv) > 1 and argv[0] == sys.executable:
                code = _run_python(argv[1:], out)
            else:
                code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False,
                                      env=_stage_env()).returncode
        self._finish(d, code, time.perf_counter() - start, echo)

    def _finish(self, d: Decision, code: int, seconds: float, echo: bool) -> None:
        """Check a stage's exit and outputs and record it done (or raise)."""
        stage = d.stage
        log = self.logs_dir / f"{stage.name}.log"
        if code in (EXIT_INTERRUPTED, -signal.SIGINT):  # Ctrl-C reached the stage
            raise KeyboardInterrupt
        if code != 0:
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
            raise RescoreError(f"stage {stage.name} failed (exit {code}; log "
                               f"{log}):\n  " + "\n  ".join(tail))
        missing = [p for p in stage.outputs if not p.exists()]
        if missing:
            raise RescoreError(f"stage {stage.name} did not write {missing[0]} (log {log})")
        self._write_record(stage, "done", seconds)
        if echo:
            logger.info("       %s done in %.1f s", stage.name, seconds)


def _stage_env() -> dict[str, str]:
    """The environment of a stage run as a process: this one's, output unbuffered (its log
    fills as it runs)."""
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def _run_python(args: list[str], out: IO[str]) -> int:
    """Run ``python ARGS`` (``-m module ...``, ``-c code ...`` or ``script.py ...``) in this
    process, output to ``out``: a stage then costs no interpreter start and no second import
    of torch. Returns the exit status (a traceback goes to the log)."""
    old_argv = sys.argv
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            if args[0] == "-m" and len(args) > 1:
                sys.argv = [args[1], *args[2:]]
                runpy.run_module(args[1], run_name="__main__", alter_sys=True)
            elif args[0] == "-c" and len(args) > 1:
                sys.argv = ["-c", *args[2:]]
                exec(compile(args[1], "<stage>", "exec"), {"__name__": "__main__"})
            else:
                sys.argv = list(args)
                runpy.run_path(args[0], run_name="__main__")
        return 0
    except SystemExit as stop:
        code = stop.code
        if code is None or code == 0:
            return 0
        if not isinstance(code, int):
            print(code, file=out)
            return 1
        return code
    except Exception:
        traceback.print_exc(file=out)
        return 1
    finally:
        sys.argv = old_argv
        out.flush()


def format_plan(decisions: Sequence[Decision]) -> str:
    """What a dry run shows: each stage, run or skip and why, and its command."""
    return "".join(f"[{'run ' if d.run else 'skip'}] {d.stage.name}: {d.reason}\n"
                   f"       {d.stage.shell(d.stage.resume if d.resume else None)}\n"
                   for d in decisions)


def run_pipeline(name: str, make: Callable[[], Pipeline], dry_run: bool,
                 report: Path | None = None, jobs: int = 1) -> None:
    """A pipeline script's main: build the stages and run them (or list them with
    ``dry_run``, writing nothing); errors are one line and exit status 2, an interrupt 130."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False  # stages run in this process set up the rescore logger
    try:
        decisions = make().run(dry_run=dry_run, jobs=jobs)
        if dry_run:
            print(format_plan(decisions), end="")
    except RescoreError as err:
        print(f"{name} pipeline: error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"{name} pipeline: interrupted; run the same command again to resume (finished "
              "stages are skipped, training continues from its checkpoint)", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    if not dry_run and report is not None:
        print(f"report: {report} (and .md, .json)", file=sys.stderr)
