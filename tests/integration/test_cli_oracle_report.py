"""rescore-oracle and rescore-report end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sacrebleu.metrics import BLEU, CHRF

from rescore.compare import compare_systems
from rescore.nbest import read_nbest
from tests.helpers import run_cli


@pytest.mark.system  # the whole test2016 1000-best list
@pytest.mark.parametrize("method", ["sentence", "corpus"])
def test_oracle_on_test2016_1000best(multi30k: Path, tmp_path: Path, method: str) -> None:
    nbest, ref = multi30k / "nbest" / "test2016.1000best.gz", multi30k / "test2016.fr"
    out, report = tmp_path / "oracle.txt", tmp_path / "oracle.json"
    result = run_cli("rescore-oracle", "--nbest", nbest, "--ref", ref, "--output", out,
                     "--method", method, "--report", report)
    assert result.returncode == 0, result.stderr
    chosen = out.read_text(encoding="utf-8").splitlines()
    assert len(chosen) == 1000
    for block, text in zip(read_nbest(nbest), chosen, strict=True):
        assert text in block.hypotheses
    refs = ref.read_text(encoding="utf-8").splitlines()
    figures = json.loads(report.read_text())
    sacre = BLEU(tokenize="none", force=True).corpus_score(chosen, [refs]).score
    assert figures["oracle_bleu"] == pytest.approx(sacre, abs=1e-9)
    assert figures["baseline_1best_bleu"] == pytest.approx(58.82, abs=0.005)  # data README
    at_k = [figures["oracle_bleu_at_k"][k] for k in ("1", "10", "100", "1000")]
    assert at_k[0] == pytest.approx(figures["baseline_1best_bleu"])
    assert at_k == sorted(at_k) and at_k[-1] == pytest.approx(figures["oracle_bleu"])
    assert figures["oracle_bleu"] > at_k[0] + 10
    assert "tok:none" in figures["signature"]


def test_report_matches_sacrebleu_and_writes_tables(multi30k: Path, tmp_path: Path) -> None:
    ref = multi30k / "test2016.fr"
    base = multi30k / "baseline" / "test2016.1best"
    refs = ref.read_text(encoding="utf-8").splitlines()
    worse = [" ".join(h.split()[:-2]) for h in base.read_text(encoding="utf-8").splitlines()]
    (tmp_path / "worse.txt").write_text("\n".join(worse) + "\n", encoding="utf-8")
    prefix = tmp_path / "cmp"
    result = run_cli("rescore-report", "--ref", ref, f"moses={base}",
                     f"truncated={tmp_path / 'worse.txt'}", "--bootstrap", "200",
                     "--output-prefix", prefix)
    assert result.returncode == 0, result.stderr
    assert "| moses" in result.stdout and "tok:none" in result.stdout
    table = pd.read_csv(f"{prefix}.csv")
    assert list(table["system"]) == ["moses", "truncated"]
    hyps = base.read_text(encoding="utf-8").splitlines()
    assert table["BLEU"][0] == pytest.approx(
        BLEU(tokenize="none", force=True).corpus_score(hyps, [refs]).score)
    assert table["BLEU"][0] == pytest.approx(58.82, abs=0.005)
    assert table["chrF2"][1] == pytest.approx(CHRF().corpus_score(worse, [refs]).score)
    assert table["BLEU diff"][1] < 0 and table["BLEU p"][1] < 0.05
    data = json.loads(Path(f"{prefix}.json").read_text())
    assert "bs:200" in data["signatures"]["BLEU"] and data["settings"]["tokenize"] == "none"
    assert "| system" in Path(f"{prefix}.md").read_text()
    assert Path(f"{prefix}.html").read_text().count("<table") == 1


def test_report_single_system_without_bootstrap() -> None:
    cmp = compare_systems(["a b c d"], [("only", ["a b c d"])], bootstrap=0)
    assert cmp.table["BLEU"][0] == pytest.approx(100.0)
    assert cmp.table["BLEU diff"][0] == 0.0


def test_identical_system_is_not_significant() -> None:
    refs = ["a b c d e", "f g h i", "j k l m n o"]
    hyps = ["a b c d x", "f g h", "j k l m n o"]
    cmp = compare_systems(refs, [("base", hyps), ("same", list(hyps))], bootstrap=100)
    assert cmp.table["BLEU p"][1] == 1.0 and cmp.table["BLEU diff"][1] == 0.0


def test_versus_above_tests_each_row_against_the_one_above(multi30k: Path) -> None:
    from sacrebleu.significance import PairedTest

    refs = (multi30k / "test2016.fr").read_text(encoding="utf-8").splitlines()[:200]
    base = (multi30k / "baseline" / "test2016.1best").read_text(
        encoding="utf-8").splitlines()[:200]
    worse = [" ".join(h.split()[:-2]) for h in base]
    worst = [" ".join(h.split()[:-3]) for h in base]
    systems = [("moses", base), ("worse", worse), ("worst", worst), ("again", list(worst))]
    table = compare_systems(refs, systems, bootstrap=200, versus_above=True).table
    assert table["BLEU vs above diff"][1] == pytest.approx(table["BLEU diff"][1])
    assert table["BLEU vs above p"][1] == pytest.approx(table["BLEU p"][1])
    assert table["BLEU vs above diff"][2] == pytest.approx(table["BLEU"][2] - table["BLEU"][1])
    _, results = PairedTest([("worse", worse), ("worst", worst)],
                            {"BLEU": BLEU(tokenize="none", force=True), "chrF": CHRF()},
                            [refs], test_type="bs", n_samples=200)()
    assert table["BLEU vs above p"][2] == pytest.approx(results["BLEU"][1].p_value)
    assert table["chrF2 vs above p"][2] == pytest.approx(results["chrF2"][1].p_value)
    assert table["BLEU vs above diff"][3] == 0.0 and table["BLEU vs above p"][3] == 1.0
    assert table["BLEU vs above p"].isna()[0]


def test_report_shows_dev_bleu_of_tuned_rows(multi30k: Path, tmp_path: Path) -> None:
    base = multi30k / "baseline" / "test2016.1best"
    weights = tmp_path / "tuned.json"
    weights.write_text('{"LM0": [1.0]}\n', encoding="utf-8")
    (tmp_path / "tuned.report.json").write_text(
        '{"method": "mert", "dev_bleu_start": 57.12, "dev_bleu_tuned": 58.5}\n')
    folded = tmp_path / "folded.json"
    folded.write_text('{"LM0": [1.0]}\n', encoding="utf-8")
    (tmp_path / "folded.report.json").write_text(
        '{"method": "mira", "dev_bleu_start": 57.12, "dev_bleu_tuned": 58.1, "folds": 5, '
        '"dev_bleu_cross_validated": 57.6}\n')
    spec = {"ref": str(multi30k / "test2016.fr"), "bootstrap": 50, "versus_above": True,
            "tables": [{"title": "T", "systems": [
                {"name": "plain", "file": str(base)},
                {"name": "tuned", "file": str(base), "weights": str(weights)},
                {"name": "folded", "file": str(base), "weights": str(folded)}]}]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    result = run_cli("rescore-report", "--spec", tmp_path / "spec.json", "--output-prefix",
                     tmp_path / "r")
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(tmp_path / "r.csv")
    assert table["dev BLEU"].isna()[0] and table["dev BLEU"][1] == pytest.approx(58.5)
    assert table["dev diff"][1] == pytest.approx(1.38)
    assert "| dev diff" in result.stdout or "dev diff" in result.stdout
    # k-fold cross-validated dev BLEU beside the in-sample one, where tuning reported it
    assert table["cv dev BLEU"].isna()[1] and table["cv dev BLEU"][2] == pytest.approx(57.6)
    assert "5-fold cross-validated: 57.60" in (tmp_path / "r.md").read_text()
    assert "BLEU vs above p" in table.columns
    # a row's name keys its tuning: one name with two weights files is one clear error,
    # not one row's dev BLEU shown beside the other's
    spec["tables"].append({"title": "U", "systems": [
        {"name": "tuned", "file": str(base), "weights": str(folded)}]})
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    result = run_cli("rescore-report", "--spec", tmp_path / "spec.json", "--output-prefix",
                     tmp_path / "r2")
    assert result.returncode == 2 and "two rows named 'tuned'" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "r2.md").exists()


def test_different_outputs_with_equal_scores_are_not_significant() -> None:
    """MBR may swap one sentence for another that matches the reference no better (here two
    unmatched words of the same length): the scores are equal, every resample's difference is
    0, and sacrebleu's test alone would say p = 1/(samples+1)."""
    refs = ["a b c d e", "f g h i", "j k l m n o"]
    hyps = ["a b c d x", "f g h", "j k l m n o"]
    swapped = ["a b c d y", "f g h", "j k l m n o"]
    table = compare_systems(refs, [("base", hyps), ("mbr", swapped)], bootstrap=100,
                            versus_above=True).table
    for metric in ("BLEU", "chrF2"):
        assert table[f"{metric} diff"][1] == 0.0
        assert table[f"{metric} p"][1] == 1.0 and table[f"{metric} vs above p"][1] == 1.0
