"""rescore-tune end to end on a small constructed dev list."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rescore.weights import load_weights
from tests.helpers import run_cli


def dev_list(tmp_path: Path) -> tuple[Path, Path]:
    """25 sentences x 8 hypotheses: LM0 follows the hypothesis' quality, Noise0 does not."""
    rng = np.random.default_rng(0)
    words = ["a", "b", "c", "d", "e", "f", "g", "h"]
    refs, lines = [], []
    for k in range(25):
        ref = [str(w) for w in rng.choice(words, 6)]
        refs.append(" ".join(ref))
        for _ in range(8):
            hyp = [w if rng.random() < 0.6 else str(rng.choice(words)) for w in ref]
            good = sum(a == b for a, b in zip(hyp, ref, strict=True))
            lm = -2.0 * (6 - good) + rng.normal(0, 2)
            noise = rng.normal(0, 3)
            lines.append(f"{k} ||| {' '.join(hyp)} ||| LM0= {lm:.4f} Noise0= {noise:.4f} ||| 0\n")
    nbest, ref = tmp_path / "dev.nbest", tmp_path / "dev.ref"
    nbest.write_text("".join(lines))
    ref.write_text("\n".join(refs) + "\n")
    return nbest, ref


def test_tune_writes_weights_that_never_lower_dev_bleu(tmp_path: Path) -> None:
    nbest, ref = dev_list(tmp_path)
    init = tmp_path / "init.json"
    init.write_text('{"LM0": 0.1, "Noise0": 1.0}')
    out = tmp_path / "w.json"
    result = run_cli("rescore-tune", "--nbest", nbest, "--ref", ref, "--init-weights", init,
                     "--output", out, "--restarts", "2")
    assert result.returncode == 0, result.stderr
    # progress a user can follow: starts and iterations out of their totals, BLEU, time left
    assert "mert: start 1/3 iteration 1/10: dev BLEU" in result.stderr
    assert "best so far" in result.stderr and " left" in result.stderr
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert report["dev_bleu_tuned"] >= report["dev_bleu_start"]
    assert report["dev_bleu_tuned"] > report["dev_bleu_start"] + 1  # the noise gets down-weighted
    tuned = load_weights(out)
    assert load_weights(out.with_suffix(".ini")).values.keys() == tuned.values.keys()
    assert abs(tuned.values["LM0"][0]) > abs(tuned.values["Noise0"][0])
    assert (tmp_path / "w.features.parquet").exists()
    applied = run_cli("rescore-nbest", "--nbest", nbest, "--weights", out,
                      "--output-1best", tmp_path / "best")
    assert applied.returncode == 0, applied.stderr
    short = tmp_path / "short.ref"
    short.write_text("a\n")
    bad = run_cli("rescore-tune", "--nbest", nbest, "--ref", short, "--output", tmp_path / "x.json")
    assert bad.returncode == 2 and "past the end of" in bad.stderr
    assert not (tmp_path / "x.json").exists()


def test_reference_longer_than_the_list_and_cache_per_reference(tmp_path: Path) -> None:
    """A dev reference with lines the list has no hypotheses for is refused (file:line); the
    feature-table cache is not reused for another reference."""
    lines = [f"{k} ||| a b c d e ||| LM0= -1 ||| 0\n{k} ||| a b x y z ||| LM0= -2 ||| 0\n"
             for k in range(3)]
    nbest = tmp_path / "dev.nbest"
    nbest.write_text("".join(lines))
    ref, long = tmp_path / "dev.ref", tmp_path / "long.ref"
    ref.write_text("a b c d e\n" * 3)
    long.write_text("a b c d e\n" * 4)
    cache = tmp_path / "t.parquet"
    args = ["--nbest", nbest, "--cache", cache, "--restarts", "1"]
    bad = run_cli("rescore-tune", *args, "--ref", long, "--output", tmp_path / "x.json")
    assert bad.returncode == 2, bad.stderr
    assert f"{long}:4:" in bad.stderr and "no hypotheses for 1 of the 4" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "x.json").exists()
    good = run_cli("rescore-tune", *args, "--ref", ref, "--output", tmp_path / "w.json")
    assert good.returncode == 0, good.stderr
    first = json.loads((tmp_path / "w.report.json").read_text())
    assert first["dev_bleu_tuned"] == pytest.approx(100.0)  # LM0 prefers "a b c d e", the reference
    other = tmp_path / "other.ref"
    other.write_text("a b x y z\n" * 3)  # same list and cache, another reference
    again = run_cli("rescore-tune", *args, "--ref", other, "--output", tmp_path / "v.json")
    assert again.returncode == 0, again.stderr
    second = json.loads((tmp_path / "v.report.json").read_text())
    assert second["dev_bleu_start"] < 50 and second["dev_bleu_tuned"] == pytest.approx(100.0)


def test_grid_points_can_be_given(tmp_path: Path) -> None:
    lines = [f"{k} ||| a b c d e ||| LM0= -1 Noise0= 0 ||| 0\n"
             f"{k} ||| a b x y z ||| LM0= -2 Noise0= 1 ||| 0\n" for k in range(3)]
    nbest, ref, init = tmp_path / "dev.nbest", tmp_path / "dev.ref", tmp_path / "init.json"
    nbest.write_text("".join(lines))
    ref.write_text("a b c d e\n" * 3)
    init.write_text('{"LM0": 1.0, "Noise0": 0.0}')
    args = ["--nbest", nbest, "--ref", ref, "--init-weights", init, "--method", "grid",
            "--feature", "Noise0"]
    ok = run_cli("rescore-tune", *args, "--grid", "0,0.5,1", "--output", tmp_path / "w.json")
    assert ok.returncode == 0, ok.stderr
    report = json.loads((tmp_path / "w.report.json").read_text())
    assert [g for g, _ in report["grid"]] == [0.0, 0.5, 1.0] and report["lambda"] == 0.0
    bad = run_cli("rescore-tune", *args, "--grid", "0,2", "--output", tmp_path / "x.json")
    assert bad.returncode == 2 and "weights in [0, 1]" in bad.stderr
    assert not (tmp_path / "x.json").exists()


def test_folds_report_cross_validated_bleu_and_write_the_mean_weights(tmp_path: Path) -> None:
    nbest, ref = dev_list(tmp_path)
    init = tmp_path / "init.json"
    init.write_text('{"Noise0": 1.0}')
    out = tmp_path / "cv.json"
    result = run_cli("rescore-tune", "--nbest", nbest, "--ref", ref, "--init-weights", init,
                     "--baseline-as-one-feature", "--tune-features", "LM0", "--folds", "5",
                     "--method", "mira", "--output", out)
    assert result.returncode == 0, result.stderr
    assert "5-fold cross-validated:" in result.stderr
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert report["folds"] == 5 and len(report["fold_results"]) == 5
    assert report["dev_bleu_cross_validated"] > report["dev_bleu_start"]
    mean = np.mean([f["weights"] for f in report["fold_results"]], axis=0)
    tuned = load_weights(out)  # the compact baseline form, expanded
    np.testing.assert_allclose([tuned.values["LM0"][0], tuned.values["Noise0"][0]],
                               mean, atol=1e-9)
    bad = run_cli("rescore-tune", "--nbest", nbest, "--ref", ref, "--folds", "26",
                  "--output", tmp_path / "bad.json")
    assert bad.returncode == 2 and "--folds 26: need 2 to 25" in bad.stderr
    assert not (tmp_path / "bad.json").exists()


def test_replicas_keep_the_best_cross_validated_seed(tmp_path: Path) -> None:
    nbest, ref = dev_list(tmp_path)
    common = ["--nbest", nbest, "--ref", ref, "--method", "mert", "--restarts", "1",
              "--iterations", "2", "--folds", "5"]
    out = tmp_path / "rep.json"
    result = run_cli("rescore-tune", *common, "--replicas", "3", "--seed", "2",
                     "--output", out)
    assert result.returncode == 0, result.stderr
    assert "3 replicas (seeds 2-4): cross-validated dev BLEU" in result.stderr
    report = json.loads(out.with_suffix(".report.json").read_text())
    rows = report["replicas"]
    assert [r["seed"] for r in rows] == [2, 3, 4]
    cvs = [r["dev_bleu_cross_validated"] for r in rows]
    kept = report["replica_kept_seed"]
    assert kept == rows[cvs.index(max(cvs))]["seed"]
    assert report["dev_bleu_cross_validated"] == max(cvs)
    # the weights written: one tuning with the kept seed alone
    alone = tmp_path / "alone.json"
    assert run_cli("rescore-tune", *common, "--seed", str(kept), "--output",
                   alone).returncode == 0
    assert load_weights(out).values == load_weights(alone).values
    bad = run_cli("rescore-tune", *common, "--replicas", "0", "--output", tmp_path / "b.json")
    assert bad.returncode == 2 and "--replicas" in bad.stderr
    # a method without a seed would repeat one tuning: refused before anything is read
    for method in ("grid", "mbr-scale"):
        bad = run_cli("rescore-tune", "--nbest", nbest, "--ref", ref, "--method", method,
                      "--replicas", "2", "--output", tmp_path / "g.json")
        assert bad.returncode == 2 and f"--method {method} has no seed" in bad.stderr
        assert "Traceback" not in bad.stderr and not (tmp_path / "g.json").exists()
