#!/usr/bin/env bash
# PV-Tuning study on SmolLM2-135M (docs/results/pv.md): an INT2 g16 asym GPTQ student (and, when
# AQLM_STUDENT names one, an AQLM student) fine-tuned towards the full-precision model with each
# method — calibration only, p-only, ste, pv, pv+ste — on the same text, steps and tokens;
# held-out NLL / PPL with `lowbit eval` on GSM8K test problems (neither calibration nor
# fine-tuning text), codes changed, wall time, tokens/s and the V-step's share of a step.
# Not part of CI.
#
#   bash benches/pv_study.sh
#
# Environment: LOWBIT (default target/release/lowbit, built if missing), MODEL_DIR
# (checkpoints/smollm2-135m), OUT_DIR (checkpoints/pv-smollm2), STEPS (12), BATCH (2),
# SEQ (256), METHODS ("p-only ste pv pv+ste"), AQLM_STUDENT (unset), EXTRA_SETS (more
# --set k=v for every run). Texts: benches/gsm8k_text.py (calibration = train problems 0–399,
# fine-tuning = 400–1399, held-out = test 0–59). Time it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
LOWBIT=${LOWBIT:-target/release/lowbit}
MODEL_DIR=${MODEL_DIR:-checkpoints/smollm2-135m}
OUT_DIR=${OUT_DIR:-checkpoints/pv-smollm2}
STEPS=${STEPS:-12}
BATCH=${BATCH:-2}
SEQ=${SEQ:-256}
METHODS=${METHODS:-"p-only ste pv pv+ste"}
TEXT=checkpoints/ptq-text
[ -x "$LOWBIT" ] || cargo build --release -q --bin lowbit
[ -f "$MODEL_DIR/config.json" ] || "$LOWBIT" models get smollm2-135m --out "$MODEL_DIR"
[ -f "$TEXT/gsm8k-train-ft-1000.txt" ] || python3 benches/gsm8k_text.py --out-dir "$TEXT" --finetune-problems 1000
CALIB=$TEXT/gsm8k-train-400.txt
FT=$TEXT/gsm8k-train-ft-1000.txt
HELD=$TEXT/gsm8k-test-60.txt
mkdir -p "$OUT_DIR"
ROWS=$OUT_DIR/rows.jsonl
: > "$ROWS"

held_nll() {  # $1 = checkpoint → eval JSON
  "$LOWBIT" eval --checkpoint "$1" --text-file "$HELD" --seq-len 256 --json | tail -n 1
}

row() {  # student label, method, checkpoint, wall, run dir (or "")
  local e
  e=$(held_nll "$3")
  python3 - "$1" "$2" "$3" "$4" "$5" "$e" >> "$ROWS" <<'PY'
import json, os, sys
student, method, ck, wall, run, e = sys.argv[1:]
row = {"student": student, "method": method, "checkpoint": ck, "wall_s": float(wall)}
row.update({k: v for k, v in json.loads(e).items() if k in ("nll", "ppl", "tokens")})
if run:
    recs = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"))]
    steps = [r for r in recs if "loss" in r]
    ex = [r.get("extra", {}) for r in steps]
    row["steps"] = len(steps)
    row["train_loss_first"], row["train_loss_last"] = steps[0]["loss"], steps[-1]["loss"]
    row["codes_changed_mean"] = sum(x.get("codes_changed", 0.0) for x in ex) / len(ex)
    row["tok_s"] = sum(r["tok_s"] for r in steps) / len(steps)
    v = sum(x.get("v_step_s", 0.0) for x in ex)
    row["v_step_s"] = v
    row["val_kl_last"] = [x["val_kl"] for x in ex if "val_kl" in x][-1]
print(json.dumps(row))
PY
  tail -n 1 "$ROWS"
}

study() {  # $1 = label, $2 = student dir
  row "$1" "calibration only" "$2" 0 ""
  for m in $METHODS; do
    local recipe run t0 t1 sets=()
    case $m in
      p-only) recipe=p-only-2bit ;;
      ste) recipe=ste-2bit ;;
      pv) recipe=pv-2bit; sets=(--set 'finetune.method="pv"') ;;
      pv+ste) recipe=pv-2bit ;;
    esac
    run=$OUT_DIR/runs/$1-$m
    rm -rf "$run"
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    "$LOWBIT" finetune --recipe "$recipe" --student "$2" --teacher "$MODEL_DIR" --data-text "$FT" \
      --out "$OUT_DIR/runs" --run-name "$1-$m" --progress lines "${sets[@]}" \
      --set train.steps="$STEPS" --set train.batch_size="$BATCH" --set train.seq_len="$SEQ" \
      --set eval.every_steps="$STEPS" --set eval.batches=2 --set checkpoint.every_steps="$STEPS" \
      ${EXTRA_SETS:-} >&2
    t1=$(date +%s.%N)
    row "$1" "$m" "$run" "$(echo "$t1 - $t0" | bc)" "$run"
  done
}

INT2=$OUT_DIR/int2-g16-gptq
if [ ! -f "$INT2/config.json" ]; then
  "$LOWBIT" compress --checkpoint "$MODEL_DIR" --format int2:block=16,asym --method gptq \
    --calib-text "$CALIB" --out "$INT2" --progress quiet --json | tail -n 1 > "$OUT_DIR/int2.json"
fi
row "f32" "teacher" "$MODEL_DIR" 0 ""
study int2-g16-gptq "$INT2"
if [ -n "${AQLM_STUDENT:-}" ]; then study aqlm "$AQLM_STUDENT"; fi
python3 - "$ROWS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| student | method | held-out NLL | PPL | codes changed / step | tok/s | V-step share | wall s |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for r in rows:
    share = (r["v_step_s"] / r["wall_s"]) if r.get("steps") and r["wall_s"] > 0 else None
    print(f"| {r['student']} | {r['method']} | {r['nll']:.4f} | {r['ppl']:.2f} | "
          f"{r.get('codes_changed_mean', 0):.2e} | {r.get('tok_s', 0):.1f} | "
          f"{'' if share is None else f'{100*share:.1f}%'} | {r['wall_s']:.0f} |")
PY
