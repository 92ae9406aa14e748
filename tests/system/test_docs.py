"""Every example of the docs runs as written: the ``bash`` blocks of the command pages, page
after page (train, model, nbest, oracle, report, translate, tune, mbr, combine), then the
README's first rescoring (from a user's report: commands not found, inputs the docs never
made, literal '...'). They run on slices of the shared data (the first sentences of every
list, a few hundred training pairs) and on small random-init models in place of the main
job's, with everything else exactly as the pages have it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from rescore.files import read_lines
from rescore.vocab import Vocab
from tests.helpers import SUBPROCESS_ENV, write_tiny_model

ROOT = Path(__file__).resolve().parents[2]
SENTENCES = 5  # --folds 5 in the tune examples needs 5 dev sentences


ORDER = ("train", "model", "nbest", "oracle", "report", "translate", "tune", "mbr", "combine")


def bash_blocks(page: Path) -> list[str]:
    """The ```bash blocks of a page, in order (``sh`` blocks are long experiments: not run)."""
    return re.findall(r"```bash\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.DOTALL)


def example_pages() -> list[Path]:
    return [ROOT / "docs" / f"rescore-{name}.md" for name in ORDER] + [ROOT / "README.md"]


def test_every_command_page_is_run_and_has_no_placeholders() -> None:
    pages = {p.name for p in (ROOT / "docs").glob("rescore-*.md")}
    assert pages == {f"rescore-{name}.md" for name in ORDER}
    for page in example_pages():
        blocks = bash_blocks(page)
        assert blocks, f"{page.name} has no examples"
        for block in blocks:
            assert "..." not in block, (page.name, block)
    first = bash_blocks(ROOT / "README.md")
    assert len(first) == 2 and "pipelines/multi30k.py --quick" in first[0]
    assert len([line for line in first[1].splitlines()
                if line.startswith("rescore-")]) == 3  # "a first rescoring in three commands"


def test_examples_run_in_order(multi30k: Path, tmp_path: Path) -> None:
    data = tmp_path / "D"
    subprocess.run([sys.executable, str(ROOT / "data/multi30k/slice.py"), "--from",
                    str(multi30k), "--output", str(data), "--train-pairs", "300", "--sentences",
                    str(SENTENCES)], check=True, capture_output=True, env=SUBPROCESS_ENV)
    (data / "lm").symlink_to(multi30k / "lm")
    words = Counter(w for name in ("val.en", "test2016.en") for line in read_lines(data / name)
                    for w in line.split())
    targets = Counter(w for line in read_lines(data / "baseline/test2016.1best")
                      for w in line.split())
    models = tmp_path / "M"
    for seed, name in enumerate(("fwd", "rev", "rev2")):
        write_tiny_model(models / name, Vocab.build(words, 200), Vocab.build(targets, 200),
                         seed, size=8)
    (tmp_path / "data").symlink_to(ROOT / "data")
    # the README's first block is set-up and the main job (the tests' own environment)
    blocks = [b for page in example_pages() for b in bash_blocks(page)
              if "bash scripts/setup.sh &&" not in b]
    script = "\n".join(blocks)
    script = re.sub(r"(^|; )D=\S+", rf"\1D={data}", script, flags=re.MULTILINE)
    script = re.sub(r"(^|; )M=\S+", rf"\1M={models}", script, flags=re.MULTILINE)
    env = {**SUBPROCESS_ENV, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, check=False, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    work = tmp_path / "work"
    for name in ("t.1best", "oracle.json", "report.html", "report-spec.html", "tuned.json",
                 "average.1best", "ens.nbest.gz", "models/rev/model.safetensors",
                 "models/ddp/model.safetensors",
                 "all.1best", "mbr.1best", "mbr.nbest.gz", "models/channel/model.safetensors",
                 "grid.report.json", "att-plots/1.png", "kept-avg/model.safetensors",
                 "first/model/model.safetensors", "union.json",
                 "first/report.html"):
        assert (work / name).exists(), name
    assert len(read_lines(work / "tuned.1best")) == SENTENCES
