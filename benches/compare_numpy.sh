#!/usr/bin/env bash
# Fake-quant throughput of lowbit (Rust, all cores) vs the vectorised NumPy oracle on the same
# operation (16M N(0,1) values, rows of 4096), and the ratio. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-tools
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/python" -m pip install --disable-pip-version-check -q -r tools/requirements-golden.txt
FORMATS=(nvfp4 mxfp4 int4 int4-asym nf4 po2-nf4 split87)
RUST_NAMES=(nvfp4 mxfp4 int4 int4:asym nf4 po2-nf4 split87)
cargo build --release -q -p lowbit-formats --example throughput
rust=$(target/release/examples/throughput "${RUST_NAMES[@]}")
numpy=$("$VENV/bin/python" benches/compare_numpy.py "${FORMATS[@]}")
printf '%-10s %14s %14s %8s\n' format "lowbit M/s" "numpy M/s" ratio
for i in "${!FORMATS[@]}"; do
  r=$(echo "$rust" | awk -v n="${RUST_NAMES[$i]}:" '$1==n {print $2}')
  p=$(echo "$numpy" | awk -v n="${FORMATS[$i]}" '$1==n {print $2/1e6}')
  awk -v f="${FORMATS[$i]}" -v r="$r" -v p="$p" 'BEGIN {printf "%-10s %14.1f %14.1f %7.1fx\n", f, r, p, r/p}'
done
