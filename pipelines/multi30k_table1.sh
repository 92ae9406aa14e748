#!/usr/bin/env bash
# The paper's Table 1 on Multi30k en-fr test2016: standalone beam-search translation with the
# LSTM models of the training step (work/models/fwd, work/models/rev, work/models/rev2), single
# and ensembled, against the Moses baseline. Writes work/table1/report.{md,json,csv}.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
DATA=${RESCORE_SHARED_DATA:-../shared/data}/multi30k-en-fr
M=${MODELS:-work/models}
OUT=work/table1
THREADS=${THREADS:-2}
mkdir -p "$OUT"

translate() {  # NAME BEAM MODEL...
  local name=$1 beam=$2; shift 2
  local args=()
  for m in "$@"; do args+=(--model "$m"); done
  [ -f "$OUT/$name.txt" ] || "$BIN/rescore-translate" "${args[@]}" --beam "$beam" \
    --input "$DATA/test2016.en" --output "$OUT/$name.txt" --threads "$THREADS"
}
translate fwd-b12 12 "$M/fwd"
translate rev-b12 12 "$M/rev"
for b in 1 2 12; do translate ens-b$b $b "$M/rev" "$M/rev2"; done

"$BIN/rescore-report" --ref "$DATA/test2016.fr" \
  "Moses baseline=$DATA/baseline/test2016.1best" \
  "single forward LSTM, beam 12=$OUT/fwd-b12.txt" \
  "single reversed LSTM, beam 12=$OUT/rev-b12.txt" \
  "ensemble of 2 reversed LSTMs, beam 1=$OUT/ens-b1.txt" \
  "ensemble of 2 reversed LSTMs, beam 2=$OUT/ens-b2.txt" \
  "ensemble of 2 reversed LSTMs, beam 12=$OUT/ens-b12.txt" \
  --output-prefix "$OUT/report"
cat "$OUT/report.md"
