#!/usr/bin/env python3
"""Loads a lowbit compressed-tensors export with transformers and compares its logits.

    python3 tools/check_ct_export.py EXPORT_DIR REFERENCE.npy TOKENS.json [--tol 1e-2]

EXPORT_DIR holds `config.json` (with `quantization_config`) and `model.safetensors` as
`crates/lowbit-export` writes them. The model is loaded on CPU with
`AutoModelForCausalLM.from_pretrained` (compressed-tensors installed, so transformers' quantizer
decompresses the weights), run on the token ids of TOKENS.json (a list of ints, or a list of
lists for a batch), and its logits are compared with REFERENCE.npy (float32,
[batch, seq, vocab]) that lowbit wrote. Prints the max absolute difference and exits 1 above the
tolerance.

Tolerance: 1e-2 by default, absolute, on logits. It covers compressed-tensors' NVFP4 and MXFP4
decompression to bf16 (`unpack_fp4_from_uint8`'s default dtype) and bf16 INT scales: weights then
differ from lowbit's f32 decode by up to 2^-9 relative (README of lowbit-export, "Exactness").
With f32 INT scales the weights are bit-exact and the difference is only matmul rounding.

W4A4 exports (NVFP4 inputs): lowbit has no logits dump, so `--nll NLL` compares instead the
mean next-token NLL of the export on TOKENS.json (one window) with lowbit eval's NLL on it
(pass REFERENCE.npy as '-'); `--nll-tol` (relative, 1e-2) covers the bf16 FP4 decompression.
benches/ct_w4a4_check.sh runs it.

Helpers (not part of the check; for trying it without lowbit's own forward):
    --make-tiny-llama DIR              random LlamaForCausalLM (hidden 64, 2 layers, vocab 128), f32
    --dense-reference DENSE_DIR        write REFERENCE.npy from a dense checkpoint (e.g. the
                                       `OUT_DENSE` of examples/ct_export_model.rs: lowbit's decoded
                                       weights) instead of checking
Not run in CI. Uses the venv of tools/ct_fixtures.py (.venv-ct/, tools/requirements-ct.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from venv_bootstrap import ensure_venv  # noqa: E402

VENV = Path(os.environ.get("LOWBIT_CT_VENV", ROOT / ".venv-ct"))
ensure_venv(Path(__file__), VENV, ROOT / "tools" / "requirements-ct.txt", "LOWBIT_CT_VENV_ACTIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402


def make_tiny_llama(out: Path) -> None:
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128,
                                   num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=2, max_position_embeddings=64,
                                   tie_word_embeddings=False, torch_dtype="float32")
    model = transformers.LlamaForCausalLM(cfg).to(torch.float32)
    model.save_pretrained(out, safe_serialization=True)
    print(f"wrote {out}")


def tokens_of(path: Path) -> torch.Tensor:
    ids = json.loads(path.read_text())
    if ids and isinstance(ids[0], int):
        ids = [ids]
    return torch.tensor(ids, dtype=torch.long)


def logits(model_dir: Path, ids: torch.Tensor, dequantize: bool = False,
           dtype: torch.dtype = torch.float32) -> np.ndarray:
    # No device_map: CPU is the default, and a device_map would need `accelerate`.
    kw = {}
    if dequantize:
        kw["quantization_config"] = transformers.CompressedTensorsConfig(dequantize=True)
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, **kw)
    model.eval()
    with torch.no_grad():
        out = model(input_ids=ids).logits.float().numpy()
    return out


def check_nll(a: argparse.Namespace, qc: dict) -> int:
    ids = tokens_of(a.tokens)
    out = torch.from_numpy(logits(a.export_dir, ids, a.dequantize, getattr(torch, a.dtype)))
    nll = torch.nn.functional.cross_entropy(out[:, :-1].reshape(-1, out.shape[-1]),
                                            ids[:, 1:].reshape(-1)).item()
    acts = qc.get("config_groups", {}).get("group_0", {}).get("input_activations")
    rel = abs(nll - a.nll) / abs(a.nll)
    print(f"format {qc.get('format')} (input_activations: {json.dumps(acts)}): transformers "
          f"{transformers.__version__} NLL {nll:.6f} vs lowbit {a.nll:.6f} on {ids.shape[1] - 1} "
          f"predictions: relative difference {rel:.2e} (tol {a.nll_tol:g})")
    if rel > a.nll_tol:
        print("FAIL")
        return 1
    print("PASS")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("export_dir", type=Path, nargs="?")
    ap.add_argument("reference", type=Path, nargs="?")
    ap.add_argument("tokens", type=Path, nargs="?")
    ap.add_argument("--tol", type=float, default=1e-2, help="max abs logit difference allowed")
    ap.add_argument("--dequantize", action="store_true",
                    help="load with CompressedTensorsConfig(dequantize=True): decompress every "
                         "weight at load time instead of building compressed modules")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                    help="dtype to load the model in (compressed-tensors' FP4 decompression "
                         "yields bf16 weights: without --dequantize FP4 exports need bfloat16)")
    ap.add_argument("--nll", type=float, metavar="NLL",
                    help="compare the mean next-token NLL with lowbit's instead of logits")
    ap.add_argument("--nll-tol", type=float, default=1e-2, help="relative NLL tolerance")
    ap.add_argument("--make-tiny-llama", type=Path, metavar="DIR")
    ap.add_argument("--dense-reference", type=Path, metavar="DENSE_DIR")
    a = ap.parse_args()
    if a.make_tiny_llama:
        make_tiny_llama(a.make_tiny_llama)
        return 0
    if a.dense_reference:
        if a.reference is None or a.tokens is None:
            ap.error("--dense-reference DENSE_DIR needs REFERENCE.npy and TOKENS.json "
                     "(pass EXPORT_DIR as '-')")
        ref = logits(a.dense_reference, tokens_of(a.tokens), dtype=getattr(torch, a.dtype))
        np.save(a.reference, ref.astype(np.float32))
        print(f"wrote {a.reference} {ref.shape}")
        return 0
    if a.export_dir is None or a.reference is None or a.tokens is None:
        ap.error("EXPORT_DIR REFERENCE.npy TOKENS.json are required")
    cfg = json.loads((a.export_dir / "config.json").read_text())
    qc = cfg.get("quantization_config", {})
    if a.nll is not None:
        return check_nll(a, qc)
    got = logits(a.export_dir, tokens_of(a.tokens), a.dequantize, getattr(torch, a.dtype))
    ref = np.load(a.reference)
    if got.shape != ref.shape:
        print(f"FAIL shape {got.shape} vs reference {ref.shape}")
        return 1
    diff = float(np.max(np.abs(got - ref)))
    scale = float(np.max(np.abs(ref)))
    mode = ("dequantize=True" if a.dequantize else "compressed modules") + f", {a.dtype}"
    print(f"format {qc.get('format')} ({mode}): loaded on CPU with transformers {transformers.__version__}; "
          f"max |logits - reference| = {diff:.3e} (max |reference| = {scale:.3e}, tol {a.tol:g})")
    if diff > a.tol:
        print("FAIL")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
