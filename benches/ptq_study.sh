#!/usr/bin/env bash
# Post-training compression study: every method × format of issue 14 on one full-precision
# checkpoint, each compressed checkpoint evaluated on held-out text, rows appended to a JSONL
# file that benches/ptq_report.py turns into the table of docs/results/ptq.md. Not part of CI
# (SmolLM2-135M: about an hour on 2 cores).
#
#   bash benches/ptq_study.sh CHECKPOINT CALIB_TEXT HELDOUT_TEXT OUT_DIR [EVAL_MAX_TOKENS]
#
# Defaults for the SmolLM2 study (run `lowbit models get smollm2-135m` first):
#   CHECKPOINT=checkpoints/smollm2-135m, CALIB_TEXT / HELDOUT_TEXT from GSM8K (train / test,
#   written by benches/gsm8k_text.py), OUT_DIR=checkpoints/ptq-smollm2.
# Rows already in OUT_DIR/rows.jsonl are skipped, so a killed study resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
CK=${1:-checkpoints/smollm2-135m}
CALIB=${2:-checkpoints/ptq-text/gsm8k-train-400.txt}
HELD=${3:-checkpoints/ptq-text/gsm8k-test-60.txt}
OUT=${4:-checkpoints/ptq-smollm2}
MAXTOK=${5:-4096}
LOWBIT=${LOWBIT:-target/release/lowbit}
# SmolLM2's d_model 576 is not a multiple of 128: its INT groups are 64 (576 = 9 · 64).
INT_GROUP=${INT_GROUP:-64}
FORMATS=${FORMATS:-"int4:block=$INT_GROUP,asym int3:block=$INT_GROUP,asym nvfp4 mxfp4 po2-nf4-default"}
METHODS=${METHODS:-"rtn gptq mr-gptq"}
VQ=${VQ:-"vq:2x8g8"}  # AQLM rows, each without and with block fine-tuning
[ -x "$LOWBIT" ] || cargo build --release -q --bin lowbit
if [ ! -f "$CALIB" ] || [ ! -f "$HELD" ]; then
  python3 benches/gsm8k_text.py --out-dir "$(dirname "$CALIB")"
fi
mkdir -p "$OUT"
ROWS=$OUT/rows.jsonl
touch "$ROWS"

row() { # method format dir compress-json
  local ev
  ev=$("$LOWBIT" eval --checkpoint "$3" --text-file "$HELD" --seq-len 256 --max-tokens "$MAXTOK" --json)
  python3 - "$1" "$2" "$ev" "$4" >> "$ROWS" <<'EOF'
import json, sys
method, fmt, ev, comp = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
c = json.loads(comp) if comp else {}
print(json.dumps({"method": method, "format": fmt, "nll": ev["nll"], "ppl": ev["ppl"],
                  "tokens": ev["tokens"], "bits_per_value": c.get("bits_per_value"),
                  "mean_rel_error": c.get("mean_rel_error"), "seconds": c.get("seconds")}))
EOF
  tail -1 "$ROWS"
}

done_row() { grep -qF "\"method\": \"$1\", \"format\": \"$2\"" "$ROWS"; }

done_row none f32 || row none f32 "$CK" ""
for f in $FORMATS; do
  for m in $METHODS; do
    done_row "$m" "$f" && continue
    dir=$OUT/$m-${f//[:=,]/_}
    c=$("$LOWBIT" compress --checkpoint "$CK" --format "$f" --method "$m" --calib-text "$CALIB" \
        --calib-samples 16 --calib-seq-len 256 --out "$dir" --force --progress quiet --json)
    row "$m" "$f" "$dir" "$c"
  done
done
for f in $VQ; do
  done_row aqlm "$f" && continue
  dir=$OUT/aqlm-${f//[:=,]/_}
  c=$("$LOWBIT" compress --checkpoint "$CK" --format "$f" --method aqlm --calib-text "$CALIB" \
      --calib-samples 16 --calib-seq-len 256 --out "$dir" --force --progress quiet --json)
  row aqlm "$f" "$dir" "$c"
done
# AQLM with its block fine-tuning (codebooks, row scales and norms to the full-precision block
# outputs; FT_EPOCHS most epochs, lr 1e-4, early stop after 3 epochs without a better held-out
# loss): the row `aqlm+ft`.
FT_EPOCHS=${FT_EPOCHS:-10}
for f in $VQ; do
  done_row aqlm+ft "$f" && continue
  dir=$OUT/aqlm-ft-${f//[:=,]/_}
  c=$("$LOWBIT" compress --checkpoint "$CK" --format "$f" --method aqlm --calib-text "$CALIB" \
      --calib-samples 16 --calib-seq-len 256 --finetune-epochs "$FT_EPOCHS" --out "$dir" --force \
      --progress quiet --json)
  row aqlm+ft "$f" "$dir" "$c"
done
python3 benches/ptq_report.py "$ROWS"
