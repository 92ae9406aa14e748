"""The Multi30k pipeline end to end on a small slice (tiny models, 8 test sentences): the
report is written and right, a rerun does no work, deleting one stage's output redoes that
stage and those after it only, and the HTML report renders in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sacrebleu.metrics import BLEU

ROOT = Path(__file__).resolve().parents[2]
SENTENCES = 8


def run_pipeline(work: Path, threads: int = 1) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "pipelines/multi30k.py"), "--quick", "--train-pairs", "300",
         "--sentences", str(SENTENCES), "--epochs", "0.5", "--threads", str(threads),
         "--workdir", str(work)], capture_output=True, text=True, check=False, timeout=900)


def ran(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [ln.split()[2] for ln in result.stderr.splitlines() if ln.startswith("[run ]")]


@pytest.fixture(scope="module")
def work(multi30k: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pipeline")
    result = run_pipeline(root)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "score-test2016" in ran(result) and ran(result)[-1] == "report"
    return root


def test_report_tables(work: Path, multi30k: Path) -> None:
    data = json.loads((work / "report/report.json").read_text())
    titles = [t["title"] for t in data["tables"]]
    assert titles == ["Table 1: standalone translation",
                      "Table 2: rescoring Moses' 1000-best lists"]
    refs = (multi30k / "test2016.fr").read_text(encoding="utf-8").splitlines()[:SENTENCES]
    base = (multi30k / "baseline/test2016.1best").read_text(encoding="utf-8").splitlines()
    expected = BLEU(tokenize="none", force=True).corpus_score(base[:SENTENCES], [refs]).score
    for table in data["tables"]:
        assert table["systems"][0]["system"] == "Moses baseline"
        assert table["systems"][0]["BLEU"] == pytest.approx(expected)
    table2 = {row["system"]: row["BLEU"] for row in data["tables"][1]["systems"]}
    assert table2["oracle of the 1000-best lists"] > expected
    # reranking with Moses' own weights gives back Moses' 1-best, byte for byte
    assert table2["rescore-nbest with Moses' tuned weights (= Moses 1-best)"] == \
        pytest.approx(expected)
    moses = (work / "rerank/moses-weights.1best").read_text(encoding="utf-8").splitlines()
    assert moses == base[:SENTENCES]
    assert data["oracle"]["sentences"] == SENTENCES
    assert set(data["figure3"]) == {"length", "frequency"}
    assert len(data["figure2"]) == len((ROOT / "data/phrases.en").read_text().splitlines())
    md = (work / "report/report.md").read_text()
    assert "## Table 1" in md and "![BLEU by sentence length" in md
    assert " nan " not in md and "< 0.001" in md  # p-values as people read them
    assert "## What was evaluated" in md
    # a quick run says what it is before any number, and what the dev columns mean
    assert md.index("A smoke test, not a result") < md.index("## Table 1")
    assert "\"dev diff\" (that minus" in md
    for png in ("length", "frequency", "pca"):
        assert (work / f"report/report-{png}.png").read_bytes()[:4] == b"\x89PNG"


def test_rerun_does_no_work(work: Path) -> None:
    result = run_pipeline(work, threads=2)  # the thread count changes no output
    assert result.returncode == 0, result.stderr[-3000:]
    assert ran(result) == []


def test_deleted_output_redoes_that_stage_and_later_ones(work: Path) -> None:
    (work / "translate/ens-b12.txt").unlink()
    result = run_pipeline(work)
    assert result.returncode == 0, result.stderr[-3000:]
    assert ran(result) == ["translate-ens-b12", "report"]
    (work / "tune/grid-LSTM0.json").unlink()
    result = run_pipeline(work)
    assert ran(result) == ["tune-grid-LSTM0", "rerank-grid-LSTM0", "report"]


def test_dry_run_lists_every_stage(work: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "pipelines/multi30k.py"), "--dry-run", "--workdir",
         str(work / "fresh")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    stages = [ln.split()[2].rstrip(":") for ln in result.stdout.splitlines()
              if ln.startswith("[run ]")]
    assert stages[:4] == ["data", "train-fwd", "train-rev", "train-rev2"]
    assert {"score-val", "tune-mert", "oracle", "report"} <= set(stages)
    assert not (work / "fresh" / "data").exists()


def chromium() -> str | None:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None and os.environ.get("RESCORE_REQUIRE_BROWSER") == "1":
        pytest.fail("chromium not found (RESCORE_REQUIRE_BROWSER=1)")
    return path


def test_html_report_renders_in_a_headless_browser(work: Path) -> None:
    browser_path = chromium()
    if browser_path is None:
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    html = work / "report/report.html"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.goto(html.as_uri())
            headings = page.locator("h2").all_inner_texts()
            first_table = page.locator("table.results").first
            rows = first_table.locator("tr").count()
            header = first_table.locator("th").all_inner_texts()
            cells = first_table.locator("tr").nth(2).locator("td").all_inner_texts()
            facts = page.locator("section.provenance li").all_inner_texts()
            images = page.evaluate(
                "Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
        finally:
            browser.close()
    assert not errors
    assert headings[:3] == ["What was evaluated", "Table 1: standalone translation",
                            "Table 2: rescoring Moses' 1000-best lists"]
    # what was evaluated: the test set and its size, every model, each tuned row's weights
    assert facts[0].startswith("Test set:") and f"{SENTENCES} sentences" in facts[0]
    assert sum(f.startswith("Model ") and "validation perplexity" in f for f in facts) == 3
    assert any("weight grid-tuned on val" in f and "grid-tuned interpolation weight" in f
               for f in facts)
    # the interval of the difference to the baseline, p-values without "0.00" or nan
    assert "BLEU diff 95% CI" in header and "BLEU 95% CI" not in header
    ci = cells[header.index("BLEU diff 95% CI")]
    assert ci.startswith("[") and ci.endswith("]") and ", " in ci
    p_value = cells[header.index("BLEU p")]
    assert p_value == "< 0.001" or 0.001 <= float(p_value) <= 1
    assert headings.index("Figure 2: PCA of the encoder's final states") < \
        headings.index("Figure 3: BLEU by sentence length (source words)")
    assert rows == 1 + 6  # header, baseline and the five Table 1 systems
    assert len(images) == 3 and all(done and width > 100 for _, done, width in images)
