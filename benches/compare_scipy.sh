#!/usr/bin/env bash
# Full-grid Chinchilla fit on the same 250 synthetic points: lowbit-scaling (Rust, argmin L-BFGS,
# 1 thread and all cores) vs SciPy's L-BFGS-B with the same objective, gradient, grid and
# tolerances (benches/compare_scipy.py). Prints both times and the ratios. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-tools
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/python" -m pip install --disable-pip-version-check -q numpy==2.4.6 scipy==1.17.1
TARGET=${CARGO_TARGET_DIR:-target}
CSV=$(mktemp --suffix=.csv)
trap 'rm -f "$CSV"' EXIT
cargo build --release -q -p lowbit-scaling --example synthetic_fit
rust1=$(RAYON_NUM_THREADS=1 "$TARGET/release/examples/synthetic_fit" "$CSV" 3)
rustn=$("$TARGET/release/examples/synthetic_fit" "$CSV" 3)
scipy=$("$VENV/bin/python" benches/compare_scipy.py "$CSV" 1)
echo "$rust1" | grep -v _seconds
echo "$rustn" | grep -v _seconds
echo "$scipy" | grep -v _seconds
t1=$(echo "$rust1" | awk '$1=="lowbit_seconds" {print $2}')
tn=$(echo "$rustn" | awk '$1=="lowbit_seconds" {print $2}')
ts=$(echo "$scipy" | awk '$1=="scipy_seconds" {print $2}')
awk -v t1="$t1" -v tn="$tn" -v ts="$ts" 'BEGIN {
  printf "%-28s %10s %10s\n", "fit (250 points, 4500 starts)", "seconds", "vs scipy"
  printf "%-28s %10.3f %9.1fx\n", "scipy L-BFGS-B, 1 process", ts, 1
  printf "%-28s %10.3f %9.1fx\n", "lowbit, 1 thread", t1, ts / t1
  printf "%-28s %10.3f %9.1fx\n", "lowbit, all cores", tn, ts / tn
}'
