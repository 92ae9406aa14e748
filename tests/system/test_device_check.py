"""benchmarks/device_check.py, the GPU session's correctness command, runs here against the
CPU itself: every comparison must come out exact (same device, same seed, fp32)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_device_check_on_the_cpu_agrees_with_itself(multi30k: Path, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks/device_check.py"),
                             "--device", "cpu", "--output", str(tmp_path), "--steps", "20",
                             "--sentences", "5"], capture_output=True, text=True, check=False,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "device_check.json").read_text())
    for part in (report, report["attention"]):  # the paper's model, then with attention
        assert part["training fp32"]["max relative loss difference"] == 0.0
        assert part["training fp32"]["max absolute weight difference"] == 0.0
        assert part["scoring"]["entries"] == 5000
        assert part["scoring"]["max absolute difference (nats)"] == 0.0
        assert part["beam search"]["identical 1-best"] == 5
        assert "training bf16 vs fp32 (device)" not in part  # no bf16 LSTM on the CPU
