"""Staged pipelines: a rerun does no work; deleting one stage's output redoes that stage and
the stages after it only; changed inputs or commands redo; failures and interruptions."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from pipelines.engine import pipeline
from pipelines.engine.pipeline import (
    PACKAGE_DIR,
    Pipeline,
    Stage,
    code_digest,
    format_plan,
    run_pipeline,
)
from rescore import __version__
from rescore.errors import RescoreError

# copy every input to the output, adding a line; append the stage name to the run log
STEP = ("import sys, pathlib; out, log, *ins = sys.argv[1:]; "
        "text = ''.join(pathlib.Path(i).read_text() for i in ins) + out + '\\n'; "
        "pathlib.Path(out).write_text(text); "
        "open(log, 'a').write(pathlib.Path(out).name + '\\n')")


def step(name: str, root: Path, inputs: list[Path], after: list[str],
         extra: str = "") -> Stage:
    out = root / f"{name}.txt"
    return Stage(name, [sys.executable, "-c", STEP + extra, str(out), str(root / "runs.log"),
                        *map(str, inputs)], [out], [p for p in inputs if "src" in p.name],
                 after)


def diamond(root: Path, in_process: bool = True) -> Pipeline:
    """src -> a -> b -> d, a -> c -> d; e depends on src only."""
    src = root / "src.txt"
    if not src.exists():
        src.write_text("source\n")
    r = root
    return Pipeline(root / "state", [
        step("a", r, [src], []),
        step("b", r, [r / "a.txt"], ["a"]),
        step("c", r, [r / "a.txt"], ["a"]),
        step("d", r, [r / "b.txt", r / "c.txt"], ["b", "c"]),
        step("e", r, [src], []),
    ], in_process)


def runs(root: Path) -> list[str]:
    log = root / "runs.log"
    out = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return [name.removesuffix(".txt") for name in out]


@pytest.mark.parametrize("in_process", [True, False])
def test_rerun_does_nothing(tmp_path: Path, in_process: bool) -> None:
    diamond(tmp_path, in_process).run(echo=False)
    assert runs(tmp_path) == ["a", "b", "c", "d", "e"]
    decisions = diamond(tmp_path, in_process).run(echo=False)
    assert runs(tmp_path) == [] and not any(d.run for d in decisions)


def test_stage_times_are_written_after_a_run(tmp_path: Path) -> None:
    import pandas as pd

    diamond(tmp_path).run(echo=False)
    times = pd.read_csv(tmp_path / "state" / "stage-times.csv")
    assert list(times["stage"]) == ["a", "b", "c", "d", "e"]
    assert (times["seconds"] >= 0).all()
    (tmp_path / "state" / "stage-times.csv").unlink()
    diamond(tmp_path).run(echo=False)  # nothing ran: nothing rewritten
    assert not (tmp_path / "state" / "stage-times.csv").exists()


def test_deleted_output_redoes_that_stage_and_later_ones_only(tmp_path: Path) -> None:
    diamond(tmp_path).run(echo=False)
    runs(tmp_path)
    (tmp_path / "b.txt").unlink()
    diamond(tmp_path).run(echo=False)
    assert runs(tmp_path) == ["b", "d"]


def test_changed_input_redoes_its_dependents(tmp_path: Path) -> None:
    diamond(tmp_path).run(echo=False)
    runs(tmp_path)
    (tmp_path / "src.txt").write_text("another source\n")
    plan = {d.stage.name: d.reason for d in diamond(tmp_path).plan() if d.run}
    assert plan["a"].startswith("input") and plan["b"] == "a will run"
    diamond(tmp_path).run(echo=False)
    assert runs(tmp_path) == ["a", "b", "c", "d", "e"]
    assert (tmp_path / "d.txt").read_text().startswith("another source")


def test_changed_command_redoes(tmp_path: Path) -> None:
    diamond(tmp_path).run(echo=False)
    runs(tmp_path)
    pipe = diamond(tmp_path)
    pipe.stages[2] = step("c", tmp_path, [tmp_path / "a.txt"], ["a"], extra="; 1")
    pipe.run(echo=False)
    assert runs(tmp_path) == ["c", "d"]


@pytest.mark.parametrize("in_process", [True, False])
def test_failure_stops_and_the_next_run_starts_there(tmp_path: Path, in_process: bool) -> None:
    pipe = diamond(tmp_path, in_process)
    good = pipe.stages[1]
    pipe.stages[1] = Stage("b", [sys.executable, "-c", "import sys; print('boom'); "
                                 "sys.exit(3)"], good.outputs, after=["a"])
    with pytest.raises(RescoreError, match=r"stage b failed \(exit 3; log .*b.log\):\n  .*boom"):
        pipe.run(echo=False)
    assert runs(tmp_path) == ["a"]
    assert diamond(tmp_path).record("b")["state"] == "running"  # type: ignore[index]
    diamond(tmp_path).run(echo=False)
    assert runs(tmp_path) == ["b", "c", "d", "e"]


def test_interrupted_stage_resumes_with_its_resume_command(tmp_path: Path) -> None:
    out, partial = tmp_path / "model.txt", tmp_path / "checkpoint"
    start = [sys.executable, "-c", f"open({str(partial)!r}, 'w'); raise SystemExit(1)"]
    resume = [sys.executable, "-c", f"open({str(out)!r}, 'w').write('resumed')"]
    stage = Stage("train", start, [out], resume=resume, partial=partial)
    with pytest.raises(RescoreError):
        Pipeline(tmp_path / "state", [stage]).run(echo=False)
    (decision,) = Pipeline(tmp_path / "state", [stage]).plan()
    assert decision.resume and decision.reason == "interrupted: continue"
    Pipeline(tmp_path / "state", [stage]).run(echo=False)
    assert out.read_text() == "resumed"


def test_missing_output_is_an_error(tmp_path: Path) -> None:
    stage = Stage("x", [sys.executable, "-c", "pass"], [tmp_path / "never.txt"])
    with pytest.raises(RescoreError, match="did not write"):
        Pipeline(tmp_path, [stage]).run(echo=False)


def test_dry_run_lists_every_stage_and_runs_nothing(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    print(format_plan(diamond(tmp_path).run(dry_run=True)))
    out = capsys.readouterr().out
    assert [ln.split()[2].rstrip(":") for ln in out.splitlines() if ln.startswith("[")] == \
        ["a", "b", "c", "d", "e"]
    assert "-c" in out and runs(tmp_path) == []


def test_bad_dependencies() -> None:
    with pytest.raises(RescoreError, match="not an earlier stage"):
        Pipeline(Path("."), [Stage("a", ["true"], [], after=["b"]), Stage("b", ["true"], [])])


def test_generated_files_are_written_when_the_stage_runs_and_rerun_it_when_changed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec, out = tmp_path / "spec.json", tmp_path / "out.txt"
    copy = [sys.executable, "-c", f"import shutil; shutil.copy({str(spec)!r}, {str(out)!r})"]

    def pipe(text: str) -> Pipeline:
        return Pipeline(tmp_path / "state", [Stage("r", copy, [out], generated={spec: text})])

    pipe("one").run(dry_run=True)
    assert not spec.exists() and not (tmp_path / "state").exists()  # a dry run writes nothing
    capsys.readouterr()
    pipe("one").run(echo=False)
    assert out.read_text() == "one"
    assert not pipe("one").plan()[0].run
    (decision,) = pipe("two").plan()
    assert decision.run and decision.reason == f"{spec} changed"
    pipe("two").run(echo=False)
    assert out.read_text() == "two"


def test_records_keep_the_package_version_and_a_code_digest(tmp_path: Path) -> None:
    diamond(tmp_path).run(echo=False)
    record = diamond(tmp_path).record("a")
    assert record is not None and record["code"] == {"version": __version__, "digest": None}
    stage = Stage("t", [sys.executable, "-m", "rescore.cli.tune", "--help"], [tmp_path / "x"])
    code = Pipeline(tmp_path, [stage]).code(stage)
    assert code["version"] == __version__ and code["digest"] == code_digest(stage.command)


def test_code_digest_follows_imports_and_ignores_docstrings(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """A copy of the package: editing a module that a command imports changes its digest;
    editing a docstring or a module it does not import does not."""
    package = tmp_path / "rescore"
    shutil.copytree(PACKAGE_DIR, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(pipeline, "PACKAGE_DIR", package)
    tune = [sys.executable, "-m", "rescore.cli.tune"]
    translate = [sys.executable, "-m", "rescore.cli.translate"]
    before = code_digest(tune), code_digest(translate)
    assert None not in before and before[0] != before[1]
    mira = package / "mira.py"  # tune imports it (through rescore.tune); translate does not
    text = mira.read_text()
    mira.write_text(text.replace('"""Batch MIRA', '"""Edited: Batch MIRA', 1))
    assert (code_digest(tune), code_digest(translate)) == before
    mira.write_text(text + "\nEXTRA = 1\n")
    assert code_digest(tune) != before[0] and code_digest(translate) == before[1]
    assert code_digest(["echo", "x"]) is None


def test_an_interrupted_stage_is_reported_as_an_interrupt(tmp_path: Path) -> None:
    """From a user's report: Ctrl-C in a pipeline said "stage report failed (exit 130)" and
    exited 2; it must be an interrupt, so the script says how to resume and exits 130."""
    stage = Stage("x", [sys.executable, "-c", "raise SystemExit(130)"], [tmp_path / "x"])
    with pytest.raises(KeyboardInterrupt):
        Pipeline(tmp_path / "state", [stage]).run(echo=False)

    def make() -> Pipeline:
        return Pipeline(tmp_path / "state", [stage])

    with pytest.raises(SystemExit) as stop:
        run_pipeline("test", make, dry_run=False)
    assert stop.value.code == 130


def test_progress_lines_count_stages_and_estimate_from_the_last_run(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline.logger, "propagate", True)  # run_pipeline turns it off
    caplog.set_level("INFO", logger="pipelines.engine.pipeline")
    diamond(tmp_path).run()
    assert "[stage 1/5; log " in caplog.text and "left" not in caplog.text  # no times yet
    runs(tmp_path)
    caplog.clear()
    (tmp_path / "src.txt").write_text("changed\n")
    diamond(tmp_path).run()
    first = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("[run ]"))
    assert first.startswith("[run ] a (input") and "stage 1/5" in first and " left]" in first


def test_a_fresh_start_empties_the_stage_workspace(tmp_path: Path) -> None:
    """Found when a code change reran a training stage: the old run's folder made
    rescore-train refuse ("already holds a training run")."""
    folder = tmp_path / "model"
    make = [sys.executable, "-c", f"import os; p = {str(folder)!r}; os.makedirs(p); "
            f"open(os.path.join(p, 'model.pt'), 'w')"]
    stage = Stage("train", make, [folder / "model.pt"], workspace=folder)
    Pipeline(tmp_path / "state", [stage]).run(echo=False)
    changed = Stage("train", [*make, "again"], [folder / "model.pt"], workspace=folder)
    Pipeline(tmp_path / "state", [changed]).run(echo=False)  # makedirs fails if not emptied
    assert (folder / "model.pt").exists()


def test_side_by_side_runs_each_stage_once_after_its_dependencies(tmp_path: Path) -> None:
    diamond(tmp_path).run(echo=False, jobs=3)
    order = runs(tmp_path)
    assert sorted(order) == ["a", "b", "c", "d", "e"]
    assert order.index("a") < min(order.index("b"), order.index("c"))
    assert order.index("d") > max(order.index("b"), order.index("c"))
    assert (tmp_path / "d.txt").read_text().startswith("source")
    decisions = diamond(tmp_path).run(echo=False, jobs=3)
    assert runs(tmp_path) == [] and not any(d.run for d in decisions)
    (tmp_path / "b.txt").unlink()
    diamond(tmp_path).run(echo=False, jobs=3)
    assert runs(tmp_path) == ["b", "d"]


def meet(name: str, other: str, root: Path) -> Stage:
    """Writes its flag, then waits (at most 20 s) for the other's: passes only when both
    stages run at the same time."""
    out = root / f"{name}.flag"
    code = (f"import pathlib, time, sys; pathlib.Path({str(out)!r}).write_text('x'); "
            f"t = time.time()\nwhile not pathlib.Path({str(root / (other + '.flag'))!r})"
            ".exists():\n  time.sleep(0.02)\n  if time.time() - t > 20: sys.exit(5)")
    return Stage(name, [sys.executable, "-c", code], [out])


def test_independent_stages_run_at_the_same_time(tmp_path: Path) -> None:
    pipe = Pipeline(tmp_path / "state", [meet("x", "y", tmp_path), meet("y", "x", tmp_path)])
    decisions = pipe.run(echo=False, jobs=2)
    assert [d.stage.name for d in decisions if d.run] == ["x", "y"]
    assert pipe.record("y")["state"] == "done"  # type: ignore[index]


def test_side_by_side_failure_finishes_the_others_starts_nothing_after(tmp_path: Path) -> None:
    pipe = diamond(tmp_path)
    good = pipe.stages[1]
    pipe.stages[1] = Stage("b", [sys.executable, "-c", "import sys; print('boom'); "
                                 "sys.exit(3)"], good.outputs, after=["a"])
    with pytest.raises(RescoreError, match=r"stage b failed \(exit 3; log .*b.log\):\n  .*boom"):
        pipe.run(echo=False, jobs=2)
    assert "d" not in runs(tmp_path)
    assert pipe.record("d") is None and pipe.record("b")["state"] == "running"  # type: ignore[index]
    diamond(tmp_path).run(echo=False, jobs=2)
    again = runs(tmp_path)  # b and d, and c or e only if the failure came before they ran
    assert "a" not in again and again.index("b") < again.index("d")
