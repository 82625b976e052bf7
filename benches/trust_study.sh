#!/usr/bin/env bash
# QuEST trust vs STE (issue 12 §2): the same model, tokens and quantizer — `int4-quest`, i.e. W4A4
# `quest-int4` with HalfHadamard on W and A — trained with the trust estimator and with plain STE,
# over several seeds; prints final val loss per run and mean ± sample sd per estimator, and writes
# the table to docs/results/trust.md. QuEST (Panferov et al. 2025, §4) reports trust ≤ STE.
#
#   benches/trust_study.sh                         # 3 seeds, 4×128 Llama, 300 steps of 16×128
#   benches/trust_study.sh --seeds "1 2 3 4 5" --steps 400 --set model.preset=small
#   LOWBIT=target/debug/lowbit benches/trust_study.sh   # use an already built binary
#
# Runs finished earlier are kept (each resumes with --resume auto). Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."

SEEDS="1 2 3"
STEPS=300
OUT=checkpoints/trust-study
DOC=docs/results/trust.md
SETS=(--set model.preset=small --set model.d_model=128 --set train.seq_len=128)
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seeds) SEEDS="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --set) SETS+=(--set "$2"); shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --doc) DOC="$2"; shift 2 ;;
    *) echo "unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
if [[ -z "${LOWBIT:-}" ]]; then
  cargo build --release -q
  LOWBIT=./target/release/lowbit
fi
mkdir -p "$OUT" "$(dirname "$DOC")"
RES="$OUT/results.tsv"
: > "$RES"
for est in trust ste; do
  for seed in $SEEDS; do
    name="int4-quest-$est-s$seed"
    start=$(date +%s)
    "$LOWBIT" train --recipe int4-quest --out "$OUT" --run-name "$name" --resume auto \
      --progress lines --json "${SETS[@]}" --set "train.steps=$STEPS" --set "train.seed=$seed" \
      --set "compression.estimator=$est" --set "eval.every_steps=$STEPS" \
      --set "checkpoint.every_steps=$STEPS" > "$OUT/$name.json" 2> "$OUT/$name.log"
    # stdout holds the progress lines, then the JSON summary as its last line.
    val=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])['val_loss'])" "$OUT/$name.json")
    printf '%s\t%s\t%s\t%s\n' "$est" "$seed" "$val" "$(( $(date +%s) - start ))" | tee -a "$RES"
  done
done
python3 - "$RES" "$DOC" "$STEPS" "${SETS[*]}" <<'PY'
import statistics, sys
res, doc, steps, sets = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
rows = [l.split("\t") for l in open(res).read().split("\n") if l]
by = {}
for est, seed, val, wall in rows:
    by.setdefault(est, []).append((int(seed), float(val), int(wall)))
out = ["# QuEST trust vs STE on `int4-quest`", "",
       f"`benches/trust_study.sh` — recipe `int4-quest` ({sets}, {steps} steps), "
       "estimator `trust` (QuEST default trust α₄/15·rms) vs `ste`, same quantizer and Hadamard.", "",
       "| estimator | " + " | ".join(f"seed {s}" for s, _, _ in by["trust"]) + " | mean ± sd |",
       "|---|" + "---:|" * (len(by["trust"]) + 1)]
for est in ("trust", "ste"):
    v = [x for _, x, _ in by[est]]
    sd = statistics.stdev(v) if len(v) > 1 else float("nan")
    out.append(f"| {est} | " + " | ".join(f"{x:.4f}" for x in v) + f" | **{statistics.mean(v):.4f} ± {sd:.4f}** |")
d = [t - s for (_, t, _), (_, s, _) in zip(by["trust"], by["ste"])]
sdd = statistics.stdev(d) if len(d) > 1 else float("nan")
out += ["", f"Paired difference trust − STE (same seed): {statistics.mean(d):+.4f} ± {sdd:.4f} nats "
        f"(per seed: {', '.join(f'{x:+.4f}' for x in d)}).", ""]
open(doc, "w").write("\n".join(out))
print("\n".join(out))
PY
