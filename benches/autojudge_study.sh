#!/usr/bin/env bash
# AutoJudge study (docs/results/autojudge.md): seeded arithmetic word problems, a target
# (recipes/judge-target.toml) and a much smaller draft (judge-draft) trained on them, mining on
# training problems, the DD-DT judge head, and target / exact-sd / autojudge / topk decoding on
# held-out problems. Not part of CI; each stage is skipped when its output exists.
#
#   bash benches/autojudge_study.sh
#
# Environment: LOWBIT (default target/debug/lowbit from `cargo build --profile test`; the
# test profile is optimised), OUT (checkpoints/judge), N_TRAIN (30000 problems for the models),
# N_MINE (2000 training problems mined; the doc's smaller head is N_MINE=300 OUT=…), N_TEST (500
# held-out problems), WINDOWS ("8 16 4"), QUANTILES (the head's validation quantiles evaluated),
# THRESHOLDS (explicit thresholds instead). Time it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
LOWBIT=${LOWBIT:-target/debug/lowbit}
OUT=${OUT:-checkpoints/judge}
N_TRAIN=${N_TRAIN:-30000}
N_MINE=${N_MINE:-2000}
N_TEST=${N_TEST:-500}
WINDOWS=${WINDOWS:-8 16 4}
QUANTILES=${QUANTILES:-0.2,0.4,0.6,0.64,0.68,0.72,0.76,0.8,0.96}
[ -x "$LOWBIT" ] || cargo build --profile test -q --bin lowbit
mkdir -p "$OUT" datasets/judge
TRAIN=datasets/judge/train.jsonl
TEST=datasets/judge/test.jsonl
[ -f "$TRAIN" ] || "$LOWBIT" judge task --seed 1 --n "$N_TRAIN" --out "$TRAIN" --corpus-out datasets/raw/arithmetic
[ -f "$TEST" ] || "$LOWBIT" judge task --seed 2 --n 500 --exclude "$TRAIN" --out "$TEST"
for m in target draft; do
  if [ ! -f "$OUT/$m/LATEST" ]; then
    /usr/bin/time -f "$m: %e s wall, %M KB peak RSS" \
      "$LOWBIT" train --recipe "judge-$m" --out "$OUT" --run-name "$m" --progress lines --resume auto
  fi
done
# Mining on training problems the models were trained on (the paper mines GSM8K train).
[ -f "$OUT/labels.jsonl.done" ] || {
  "$LOWBIT" judge mine --target "$OUT/target" --draft "$OUT/draft" --data "$TRAIN" \
    --limit "$N_MINE" --out "$OUT/labels.jsonl" --progress lines
  touch "$OUT/labels.jsonl.done"
}
[ -f "$OUT/feats.safetensors" ] || "$LOWBIT" judge features --target "$OUT/target" \
  --draft "$OUT/draft" --labels "$OUT/labels.jsonl" --out "$OUT/feats.safetensors"
[ -f "$OUT/head/head.json" ] || "$LOWBIT" judge train --features "$OUT/feats.safetensors" --out "$OUT/head"
ARGS=(--quantiles "$QUANTILES")
[ -n "${THRESHOLDS:-}" ] && ARGS=(--thresholds "$THRESHOLDS")
for w in $WINDOWS; do
  "$LOWBIT" judge eval --target "$OUT/target" --draft "$OUT/draft" --head "$OUT/head" \
    --data "$TEST" --limit "$N_TEST" --window "$w" --out "$OUT/eval-w$w/results.jsonl" "${ARGS[@]}"
done
