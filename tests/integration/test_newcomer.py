"""What a new user tripped on: a reader that closes stdout early (``| head``) costs no output
file and is no error; the report says where it wrote its files; a misspelled weight names
both sides and the closest match; a --model that is no folder says so; a first pipeline run
reads "not run yet"; the PCA figure says whose encoder it shows and its labels do not
overlap."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers import SUBPROCESS_ENV, run_cli


def piped(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``command | true`` in bash (a reader gone before the command prints), with the
    command's own exit status."""
    return subprocess.run(["bash", "-c", f"{command} | true; exit ${{PIPESTATUS[0]}}"],
                          cwd=cwd, capture_output=True, text=True, check=False,
                          env=SUBPROCESS_ENV)


def test_a_closed_stdout_loses_nothing(tmp_path: Path) -> None:
    import sys

    (tmp_path / "ref").write_text("".join(f"a b c {i}\n" for i in range(40)))
    (tmp_path / "sys").write_text("".join(f"a b {i}\n" for i in range(40)))
    report = piped(f"{sys.executable} -m rescore.cli.report --ref ref s1=sys s2=ref "
                   "--bootstrap 10 --output-prefix out", tmp_path)
    assert report.returncode == 0, report.stderr
    assert "Traceback" not in report.stderr and "Broken pipe" not in report.stderr
    assert all((tmp_path / f"out.{ext}").exists() for ext in ("md", "html", "json", "csv"))
    assert "wrote out.md" in report.stderr  # where the files are
    nbest = tmp_path / "l.nbest"
    nbest.write_text("".join(f"{i} ||| a b {i} ||| LM0= -1 ||| -1\n" for i in range(40)))
    oracle = piped(f"{sys.executable} -m rescore.cli.oracle --nbest l.nbest --ref ref "
                   "--output o.txt", tmp_path)
    assert oracle.returncode == 0, oracle.stderr
    assert (tmp_path / "o.txt").exists() and "Broken pipe" not in oracle.stderr


def test_a_misspelled_weight_names_both_sides(tmp_path: Path) -> None:
    nbest = tmp_path / "l.nbest"
    nbest.write_text("0 ||| a ||| LM0= -1 WordPenalty0= -1 ||| -1\n")
    weights = tmp_path / "w.json"
    weights.write_text('{"LMO": 1, "WordPenalty0": 1}')
    result = run_cli("rescore-nbest", "--nbest", nbest, "--weights", weights, "--output-1best",
                     tmp_path / "o")
    assert result.returncode == 2
    assert "the list has feature(s) LM0 that the weights" in result.stderr
    assert "is 'LMO' in the weights meant to be 'LM0'?" in result.stderr


def test_a_model_that_is_a_file_says_so(tmp_path: Path) -> None:
    (tmp_path / "model.pt").write_text("x")
    (tmp_path / "src").write_text("a\n")
    result = run_cli("rescore-translate", "--model", tmp_path / "model.pt", "--input",
                     tmp_path / "src", "--output", tmp_path / "o")
    assert result.returncode == 2 and "a file, not a model directory" in result.stderr


def test_the_pca_figure_names_the_model_and_its_labels_do_not_overlap() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    from rescore import figures

    captured = {}
    real = figures._png

    def keep(fig):  # type: ignore[no-untyped-def]
        ax = fig.axes[0]
        renderer = fig.canvas.get_renderer()
        captured["title"] = ax.get_title()
        captured["boxes"] = [t.get_window_extent(renderer) for t in ax.texts]
        return real(fig)

    figures._png = keep  # type: ignore[assignment]
    try:
        coords = np.array([[0.0, 0.0], [0.001, 0.001], [0.002, 0.0], [1.0, 1.0], [0.0, 0.002]])
        figures.plot_pca(coords, [f"phrase {i}" for i in range(5)], np.array([0.6, 0.3]),
                         "work/models/rev")
    finally:
        figures._png = real  # type: ignore[assignment]
    assert "work/models/rev" in captured["title"]
    boxes = captured["boxes"]
    assert len(boxes) == 5
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
