"""benchmarks/gpu_session.py, the GPU session's one command, rehearsed on the CPU at tiny
sizes: every step runs the code it runs on a GPU and writes the same report (its first step is
benchmarks/device_check.py, which must then find the CPU equal to itself); the helper that
fills the carried input folder and the plan of the device call work."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_session.py"

pytestmark = pytest.mark.system


def gpu_session(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, check=False, timeout=2400, cwd=ROOT)


def test_the_rehearsal_runs_every_step(multi30k: Path, tmp_path: Path) -> None:
    result = gpu_session("--rehearse", "--output", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_session.json").read_text())
    steps = report["steps"]
    assert list(steps) == ["check", "train", "score", "torchrun", "multi30k"]
    assert all(s["status"] == "ok" for s in steps.values()), steps
    # 1: benchmarks/device_check.py, here the CPU against itself: every comparison exact (same
    # device, same seed, fp32), for the paper's model and the one with attention
    check = steps["check"]
    for part in (check, check["attention"]):
        assert part["training fp32"]["max relative loss difference"] == 0.0
        assert part["training fp32"]["max absolute weight difference"] == 0.0
        assert part["scoring"]["entries"] == 3000
        assert part["scoring"]["max absolute difference (nats)"] == 0.0
        assert part["beam search"]["identical 1-best"] == 3
        assert "training bf16 vs fp32 (device)" not in part  # no bf16 LSTM on the CPU
    # 2: throughput of both models, with a profile of one update
    for name in ("sutskever2014", "sutskever2014 + dot attention"):
        row = steps["train"][name]
        assert row["target words/s"] > 0 and row["fraction of matmul peak"] > 0
        assert any("aten::" in line for line in row["profile of one update"])
    # 3: the trie's decoder steps are exactly the distinct-prefix floor; beam search ran
    scoring = steps["score"]["scoring"]
    assert scoring["entries"] == 4000 and scoring["decoder steps"] == \
        scoring["distinct-prefix floor"]
    assert steps["score"]["beam search"]["sentences"] == 4
    # 4: torchrun: a process group, training, and scoring equal to a plain run's
    torchrun = steps["torchrun"]
    assert torchrun["process group"]["backend"] == "gloo"
    assert torchrun["process group"]["all-reduce of ones"] == 1.0
    assert torchrun["training"]["finished"]
    assert torchrun["scoring"]["max difference torchrun vs plain"] == 0.0
    # 5: some training in the time left, validated
    assert steps["multi30k"]["updates"] > 0 and steps["multi30k"]["validation"]
    assert "=== step multi30k" in (tmp_path / "gpu_session.log").read_text()


def test_fill_and_plan_give_the_device_call(multi30k: Path, tmp_path: Path) -> None:
    outside = gpu_session("--fill", tmp_path / "device-data")
    assert outside.returncode == 0, outside.stderr
    refused = gpu_session("--plan", "--data", tmp_path / "device-data")
    assert refused.returncode != 0 and "outside the repository" in refused.stderr
    data = ROOT / "work" / f"gpu-session-test-{tmp_path.name}"  # ignored, as device-data/
    try:
        filled = gpu_session("--fill", data)
        assert filled.returncode == 0, filled.stderr
        assert (data / "nbest" / "test2016.1000best.gz").exists()
        plan = gpu_session("--plan", "--data", data)
        assert plan.returncode == 0, plan.stderr
        call = json.loads(plan.stdout[: plan.stdout.rindex("}") + 1])
        assert call["carry"] == [str(data.relative_to(ROOT))]
        assert call["command"].startswith("PYTHONUNBUFFERED=1 python3 benchmarks/"
                                          "gpu_session.py --data work/gpu-session-test")
        assert "--output $OUT" in call["command"] and call["timeout_s"] <= 600
        assert "(limit 64 MiB)" in plan.stdout
        # an input missing: the plan says which and how to make it
        (data / "val.fr").unlink()
        missing = gpu_session("--plan", "--data", data)
        assert missing.returncode != 0 and "missing val.fr" in missing.stderr
    finally:
        shutil.rmtree(data, ignore_errors=True)
