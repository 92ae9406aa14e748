#!/usr/bin/env bash
# The main job on the default data (../shared/data/multi30k-en-fr, or $RESCORE_SHARED_DATA):
# rerank the real Moses 1000-best list of test2016 with Moses' tuned weights (reproducing its
# 1-best), add a KenLM feature, compute the oracle, and write a BLEU comparison report.
# Outputs go to work/multi30k/ (git-ignored). Run after scripts/setup.sh (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
DATA=${RESCORE_SHARED_DATA:-../shared/data}/multi30k-en-fr
OUT=work/multi30k
mkdir -p "$OUT"
if [ ! -f "$DATA/README.md" ]; then
  echo "multi30k_quick: no data at $DATA (set RESCORE_SHARED_DATA)" >&2
  exit 2
fi

echo "== 1. rerank test2016 1000-best with the tuned Moses weights"
"$BIN/rescore-nbest" --nbest "$DATA/nbest/test2016.1000best.gz" --source "$DATA/test2016.en" \
  --weights "$DATA/moses.ini.tuned" \
  --output-nbest "$OUT/test2016.reranked.nbest.gz" --output-1best "$OUT/test2016.reranked.1best"
if cmp -s "$OUT/test2016.reranked.1best" "$DATA/baseline/test2016.1best"; then
  echo "   identical to Moses' own 1-best output"
else
  echo "   DIFFERS from Moses' own 1-best output" >&2
  exit 1
fi

echo "== 2. add the 5-gram KenLM feature (natural log, as Moses' LM0)"
"$BIN/rescore-nbest" --nbest "$DATA/nbest/test2016.1000best.gz" --source "$DATA/test2016.en" \
  --lm "$DATA/lm/train.fr.5g.arpa.gz" --output-nbest "$OUT/test2016.kenlm.nbest.gz"

echo "== 3. oracle of the 1000-best list"
"$BIN/rescore-oracle" --nbest "$DATA/nbest/test2016.1000best.gz" --ref "$DATA/test2016.fr" \
  --output "$OUT/test2016.oracle" --report "$OUT/test2016.oracle.json"

echo "== 4. report"
"$BIN/rescore-report" --ref "$DATA/test2016.fr" \
  "moses=$DATA/baseline/test2016.1best" \
  "rescore-tuned-weights=$OUT/test2016.reranked.1best" \
  "oracle-sentence-bleu=$OUT/test2016.oracle" \
  --output-prefix "$OUT/report"
echo "report: $OUT/report.md $OUT/report.json $OUT/report.csv"
