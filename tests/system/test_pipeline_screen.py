"""The screening pipeline end to end in quick mode: candidates trained for a budget (words and
subwords, SGD and Adam, an LSTM and a Transformer with a shared vocabulary), each measured on
val (perplexity per word, greedy BLEU, reranking dev BLEU in-sample and cross-validated), one
table; a rerun does no work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


def test_the_screen_measures_every_candidate_on_val(multi30k: Path, tmp_path: Path) -> None:
    command = [sys.executable, str(ROOT / "pipelines/multi30k_screen.py"), "--quick",
               "--only", "sgd,adam-bpe8k,tf-shared", "--workdir", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    table = pd.read_csv(tmp_path / "screen.csv")
    assert list(table["candidate"]) == ["sgd", "adam-bpe8k", "tf-shared"]
    assert (table["val ppl per word"] > 1).all() and (table["updates"] > 0).all()
    assert table["rerank dev BLEU"].between(0, 100).all()
    assert (tmp_path / "models/adam-bpe8k/tgt.spm").exists()
    shared = tmp_path / "models/tf-shared"
    assert (shared / "src.spm").read_bytes() == (shared / "tgt.spm").read_bytes()
    assert '"arch": "transformer"' in (shared / "config.json").read_text()
    again = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    assert again.returncode == 0 and "[run ]" not in again.stderr
