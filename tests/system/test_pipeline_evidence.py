"""The "more evidence" pipeline (Table 2 beyond the paper) end to end on a tiny slice: every
kind of evidence reaches the scored lists, each table row says what it adds over the row
above, tuned rows carry their dev BLEU, and a rerun does no work."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rescore.nbest import read_nbest

ROOT = Path(__file__).resolve().parents[2]
SENTENCES = 8


def run_pipeline(work: Path, *extra: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "pipelines/multi30k_evidence.py"), "--quick",
         "--train-pairs", "300", "--sentences", str(SENTENCES), "--epochs", "0.5",
         "--workdir", str(work), *map(str, extra)], capture_output=True, text=True,
        check=False, timeout=900)


@pytest.fixture(scope="module")
def work(multi30k: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("evidence")
    result = run_pipeline(root)
    assert result.returncode == 0, result.stderr[-3000:]
    return root


def test_every_kind_of_evidence_is_scored(work: Path) -> None:
    block = next(iter(read_nbest(work / "scored/test2016.all.nbest.gz")))
    assert block.schema.names[-7:] == ("LSTMR0", "LSTMR1", "LSTMR2", "LSTMEnsemble0",
                                       "Channel0", "KenLM0", "LSTMR2L0")
    beam = next(iter(read_nbest(work / "translate/test2016-b12.scored.nbest.gz")))
    assert {"Channel0", "WordCount0", "LSTMEnsemble0", "LSTMR2L0"} <= set(beam.schema.names)
    for name in ("rev", "rev2", "rev3", "r2l", "channel"):  # all five attend
        config = json.loads((work / "models" / name / "config.json").read_text())
        assert config["model"]["attention"] == "dot", name


def test_tables_compare_each_row_with_the_one_above(work: Path) -> None:
    data = json.loads((work / "report/report.json").read_text())
    table1, table2 = (t["systems"] for t in data["tables"])
    names = [row["system"] for row in table2]
    assert names[0] == "Moses baseline" and names[-1] == "oracle of the 1000-best lists"
    assert any(n.startswith("+ channel model") for n in names)
    mbr = [i for i, n in enumerate(names) if n.startswith("MBR over the top")]
    assert len(mbr) == 3
    for i in mbr:  # right below the row it decodes: "vs above" is what MBR adds
        assert names[i].split(": ", 1)[1] == names[i - 1]
    for above, row in itertools.pairwise(table2):
        assert row["BLEU vs above diff"] == pytest.approx(row["BLEU"] - above["BLEU"])
        assert 0 <= row["BLEU vs above p"] <= 1
    tuned = [row for row in table2 if "on val" in row["system"]]
    assert tuned and all(row["dev BLEU"] is not None for row in tuned)
    # every tuning cross-validated over the val sentences (rescore-tune --folds)
    assert all(row["cv dev BLEU"] is not None for row in tuned if row["system"][:3] != "MBR")
    assert [row["system"] for row in table1][1:5] == [
        "one attentive reversed LSTM, beam 1", "one attentive reversed LSTM, beam 12",
        "ensemble of 3 attentive reversed LSTMs, beam 1",
        "ensemble of 3 attentive reversed LSTMs, beam 12"]
    assert {"one attentive reversed LSTM, the paper's untuned average",
            "ensemble of 3 attentive reversed LSTMs, the paper's untuned average"} <= set(names)
    report = (work / "report/report.md").read_text()
    # the right-to-left model reads the source in its own order (its first words written are
    # the sentence's last); the others read it reversed
    assert "en -> fr, right-to-left target" in report
    assert "fr -> en, reversed source" in report
    assert "(trained with torch " in report  # each model's environment (rescore.environment)


def test_rerun_does_no_work(work: Path) -> None:
    result = run_pipeline(work)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "[run ]" not in result.stderr


def test_a_replaced_model_reruns_only_what_reads_it(work: Path, tmp_path: Path) -> None:
    """Given trained models, swapping one (a retrained right-to-left model) redoes its own
    scoring and what uses its feature, not the other models' scoring or beam search."""
    models = tmp_path / "models"
    models.mkdir()
    for name in ("rev", "rev2", "rev3", "r2l", "channel"):
        (models / name).symlink_to(work / "models" / name)
    again = tmp_path / "work"
    result = run_pipeline(again, "--models", models)
    assert result.returncode == 0, result.stderr[-2000:]
    (models / "r2l").unlink()
    (models / "r2l").symlink_to(work / "models" / "rev3")  # another en->fr model
    plan = run_pipeline(again, "--models", models, "--dry-run")
    assert plan.returncode == 0, plan.stderr[-2000:]
    runs = {line.split()[2].rstrip(":") for line in plan.stdout.splitlines()
            if line.startswith("[run ]")}
    assert {"r2l-val", "r2l-test2016", "tune-r2l", "tune-all-mert", "channel-nbest-val",
            "tune-beam-nc-r2l", "report"} <= runs
    assert not runs & {"data", "direct-val", "direct-test2016", "channel-val", "kenlm-val",
                       "kenlm-test2016", "translate-b1", "translate-b12-val", "oracle"}
