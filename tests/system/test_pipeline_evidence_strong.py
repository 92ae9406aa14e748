"""The "more evidence" pipeline with --family strong, on a tiny slice and two jobs: members
that differ in recipe, each scored as the mean of its last checkpoints; Table 1's lists at
beam 50 with a per-word feature and their oracle; a rerun does no work."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from rescore.nbest import read_nbest
from tests.system import test_pipeline_evidence as evidence


def run_pipeline(work: Path, *extra: str | Path) -> subprocess.CompletedProcess[str]:
    """The attention family's quick run (tests/system/test_pipeline_evidence.py) with the
    strong family, 2 epochs (four checkpoints to average) and two jobs."""
    return evidence.run_pipeline(work, "--family", "strong", "--epochs", "2", "--jobs", "2",
                                 *extra)


@pytest.fixture(scope="module")
def work(multi30k: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("strong")
    result = run_pipeline(root)
    assert result.returncode == 0, result.stderr[-3000:]
    return root


def test_members_differ_in_recipe_and_are_averaged(work: Path) -> None:
    def config(name: str) -> dict[str, dict[str, object]]:
        return json.loads((work / "models" / name / "config.json").read_text())

    assert config("rev")["model"]["bidirectional"] and config("r2l")["model"]["bidirectional"]
    assert config("rev2")["train"]["label_smoothing"] == 0.1
    assert not config("channel")["model"]["bidirectional"]
    for name in ("rev", "rev2", "r2l", "channel"):
        weights = json.loads((work / "averaged" / name / "config.json").read_text())["weights"]
        assert len(weights["from"]["checkpoints"]) == 4, name


def test_lists_carry_the_per_word_feature_and_table_1_its_oracle(work: Path) -> None:
    block = next(iter(read_nbest(work / "scored/test2016.all.nbest.gz")))
    assert block.schema.names[-7:] == ("LSTMR0", "LSTMR1", "LSTMEnsemble0",
                                       "PerWordLSTMEnsemble0", "Channel0", "KenLM0", "LSTMR2L0")
    lengths = [len(h.split()) + 1 for h in block.hypotheses]
    assert block.feature("PerWordLSTMEnsemble0")[:, 0] * lengths == pytest.approx(
        block.feature("LSTMEnsemble0")[:, 0], abs=1e-3)
    beam = list(read_nbest(work / "translate/test2016-b50.scored.nbest.gz"))
    assert {"Channel0", "LSTMR2L0", "KenLM0", "WordCount0", "PerWordLSTMEnsemble0"} <= set(
        beam[0].schema.names)
    assert 12 < max(len(b) for b in beam) <= 50
    data = json.loads((work / "report/report.json").read_text())
    table1 = {row["system"]: row for row in data["tables"][0]["systems"]}
    oracle = table1["oracle of the ensemble's 50-best lists"]
    assert oracle["BLEU"] >= table1["ensemble of 2 cpu-strong LSTMs, beam 50"]["BLEU"]
    reranked = [name for name in table1 if name.startswith("beam 50 + noisy-channel")]
    assert len(reranked) == 3 and reranked[-1].endswith("a 5-gram LM of the training French")


def test_rerun_does_no_work(work: Path) -> None:
    result = run_pipeline(work)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "[run ]" not in result.stderr
