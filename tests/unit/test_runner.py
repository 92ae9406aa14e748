"""The pipelines' runner (pipelines/engine/runner.py): work queued with ``after`` starts only
once what it needs is done, never more than ``jobs`` at a time; a failed stage exits with one
line naming it and nothing queued behind it starts; a stage whose outputs exist is skipped."""

from __future__ import annotations

import threading
import time
from concurrent.futures import CancelledError
from functools import partial
from pathlib import Path

import pytest

from pipelines.engine.runner import Runner, wait_all


def test_work_waits_for_what_it_needs_and_for_a_free_job() -> None:
    run = Runner("test", threads=1, jobs=2)
    lock = threading.Lock()
    active, most, log = [0], [0], []

    def work(name: str, seconds: float) -> None:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
            log.append(("start", name))
        time.sleep(seconds)
        with lock:
            active[0] -= 1
            log.append(("end", name))

    slow = run.after([], lambda: work("slow", 1.0))
    quick = [run.after([], partial(work, f"quick{i}", 0.05)) for i in range(4)]
    later = run.after([slow], lambda: work("later", 0.01))
    wait_all([slow, *quick, later])
    assert most[0] == 2  # both jobs used, never a third
    assert log.index(("start", "later")) > log.index(("end", "slow"))
    # the quick ones ran on the job the slow one left free
    assert all(log.index(("end", f"quick{i}")) < log.index(("end", "slow")) for i in range(4))


def test_a_failed_stage_exits_in_one_line_and_nothing_queued_starts(tmp_path: Path) -> None:
    run = Runner("test", threads=1, jobs=1)
    ran = []
    failed = run.submit(("bad-report", "report", ["--spec", tmp_path / "missing.json"],
                         [tmp_path / "out.md"]))
    queued = run.after([], lambda: ran.append(1))
    with pytest.raises(SystemExit) as exit_:
        wait_all([failed])
    assert str(exit_.value).startswith("test: bad-report failed:")
    with pytest.raises((CancelledError, RuntimeError)):
        queued.result(timeout=10)
    assert not ran and not (tmp_path / "out.md").exists()


def test_a_stage_whose_outputs_exist_is_skipped(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    done = tmp_path / "done.txt"
    done.write_text("x\n")
    run = Runner("test", threads=1, jobs=2)
    run.parallel([("kept", "report", ["--spec", tmp_path / "missing.json"], [done])])
    assert run.seconds == {}
    dry = Runner("test", threads=1, jobs=2, dry=True)
    dry.parallel([("planned", "translate", ["--beam", "5"], [tmp_path / "new.txt"])])
    assert "[plan] planned: rescore.cli.translate --beam 5 --threads 1" in capsys.readouterr().out


def test_the_seconds_of_a_stopped_run_are_kept_for_the_run_that_continues_it(
        tmp_path: Path) -> None:
    times = tmp_path / "work" / "stages.jsonl"
    first = Runner("test", threads=1, jobs=1, times=times)
    first.parallel([("version", "model", ["--version"], [tmp_path / "never.txt"])])
    assert set(first.seconds) == {"version"}
    with times.open("a") as out:
        out.write('{"stage": "cut-sh')  # the line a stop cut short: not counted
    second = Runner("test", threads=1, jobs=1, times=times)
    second.parallel([("again", "model", ["--version"], [tmp_path / "never2.txt"])])
    assert set(second.recorded_seconds()) == {"version", "again"}
    recorded = Runner("test", threads=1, times=times).recorded_seconds()  # the file alone
    assert set(recorded) == {"version", "again"}
    assert recorded["version"] == first.seconds["version"] > 0
