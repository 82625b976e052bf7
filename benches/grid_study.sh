#!/usr/bin/env bash
# The multi-grid comparison (issue "Grid learning", benches/README.md): the same model, tokens and
# seed under nvfp4, mxfp4, nvfp4-po2 (learned PO2(NF4) partner), mpo2 (both grids learned),
# split87, sfp4 — each W4A4 and weight-only — and bf16; then GMSE and real-block MSE of every
# format, and docs/results/grids.md with the table and the learning curves.
#
#   benches/grid_study.sh                 # the default model and budget (4×256 Llama, 400 steps:
#                                         #   13 runs × ~15 min on 2 CPU cores)
#   benches/grid_study.sh --quick         # a 2×64 Llama, 150 steps of 8×256 (~15 min)
#   benches/grid_study.sh --steps 200 --set model.preset=tiny --out checkpoints/grid-study
#
# Runs finished earlier are kept (each run resumes with --resume auto, so rerunning the script
# after an interruption continues where it stopped). Not part of CI: it is an experiment.
set -euo pipefail
cd "$(dirname "$0")/.."

ARGS="$*"
OUT=checkpoints/grid-study
STEPS=""
SETS=()
DOC=docs/results/grids.md
REAL_CKPT=checkpoints/nvfp4   # the checkpoint the default grids were learned on
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) STEPS=150; SETS+=(--set model.preset=tiny --set train.batch_size=8); OUT=checkpoints/grid-study-quick; shift ;;
    --steps) STEPS="$2"; shift 2 ;;
    --set) SETS+=(--set "$2"); shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --doc) DOC="$2"; shift 2 ;;
    --real-blocks) REAL_CKPT="$2"; shift 2 ;;
    *) echo "unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
[[ -n "$STEPS" ]] && SETS+=(--set "train.steps=$STEPS")

cargo build --release -q
B=./target/release/lowbit
for g in grids/po2-nf4-default.toml grids/mpo2.toml; do
  [[ -f $g ]] || { echo "$g is missing: learn it first (docs/results/grids.md, 'How the grids were made')" >&2; exit 1; }
done
[[ -d $REAL_CKPT ]] || { echo "$REAL_CKPT is missing: train it first (lowbit train --recipe nvfp4)" >&2; exit 1; }
mkdir -p "$OUT"

FORMATS=(nvfp4 mxfp4 nvfp4-po2 mpo2 split87 sfp4)
run() {  # name recipe extra-args...
  local name=$1 recipe=$2; shift 2
  if [[ -f $OUT/$name.json ]]; then echo "$name: done earlier"; return; fi
  echo "$name: training ($recipe $*)"
  $B train --recipe "$recipe" --out "$OUT" --run-name "$name" --resume auto --progress quiet \
     --json "${SETS[@]}" "$@" > "$OUT/$name.json.tmp"
  mv "$OUT/$name.json.tmp" "$OUT/$name.json"
}
run bf16 bf16
for f in "${FORMATS[@]}"; do
  run "$f-w4a4" "$f"
  run "$f-w4" "$f" --set compression.input=none
done

# Capacity: GMSE on 2^22 N(0,1) samples, and real-block relative MSE on the weights and
# activations of the checkpoint the grids were learned on (`grids show` measures the file's
# format and every reference format on the same blocks).
$B formats report --json --format nvfp4 --format mxfp4 --format po2-nf4-default --format mpo2 \
   --format split87 --format sfp4 > "$OUT/gmse.json"
$B grids show grids/po2-nf4-default.toml --real-blocks "$REAL_CKPT" \
   --plot docs/results/grids-levels > "$OUT/show-po2-nf4-default.txt"
$B grids show grids/mpo2.toml --real-blocks "$REAL_CKPT" \
   --plot docs/results/grids-levels-mpo2 > "$OUT/show-mpo2.txt"

python3 benches/grid_study_report.py --out "$OUT" --doc "$DOC" --real-blocks "$REAL_CKPT" \
   --command "benches/grid_study.sh $ARGS"
echo "wrote $DOC"
