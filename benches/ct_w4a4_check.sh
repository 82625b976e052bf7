#!/usr/bin/env bash
# W4A4 compressed-tensors export against lowbit: a model that quantizes weights *and* inputs with
# NVFP4 (`lowbit train --recipe tiny`, 20 steps, or CHECKPOINT if given) is exported with
# `--calib-text` set to the very window that is then scored, so every linear's calibrated
# static `input_global_scale` equals the per-call tensor scale lowbit computes on that window.
# transformers (compressed-tensors installed: NVFP4 weights decompressed, inputs fake-quantized
# with the stored global scale and dynamic per-16 scales) must then give lowbit's NLL on it.
# Not part of CI (torch + transformers + compressed-tensors, tools/requirements-ct.txt).
#   bash benches/ct_w4a4_check.sh [CHECKPOINT [TEXT_FILE [WORK_DIR]]]
set -euo pipefail
cd "$(dirname "$0")/.."
LOWBIT=${LOWBIT:-target/release/lowbit}
[ -x "$LOWBIT" ] || cargo build --release -q --bin lowbit
WORK=${3:-checkpoints/ct-w4a4-check}
TEXT=${2:-tests/fixtures/tiny-corpus/doc11.txt}
SEQ=${SEQ:-32}
mkdir -p "$WORK"
CK=${1:-}
if [ -z "$CK" ]; then
  "$LOWBIT" train --recipe tiny --out "$WORK" --run-name tiny-w4a4 --progress quiet > /dev/null
  CK=$WORK/tiny-w4a4
fi
PY=${LOWBIT_CT_VENV:-.venv-ct}/bin/python
[ -x "$PY" ] || python3 tools/ct_fixtures.py --help > /dev/null  # creates .venv-ct
"$LOWBIT" export --checkpoint "$CK" --format compressed-tensors --out "$WORK/ct" --force \
  --calib-text "$TEXT" --calib-samples 1 --calib-seq-len "$SEQ"
NLL=$("$LOWBIT" eval --checkpoint "$CK" --text-file "$TEXT" --seq-len "$SEQ" --max-tokens "$SEQ" --json \
  | tail -n 1)
echo "lowbit: $NLL"
"$PY" - "$WORK/ct/tokenizer.json" "$TEXT" "$SEQ" "$WORK/tokens.json" <<'PYEOF'
import json, sys
from tokenizers import Tokenizer
# as lowbit: no special tokens added, the first SEQ ids form the one window
ids = Tokenizer.from_file(sys.argv[1]).encode(open(sys.argv[2], encoding="utf-8").read(),
                                              add_special_tokens=False).ids[: int(sys.argv[3])]
json.dump([ids], open(sys.argv[4], "w"))
PYEOF
"$PY" tools/check_ct_export.py "$WORK/ct" - "$WORK/tokens.json" \
  --nll "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["nll"])' "$NLL")" "$@"
