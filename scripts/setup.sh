#!/usr/bin/env bash
# One-time set-up on a fresh machine: a virtual environment in .venv with rescore and its
# dependencies. torch is pinned to the CPU build 2.13.0 (an unpinned torch pulls gigabytes
# of CUDA packages). Safe to rerun. Quiet: pip's output goes to .venv/setup.log and is shown
# only when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
log=.venv/setup.log
: > "$log"
step() {
  if ! "$@" >> "$log" 2>&1; then
    echo "setup: failed: $*" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
}
# --no-compile, then one import of what rescore and its tests use with bytecode writing on:
# only those modules are compiled (torch alone has thousands that rescore never imports), and
# every later process reads their bytecode even where PYTHONDONTWRITEBYTECODE is set
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-compile)
step "${pip[@]}" --upgrade pip
step "${pip[@]}" torch==2.13.0
step "${pip[@]}" -e ".[dev]"
step env -u PYTHONDONTWRITEBYTECODE .venv/bin/python -c "
import importlib
for name in ('torch', 'torch.distributed.run', 'numpy', 'pandas', 'pyarrow.csv', 'sacrebleu',
             'sacremoses', 'matplotlib.pyplot', 'tqdm', 'kenlm', 'pytest', 'playwright.sync_api',
             'safetensors.torch', 'sentencepiece', 'rescore.cli.model',
             'rescore.cli.nbest', 'rescore.cli.train', 'rescore.cli.tune', 'rescore.cli.mbr',
             'rescore.cli.combine',
             'rescore.cli.translate', 'rescore.cli.oracle', 'rescore.cli.report',
             'pipelines.engine.stages', 'rescore.mira'):
    importlib.import_module(name)
"
