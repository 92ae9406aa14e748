"""The README's usage examples run as written, in order (from a user's report: commands not
found, inputs the README never made, literal '...'). They run on slices of the shared data
(the first sentences of every list, a few hundred training pairs) and on small random-init
models in place of the main job's, with everything else exactly as the README has it."""

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
SENTENCES = 4


def usage_blocks(readme: str) -> list[str]:
    """The ```bash blocks of the README's Usage section, in order."""
    section = readme.split("\n## Usage\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)


def test_usage_section_has_no_placeholders() -> None:
    blocks = usage_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 6
    for block in blocks:
        assert "..." not in block, block
        assert "work/models/rev2" not in block and "work/lstm.txt" not in block


def test_usage_examples_run_in_order(multi30k: Path, tmp_path: Path) -> None:
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
    script = "\n".join(usage_blocks((ROOT / "README.md").read_text(encoding="utf-8")))
    script = re.sub(r"^D=\S+", f"D={data}", script, count=1, flags=re.MULTILINE)
    script = re.sub(r"^M=\S+", f"M={models}", script, count=1, flags=re.MULTILINE)
    env = {**SUBPROCESS_ENV, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, check=False, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    work = tmp_path / "work"
    for name in ("t.1best", "oracle.json", "report.html", "report-spec.html", "tuned.json",
                 "average.1best", "ens.nbest.gz", "models/rev/model.pt", "models/ddp/model.pt",
                 "all.1best", "mbr.1best", "mbr.nbest.gz", "models/channel/model.pt"):
        assert (work / name).exists(), name
    assert len(read_lines(work / "tuned.1best")) == SENTENCES
