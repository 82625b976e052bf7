#!/usr/bin/env python3
"""Golden fixtures for crates/lowbit-export from the real compressed-tensors package.

Input: `tests/fixtures/compressed_tensors/<case>.parts.json`, lowbit's coded parts of a small
random weight (written by `LOWBIT_WRITE_CT_PARTS=1 cargo test -p lowbit-export --test
ct_fixtures`; f32 values as bit patterns). For each case this script
  1. rebuilds the inputs compressed-tensors' compressors take: the weight (lowbit's decode), the
     block scales (E4M3 / power-of-two / INT scale values), the NVFP4 global scale in
     compressed-tensors' reciprocal convention (the f32 G with 1/G == lowbit's decode factor),
     the INT zero points on compressed-tensors' signed grid (z - 2^(B-1));
  2. runs the registered compressor's `compress` (NVFP4PackedCompressor, MXFP4PackedCompressor,
     PackedQuantizationCompressor: quantize + pack_fp4_to_uint8 / pack_to_int32) and writes the
     compressed state dict to `<case>.ct.safetensors`;
  3. runs its `decompress` and writes the weight (in compressed-tensors' output dtype) plus the
     f32 value before the final cast to `<case>.decompressed.safetensors`;
  4. writes `QuantizationConfig(...).model_dump()` of the scheme to `<case>.config.json`.
The Rust test compares its export, reader and dequantization with these bit for bit.

    python3 tools/ct_fixtures.py           # (re)write the fixtures
    python3 tools/ct_fixtures.py --check   # regenerate into a temp dir, compare byte for byte
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from venv_bootstrap import ensure_venv  # noqa: E402

VENV = Path(os.environ.get("LOWBIT_CT_VENV", ROOT / ".venv-ct"))
ensure_venv(Path(__file__), VENV, ROOT / "tools" / "requirements-ct.txt", "LOWBIT_CT_VENV_ACTIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from compressed_tensors.compressors import BaseCompressor  # noqa: E402
from compressed_tensors.quantization import (  # noqa: E402
    QuantizationArgs,
    QuantizationConfig,
    QuantizationScheme,
    preset_name_to_scheme,
)
from compressed_tensors.quantization.lifecycle.forward import dequantize  # noqa: E402
from compressed_tensors.compressors.nvfp4.helpers import (  # noqa: E402
    pack_fp4_to_uint8,
    unpack_fp4_from_uint8,
)
from safetensors.torch import save_file  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "compressed_tensors"
MODULE = "model.layers.0.mlp.down_proj"
DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}


def f32(bits) -> np.ndarray:
    return np.asarray(bits, dtype=np.uint32).view(np.float32)


def reciprocal_global(dec: np.float32) -> np.float32:
    """The f32 G nearest 1/dec with f32(1/G) == dec (compressed-tensors divides by G)."""
    g0 = np.float32(1) / dec
    for d in (0, -1, 1, -2, 2):
        g = (np.asarray([g0], np.float32).view(np.uint32) + np.uint32(d) if d >= 0 else
             np.asarray([g0], np.float32).view(np.uint32) - np.uint32(-d)).view(np.float32)[0]
        if np.float32(1) / g == dec:
            return g
    raise SystemExit(f"no f32 reciprocal for {dec!r}")


def scheme_of(p: dict) -> QuantizationScheme:
    fmt = p["ct_format"]
    if fmt == "nvfp4-pack-quantized":
        name = "NVFP4" if p["input_global_scale_bits"] is not None else "NVFP4A16"
        return preset_name_to_scheme(name, ["Linear"])
    if fmt == "mxfp4-pack-quantized":
        return preset_name_to_scheme("MXFP4A16", ["Linear"])
    args = QuantizationArgs(num_bits=p["code_bits"], type="int", symmetric=p["symmetric"],
                            group_size=p["block"], strategy="group", dynamic=False)
    return QuantizationScheme(targets=["Linear"], weights=args)


def build(p: dict) -> tuple[dict, QuantizationScheme]:
    rows, cols, block = p["rows"], p["cols"], p["block"]
    groups = cols // block
    weight = torch.from_numpy(f32(p["lowbit_decode_bits"]).reshape(rows, cols).copy())
    scales = torch.from_numpy(f32(p["scales_bits"]).reshape(rows, groups).copy())
    sd = {"weight": weight}
    fmt = p["ct_format"]
    if fmt == "nvfp4-pack-quantized":
        g = reciprocal_global(f32([p["global_dec_bits"]])[0])
        sd["weight_scale"] = scales
        sd["weight_global_scale"] = torch.tensor([g], dtype=torch.float32)
        if p["input_global_scale_bits"] is not None:
            sd["input_global_scale"] = torch.from_numpy(f32([p["input_global_scale_bits"]]).copy())
    elif fmt == "mxfp4-pack-quantized":
        sd["weight_scale"] = scales
    else:
        sd["weight_scale"] = scales.to(DTYPES[p["scale_dtype"]])
        if not p["symmetric"]:
            off = 1 << (p["code_bits"] - 1)
            z = np.asarray(p["zeros"], dtype=np.int64).reshape(rows, groups) - off
            sd["weight_zero_point"] = torch.from_numpy(z.astype(np.int8))
    return sd, scheme_of(p)


def pre_cast_f32(p: dict, compressed: dict, scheme: QuantizationScheme) -> torch.Tensor:
    """The NVFP4 decompression of compressors/nvfp4/base.py with an f32 output dtype."""
    packed = compressed[f"{MODULE}.weight_packed"]
    m, n = packed.shape
    unpacked = unpack_fp4_from_uint8(packed, m, n * 2)
    scale = compressed[f"{MODULE}.weight_scale"].to(unpacked.dtype)
    return dequantize(x_q=unpacked, scale=scale, args=scheme.weights,
                      global_scale=compressed[f"{MODULE}.weight_global_scale"],
                      dtype=torch.float32)


def run_case(parts_path: Path, out: Path) -> None:
    p = json.loads(parts_path.read_text())
    case = p["case"]
    sd, scheme = build(p)
    comp = BaseCompressor.get_value_from_registry(p["ct_format"])
    compressed = {f"{MODULE}.{k}": v.contiguous() for k, v in comp.compress(sd, scheme).items()
                  if v is not None}
    save_file(compressed, str(out / f"{case}.ct.safetensors"))
    local = {k[len(MODULE) + 1:]: v for k, v in compressed.items()}
    weight = comp.decompress(local, scheme)["weight"]
    dec = {"weight": weight.contiguous()}
    if p["ct_format"] == "nvfp4-pack-quantized":
        dec["weight_f32"] = pre_cast_f32(p, compressed, scheme).contiguous()
    if p["ct_format"] != "pack-quantized":
        # compress() re-quantizes the weight and maps an exact -0 to code 0 (its rounding takes
        # the sign from `x < 0`); lowbit's code for -0 is 8. Pack lowbit's own E2M1 levels with
        # pack_fp4_to_uint8 (sign from signbit) and decompress that too.
        levels = f32(p["levels_bits"])[np.asarray(p["codes"], dtype=np.int64)]
        lv = torch.from_numpy(levels.reshape(p["rows"], p["cols"]).copy())
        packed = pack_fp4_to_uint8(lv)
        own = dict(compressed, **{f"{MODULE}.weight_packed": packed})
        dec["lowbit_codes.weight_packed"] = packed.contiguous()
        dec["lowbit_codes.weight"] = comp.decompress(
            dict(local, weight_packed=packed), scheme)["weight"].contiguous()
        if p["ct_format"] == "nvfp4-pack-quantized":
            dec["lowbit_codes.weight_f32"] = pre_cast_f32(p, own, scheme).contiguous()
        weight = dec["lowbit_codes.weight"]
    save_file(dec, str(out / f"{case}.decompressed.safetensors"))
    cfg = QuantizationConfig(config_groups={"group_0": scheme}, format=p["ct_format"],
                             quantization_status="compressed", ignore=["lm_head"])
    (out / f"{case}.config.json").write_text(
        json.dumps(cfg.model_dump(), default=str, indent=1, sort_keys=True) + "\n")
    lowbit = weight.float().flatten().numpy().view(np.uint32)
    want = np.asarray(p["lowbit_decode_bits"], dtype=np.uint32)
    same = int((lowbit == want).sum())
    print(f"{case}: CT decompress of the export == lowbit decode (bits) on {same}/{want.size}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="regenerate into a temp dir and compare")
    args = ap.parse_args()
    parts = sorted(FIXTURES.glob("*.parts.json"))
    if not parts:
        print(f"no *.parts.json in {FIXTURES}", file=sys.stderr)
        return 1
    torch.manual_seed(0)
    if not args.check:
        for pp in parts:
            run_case(pp, FIXTURES)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        for pp in parts:
            run_case(pp, Path(tmp))
        bad = 0
        for f in sorted(Path(tmp).iterdir()):
            ok = (FIXTURES / f.name).exists() and filecmp.cmp(f, FIXTURES / f.name, shallow=False)
            print(f"{'PASS' if ok else 'FAIL'} {f.name}")
            bad += not ok
        print(f"{len(list(Path(tmp).iterdir())) - bad} passed, {bad} failed")
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
