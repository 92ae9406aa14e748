"""rescore-mbr and rescore-tune --method mbr-scale end to end on a slice of the real val list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rescore.nbest import read_nbest
from tests.helpers import head_of_list, run_cli

SENTENCES = 5


@pytest.fixture(scope="module")
def sliced(multi30k: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mbr")
    lines = head_of_list(multi30k / "nbest" / "val.1000best.gz", SENTENCES)
    (root / "val.nbest").write_text("".join(lines), encoding="utf-8")
    refs = (multi30k / "val.fr").read_text(encoding="utf-8").splitlines()[:SENTENCES]
    (root / "val.fr").write_text("\n".join(refs) + "\n", encoding="utf-8")
    return {"nbest": root / "val.nbest", "ref": root / "val.fr",
            "weights": multi30k / "moses.ini.tuned"}


def test_mbr_and_its_scale(sliced: dict[str, Path], tmp_path: Path) -> None:
    tuned = tmp_path / "scale.json"
    result = run_cli("rescore-tune", "--method", "mbr-scale", "--nbest", sliced["nbest"],
                     "--ref", sliced["ref"], "--init-weights", sliced["weights"], "--top", "20",
                     "--scales", "0.1,1", "--output", tuned)
    assert result.returncode == 0, result.stderr
    report = json.loads(tuned.with_suffix(".report.json").read_text())
    assert report["scale"] in (0.1, 1.0) and len(report["curve"]) == 2
    assert 0 < report["dev_bleu_start"] < 100  # the weights' own 1-best
    one, out = tmp_path / "mbr.1best", tmp_path / "mbr.nbest"
    result = run_cli("rescore-mbr", "--nbest", sliced["nbest"], "--weights", sliced["weights"],
                     "--top", "20", "--scale-from", tuned.with_suffix(".report.json"),
                     "--output-1best", one, "--output-nbest", out)
    assert result.returncode == 0, result.stderr
    assert f"scale {report['scale']:g}," in result.stderr
    by_hand = tmp_path / "by-hand.1best"
    result = run_cli("rescore-mbr", "--nbest", sliced["nbest"], "--weights", sliced["weights"],
                     "--top", "20", "--scale", str(report["scale"]), "--output-1best", by_hand)
    assert by_hand.read_text() == one.read_text()
    result = run_cli("rescore-mbr", "--nbest", sliced["nbest"], "--weights", sliced["weights"],
                     "--scale-from", tuned.with_suffix(".report.json"), "--output-1best",
                     tmp_path / "other")
    assert result.returncode == 2 and "tuned for --top 20 --utility bleu" in result.stderr
    assert not (tmp_path / "other").exists()
    assert len(one.read_text().splitlines()) == SENTENCES
    blocks = list(read_nbest(out))
    assert all(len(b) == 20 and b.schema.names[-1] == "MBR0" for b in blocks)


@pytest.mark.parametrize(("extra", "message"), [
    (["--top", "0"], "--top must be at least 1"),
    (["--scale", "0"], "--scale must be a positive number"),
])
def test_bad_options_exit_2_without_output(sliced: dict[str, Path], tmp_path: Path,
                                           extra: list[str], message: str) -> None:
    one = tmp_path / "one"
    result = run_cli("rescore-mbr", "--nbest", sliced["nbest"], "--weights", sliced["weights"],
                     *extra, "--output-1best", one)
    assert result.returncode == 2 and message in result.stderr and not one.exists()
    assert len(result.stderr.strip().splitlines()) == 1
