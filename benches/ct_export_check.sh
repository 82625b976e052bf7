#!/usr/bin/env bash
# transformers loads a `lowbit export --format compressed-tensors` export and its logits match
# lowbit's weights: the same checkpoint exported dense (`--format hf`, lowbit's decoded weights)
# is run through transformers as the reference (tools/check_ct_export.py --dense-reference), then
# the compressed-tensors export is loaded (compressed-tensors installed, decompressed on CPU) and
# compared on the same token ids. Not part of CI (torch + transformers + compressed-tensors).
#   bash benches/ct_export_check.sh COMPRESSED_CHECKPOINT TEXT_FILE [WORK_DIR] [--dequantize]
set -euo pipefail
cd "$(dirname "$0")/.."
CK=$1; TEXT=$2; WORK=${3:-checkpoints/ct-check}; shift 2; [ $# -gt 0 ] && shift
LOWBIT=${LOWBIT:-target/release/lowbit}
[ -x "$LOWBIT" ] || cargo build --release -q --bin lowbit
PY=${LOWBIT_CT_VENV:-.venv-ct}/bin/python
[ -x "$PY" ] || python3 tools/ct_fixtures.py --help > /dev/null  # creates .venv-ct
mkdir -p "$WORK"
"$LOWBIT" export --checkpoint "$CK" --format compressed-tensors --out "$WORK/ct" --force
"$LOWBIT" export --checkpoint "$CK" --format hf --out "$WORK/hf" --force
"$PY" - "$WORK/hf/tokenizer.json" "$TEXT" "$WORK/tokens.json" <<'PYEOF'
import json, sys
from tokenizers import Tokenizer
ids = Tokenizer.from_file(sys.argv[1]).encode(open(sys.argv[2], encoding="utf-8").read()).ids[:128]
json.dump([ids[:64], ids[64:128]], open(sys.argv[3], "w"))
PYEOF
"$PY" tools/check_ct_export.py - "$WORK/ref.npy" "$WORK/tokens.json" --dense-reference "$WORK/hf"
"$PY" tools/check_ct_export.py "$WORK/ct" "$WORK/ref.npy" "$WORK/tokens.json" "$@"
