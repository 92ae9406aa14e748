"""The evidence pipeline's plan for --family strong: --precision reaches every member's
training command and no other stage's; without it no command has one."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def plan(work: Path, *extra: str) -> list[str]:
    result = subprocess.run([sys.executable, str(ROOT / "pipelines/multi30k_evidence.py"),
                             "--family", "strong", "--dry-run", "--workdir", str(work), *extra],
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    return (result.stdout + result.stderr).splitlines()


def commands(lines: list[str]) -> dict[str, str]:
    """Stage name -> its command (the line after each ``[run ]`` line)."""
    return {ln.split()[2].rstrip(":"): nxt.strip()
            for ln, nxt in itertools.pairwise(lines) if ln.startswith("[run ]")}


def test_precision_reaches_the_members_trainings_only(multi30k: Path, tmp_path: Path) -> None:
    stages = commands(plan(tmp_path / "w", "--precision", "bf16"))
    trains = {k: v for k, v in stages.items() if k.startswith("train-")}
    assert sorted(trains) == ["train-channel", "train-r2l", "train-rev", "train-rev2"]
    assert all("--precision bf16" in v for v in trains.values())
    assert not any("--precision" in v for k, v in stages.items() if k not in trains)
    assert not any("--precision" in v for v in commands(plan(tmp_path / "d")).values())
