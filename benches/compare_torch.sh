#!/usr/bin/env bash
# The training step of benches/train_step.rs in lowbit (criterion) and in PyTorch
# (benches/compare_torch.py, CPU, 2 threads), tokens/s of each and the ratio lowbit / PyTorch.
# Not part of CI. Uses the pinned venv of tools/gen_hf_fixtures.py (.venv-hf: CPU torch).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-hf
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q \
    --index-url https://download.pytorch.org/whl/cpu torch==2.15.0 ||
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q torch==2.15.0
fi
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
cargo bench -q -p lowbit-train --bench train_step -- --noplot 2>/dev/null | tee "$OUT" >&2
"$VENV/bin/python" benches/compare_torch.py 2 | tee -a "$OUT" >&2
python3 - "$OUT" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
units = {"Kelem/s": 1e3, "Melem/s": 1e6, "elem/s": 1.0}
lowbit = {}
for m in re.finditer(r"train_step_4x256_b8_s256/(\S+)\s+time:.*?\n\s+thrpt:\s+\[\S+ \S+ (\S+) (\S+)", text, re.S):
    lowbit[m.group(1)] = float(m.group(2)) * units[m.group(3)]
torch = {m.group(1): float(m.group(2)) for m in re.finditer(r"torch_(\S+)_tok_s (\S+)", text)}
print(f"{'step (4x256, b8 s256)':<22} {'lowbit tok/s':>13} {'torch tok/s':>12} {'ratio':>7}")
for k in ("bf16-none", "nvfp4-w4a4", "po2-nf4-w4a4"):
    if k in lowbit and k in torch:
        print(f"{k:<22} {lowbit[k]:>13.0f} {torch[k]:>12.0f} {lowbit[k] / torch[k]:>6.2f}x")
PY
