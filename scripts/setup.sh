#!/usr/bin/env bash
# One-time set-up on a fresh machine: a virtual environment in .venv with rescore and its
# dependencies. torch is pinned to the CPU build 2.13.0 (an unpinned torch pulls gigabytes
# of CUDA packages). Safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet torch==2.13.0
.venv/bin/python -m pip install --quiet -e ".[dev]"
