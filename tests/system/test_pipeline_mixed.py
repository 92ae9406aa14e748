"""The mixed-ensemble pipeline (pipelines/multi30k_mixed.py) in its quick mode, two jobs:
tiny LSTM and Transformer members trained on a slice, the members and the length penalty
chosen on val, every list scored with the same evidence, Moses' lists combined with the
ensemble's own, both tables reported; a rerun does no work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rescore.nbest import read_nbest

ROOT = Path(__file__).resolve().parents[2]
SENTENCES = 12


def run_pipeline(work: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "pipelines/multi30k_mixed.py"), "--quick", "--sentences",
         str(SENTENCES), "--jobs", "2", "--workdir", str(work), *extra],
        capture_output=True, text=True, check=False, timeout=1200)


@pytest.fixture(scope="module")
def work(multi30k: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mixed")
    result = run_pipeline(root, "--tune-replicas", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    return root


def test_members_and_length_penalty_are_chosen_on_val(work: Path) -> None:
    summary = json.loads((work / "summary.json").read_text())
    sets = summary["member_sets_val_bleu"]
    assert set(sets) == {"lstm", "tf", "lstm+tf"}
    best = max(sets.values())
    assert sets["+".join(summary["members"])] == best
    # the length terms: each penalty, each reward, each penalty with each reward
    terms = summary["length_val_bleu"]
    assert set(terms) == {"lp0", "lp1", "lp2", "wr0.5", "wr1", "lp1-wr0.5", "lp1-wr1",
                          "lp2-wr0.5", "lp2-wr1"}
    assert terms[summary["length"]] == max(terms.values())
    # the sets' searches ran at --select-alpha 1: their grid output for 1 is the same text
    for key in sets:
        searched = work / f"translate/val-b12-set-{key}"
        assert Path(f"{searched}.lp1.wr0.txt").read_text() == Path(f"{searched}.txt").read_text()
    # beam 50's terms chosen again on val at beam 50; its searches carry them in their names
    terms50 = summary["length_b50_val_bleu"]
    assert set(terms50) == set(terms)
    assert terms50[summary["length_b50"]] == max(terms50.values())
    assert summary["val_bleu_by_beam"]["50"] == terms50[summary["length_b50"]]
    assert (work / f"translate/test2016-b50-{summary['length_b50']}.nbest.gz").exists()
    # every stage's seconds, as each finished, in stages.jsonl and gathered in the summary
    stages = [json.loads(line)["stage"]
              for line in (work / "stages.jsonl").read_text().splitlines()]
    assert "train-lstm" in stages and "report" in stages
    assert set(summary["seconds"]) == set(stages)
    config = json.loads((work / "models/tf/config.json").read_text())
    assert config["model"]["arch"] == "transformer"


def test_every_list_carries_the_same_evidence_and_the_union_merges_them(work: Path) -> None:
    # two right-to-left models (an LSTM and a Transformer): R2L0, R2L1
    evidence = {"NMT0", "NMT1", "NMTEnsemble0", "PerWordNMTEnsemble0", "R2L0", "R2L1",
                "Channel0", "KenLM0", "WordCount0"}
    moses = list(read_nbest(work / "scored/test2016.moses.nbest.gz"))
    own = list(read_nbest(work / "scored/test2016.own.nbest.gz"))
    union = list(read_nbest(work / "scored/test2016.union.nbest.gz"))
    assert len(moses) == len(own) == len(union) == SENTENCES
    for kind in (moses, own, union):
        assert evidence <= set(kind[0].schema.names)
    assert "Origin0" in union[0].schema.names and "LM0" in union[0].schema.names
    for m, o, u in zip(moses, own, union, strict=True):
        assert m.sent_id == o.sent_id == u.sent_id
        texts = [" ".join(h.split()) for h in u.hypotheses]
        assert len(texts) == len(set(texts))  # one entry per distinct hypothesis
        assert set(texts) == {" ".join(h.split()) for h in [*m.hypotheses, *o.hypotheses]}
        # a hypothesis's neural score is the same whichever list it came from
        scores = dict(zip(texts, u.feature("NMTEnsemble0")[:, 0], strict=True))
        for h, s in zip(o.hypotheses, o.feature("NMTEnsemble0")[:, 0], strict=True):
            assert scores[" ".join(h.split())] == pytest.approx(s, abs=1e-3)


def test_the_right_to_left_members_lists_join_both_unions(work: Path) -> None:
    own = list(read_nbest(work / "scored/test2016.own.nbest.gz"))
    r2l = list(read_nbest(work / "scored/test2016.r2l.nbest.gz"))
    moses = list(read_nbest(work / "scored/test2016.moses.nbest.gz"))
    bidir = list(read_nbest(work / "scored/test2016.bidir.nbest.gz"))
    union3 = list(read_nbest(work / "scored/test2016.union3.nbest.gz"))
    assert len(r2l) == len(bidir) == len(union3) == SENTENCES
    assert "R2L1" in r2l[0].schema.names
    # the right-to-left search's 1-best file and n-best list agree (both in reading order)
    first = (work / "translate/test2016-r2l-b50.txt").read_text().splitlines()
    searched = list(read_nbest(work / "translate/test2016-r2l-b50.nbest.gz"))
    assert first == [" ".join(b.hypotheses[0].split()) for b in searched]
    for o, r, m, b, u in zip(own, r2l, moses, bidir, union3, strict=True):
        def texts(block: object) -> set[str]:
            return {" ".join(h.split()) for h in block.hypotheses}  # type: ignore[attr-defined]
        assert texts(b) == texts(o) | texts(r) and len(b) == len(texts(b))
        assert texts(u) == texts(m) | texts(o) | texts(r) and len(u) == len(texts(u))
        assert b.schema.sizes[b.schema.names.index("Origin0")] == 2
        assert u.schema.sizes[u.schema.names.index("Origin0")] == 3
        # Origin0 says which lists hold each hypothesis
        origin = u.feature("Origin0")
        for h, flags in zip(u.hypotheses, origin.tolist(), strict=True):
            h = " ".join(h.split())
            assert flags == [float(h in texts(m)), float(h in texts(o)), float(h in texts(r))]


def test_both_tables_are_reported(work: Path) -> None:
    data = json.loads((work / "report/report.json").read_text())
    table1, table2 = ([row["system"] for row in t["systems"]] for t in data["tables"])
    assert table1[0] == "Moses baseline" and len(table1) == 1 + 5 + 6
    assert any(name.startswith("beam 50 + its own 50-best reranked") for name in table1)
    assert any(name.startswith("the right-to-left members") for name in table1)
    assert any(name.startswith("the ensemble's 50-best + the right-to-left members' 50-best")
               for name in table1)
    assert any(name.startswith("Moses' 1000-best + the ensemble's 50-best combined")
               for name in table2)
    assert table2[-2].startswith("Moses' 1000-best + both 50-best lists combined")
    assert table2[-1] == "the three lists combined, batch MIRA on val"
    assert len(table2) == 1 + 7
    # --tune-replicas 2: every tuning (MERT and MIRA) kept the better of two seeds on val
    reports = sorted((work / "tune").glob("*.report.json"))
    assert len(reports) == 13
    for path in reports:
        report = json.loads(path.read_text())
        cvs = [r["dev_bleu_cross_validated"] for r in report["replicas"]]
        assert [r["seed"] for r in report["replicas"]] == [1, 2]
        assert report["dev_bleu_cross_validated"] == max(cvs), path.name


def test_rerun_does_no_work(work: Path) -> None:
    result = run_pipeline(work)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "[run ]" not in result.stderr
