#!/usr/bin/env bash
# The peer's own virtual environment (never the project's): OpenNMT-py 3.5.1 beside the same
# CPU torch 2.13.0 as rescore's .venv. OpenNMT-py pins torch >= 2.1, < 2.3, whose registry
# builds are CUDA builds of several GB, so it is installed without its dependencies and those
# it needs are added by name. Safe to rerun. Output in $VENV/setup.log.
#
#   bash benchmarks/peers/setup.sh            # makes work/peers/onmt-venv (about 2 minutes)
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${ONMT_VENV:-work/peers/onmt-venv}
PYTHON=${PYTHON:-python3}
mkdir -p "$(dirname "$VENV")"
# a venv left without pip (its creation interrupted) is made again
"$VENV/bin/python" -m pip --version > /dev/null 2>&1 || "$PYTHON" -m venv --clear "$VENV"
log="$VENV/setup.log"
: > "$log"
pip=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
step() {
  if ! "$@" >> "$log" 2>&1; then
    echo "peers/setup: failed: $*" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
}
step "${pip[@]}" --upgrade pip
step "${pip[@]}" torch==2.13.0
step "${pip[@]}" --no-deps OpenNMT-py==3.5.1
# what onmt_build_vocab, onmt_train and onmt_translate import (OpenNMT-py 3.5.1's
# requirements less torch)
step "${pip[@]}" configargparse pyyaml sacrebleu six rapidfuzz pyonmttok spacy \
  pyahocorasick waitress flask fasttext-wheel tensorboard numpy
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
print("peers/setup:", ", ".join(f"{p} {md.version(p)}" for p in ("OpenNMT-py", "torch")))
PY
