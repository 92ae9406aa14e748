#!/usr/bin/env bash
# The paper's Table 2 on Multi30k en-fr: rescoring Moses' 1000-best lists with LSTM models.
# Needs the models of the training step (see README):
#   work/models/fwd (forward), work/models/rev and work/models/rev2 (reversed, seeds 1 and 2).
# Scores val and test2016 with all three, tunes on val, reranks test2016, and writes
# work/table2/report.{md,json,csv}. Run after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
DATA=${RESCORE_SHARED_DATA:-../shared/data}/multi30k-en-fr
M=${MODELS:-work/models}
OUT=work/table2
mkdir -p "$OUT"

for set in val test2016; do
  if [ ! -f "$OUT/$set.pass1.nbest.gz" ]; then
    echo "== score $set with the forward and the reversed model"
    "$BIN/rescore-nbest" --nbest "$DATA/nbest/$set.1000best.gz" --source "$DATA/$set.en" \
      --model "LSTMF0=$M/fwd" --model "LSTM0=$M/rev" --output-nbest "$OUT/$set.pass1.nbest.gz"
  fi
  if [ ! -f "$OUT/$set.scored.nbest.gz" ]; then
    echo "== add the second reversed model and the ensemble of the two reversed models"
    "$BIN/rescore-nbest" --nbest "$OUT/$set.pass1.nbest.gz" --source "$DATA/$set.en" \
      --model "LSTM1=$M/rev2" --ensemble LSTM0,LSTM1 --output-nbest "$OUT/$set.scored.nbest.gz"
  fi
done

T="$OUT/test2016.scored.nbest.gz"
echo "== the paper's untuned average of the Moses total and the LSTM log-probability"
for f in LSTMF0 LSTM0 LSTMEnsemble0; do
  "$BIN/rescore-nbest" --nbest "$T" --combine average --average-feature $f \
    --output-1best "$OUT/test2016.avg-$f.1best"
done

echo "== tune on val: grid over the ensemble's weight, and MERT over all Moses features + ensemble"
for f in LSTMF0 LSTM0 LSTMEnsemble0; do
  "$BIN/rescore-tune" --nbest "$OUT/val.scored.nbest.gz" --ref "$DATA/val.fr" --method grid \
    --feature $f --init-weights "$DATA/moses.ini.tuned" --output "$OUT/grid-$f.json" \
    --cache "$OUT/val.features.parquet"
done
"$BIN/rescore-tune" --nbest "$OUT/val.scored.nbest.gz" --ref "$DATA/val.fr" --method mert \
  --init-weights "$DATA/moses.ini.tuned" \
  --tune-features LexicalReordering0,Distortion0,LM0,WordPenalty0,PhrasePenalty0,TranslationModel0,LSTMEnsemble0 \
  --restarts 2 --iterations 5 --output "$OUT/mert.json" --cache "$OUT/val.features.parquet"
for w in grid-LSTMF0 grid-LSTM0 grid-LSTMEnsemble0 mert; do
  "$BIN/rescore-nbest" --nbest "$T" --weights "$OUT/$w.json" --output-1best "$OUT/test2016.$w.1best"
done

echo "== oracle"
"$BIN/rescore-oracle" --nbest "$DATA/nbest/test2016.1000best.gz" --ref "$DATA/test2016.fr" \
  --output "$OUT/test2016.oracle" --report "$OUT/test2016.oracle.json"

echo "== report"
"$BIN/rescore-report" --ref "$DATA/test2016.fr" \
  "Moses baseline=$DATA/baseline/test2016.1best" \
  "forward LSTM, average=$OUT/test2016.avg-LSTMF0.1best" \
  "reversed LSTM, average=$OUT/test2016.avg-LSTM0.1best" \
  "ensemble of 2 reversed, average=$OUT/test2016.avg-LSTMEnsemble0.1best" \
  "forward LSTM, grid-tuned weight=$OUT/test2016.grid-LSTMF0.1best" \
  "reversed LSTM, grid-tuned weight=$OUT/test2016.grid-LSTM0.1best" \
  "ensemble, grid-tuned weight=$OUT/test2016.grid-LSTMEnsemble0.1best" \
  "ensemble + Moses features, MERT=$OUT/test2016.mert.1best" \
  "oracle=$OUT/test2016.oracle" \
  --output-prefix "$OUT/report"
