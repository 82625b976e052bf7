#!/usr/bin/env python3
"""Plain-PyTorch reference GPTQ for lowbit, and the fixtures of tests/fixtures/gptq/.

Written from the GPTQ paper (Frantar, Ashkboos, Hoefler, Alistarh, "GPTQ: Accurate Post-Training
Quantization for Generative Pre-trained Transformers", ICLR 2023, Algorithm 1), from reading
IST-DASLab/gptq `gptq.py` (`GPTQ.add_batch`, `GPTQ.fasterquant`) and IST-DASLab/FP-Quant
`src/quantization/gptq.py` (MR-GPTQ, static scales), and from lowbit's format contract
`crates/lowbit-formats/FORMATS.md`.  No code was copied; the quantizers are FORMATS.md's, not
gptq's `quant.py`.  The Rust GPTQ is tested against the fixtures this script writes.
`--validate-official DIR` checks `hessian` and `gptq(group_source="gptq")` bit for bit against
the official `add_batch`/`fasterquant` (with an adapter carrying quant.py's INT arithmetic).

Usage (torch 2.x, numpy, safetensors — the .venv-hf of tests/fixtures/hf/README.md; written and
run with torch 2.15.0, numpy 2.4.6):

    .venv-hf/bin/python tools/gptq_reference.py           # (re)write tests/fixtures/gptq/
    .venv-hf/bin/python tools/gptq_reference.py --check   # regenerate into a temp dir, compare, exit 1 on a difference
    .venv-hf/bin/python tools/gptq_reference.py --out DIR
    .venv-hf/bin/python tools/gptq_reference.py --validate-official PATH/TO/IST-DASLab/gptq

API
---
    hessian(X, batch=64) -> H                                  # H = 2/n Σ x xᵀ, gptq add_batch order
    gptq(W, H, quantizer, blocksize=128, percdamp=0.01, groupsize=None, actorder=False,
         static_groups=False, group_source="gptq", dtype=torch.float32) -> GptqResult
    rtn(W, quantizer) -> GptqResult                            # round-to-nearest, same quantizer
    IntQuantizer(bits=4, group=32, symmetric=True) / Nvfp4Quantizer() / Mxfp4Quantizer()
        .prepare(W)              tensor-level statistics (NVFP4 global amax), once, original W
        .params(Wg)              per-row parameters of one group of columns, Wg = [rows, g]
        .quantize(w, p)          one column w = [rows] -> (codes [rows] int64, w_hat [rows] f32)
        .margins(w, p), .param_margin(p)   distance of every rounding decision to its boundary

Deliberate choices (every one of them is something the Rust implementation must do the same way)
-----------------------------------------------------------------------------------------------
1.  Precision.  Everything is float32 as in gptq (which casts W and the inputs with `.float()`):
    H, damping, the three factorisations, all updates, all quantizer arithmetic.  float64 is used
    only (a) to compute the relative output errors, (b) in the E4M3 nearest-value search (exact
    f64 distances, as FORMATS.md), and (c) in the robustness re-run `gptq(..., dtype=float64)`,
    where the linear algebra is f64 but every column/group is still cast to f32 before it reaches
    the quantizer (the formats are f32 by definition), and (d) for a second, differently rounded
    H (2/n·XᵀX accumulated in f64, rounded once) in the same check.  torch runs single-threaded
    (`torch.set_num_threads(1)`) so that `--check` is byte-identical.
2.  Hessian (`hessian`): samples are the ROWS of X [n, d_in] (one token = one sample), processed in
    batches of `batch` rows exactly like gptq's `add_batch`: H *= n_old/(n_old+b); n += b;
    x ← sqrt(2/n)·x; H += xᵀx.  The two scalar factors are computed in f64 and rounded to f32 once.
    gptq counts *sequences* (its `tmp = inp.shape[0]` after `unsqueeze(0)`), so its H is seqlen×
    larger; GPTQ's output is invariant to a positive scale of H in exact arithmetic (damping is
    relative, and err/d · Hinv[i, :] cancels the scale), so this is a rounding-level difference.
3.  Dead inputs (gptq, not FP-Quant): dead = (diag H == 0) on the H passed in; H[i,i] ← 1 and
    W[:, i] ← 0 for those i, before the static groups, the permutation and the damping.
    FP-Quant instead calls a column dead when the *weight* column is all zero and does not zero W.
    A dead column therefore quantizes to exact +0 (asserted in the fixtures).
4.  Damping: damp = percdamp · mean(diag H) (f32; percdamp rounded to f32; the mean is taken after
    the dead-column fix and after the act-order permutation, as gptq; summation order is
    irrelevant at the fixture tolerance); H[i,i] += damp; then L = chol(H) (lower),
    Hinv = (L Lᵀ)⁻¹ (`cholesky_inverse`), U = chol(Hinv, upper) — "Cholesky of H⁻¹ (upper)".
5.  Column loop (paper Alg. 1, gptq's lazy batches): for each block [i1, i2) of `blocksize`
    columns, for each column j: q = Q(w_j); err = (w_j − q)/U[j,j]; W1[:, j:i2] −= err ⊗ U[j, j:i2];
    at the block end W[:, i2:] −= Err1 · U[i1:i2, i2:].  blocksize need not divide d_in.
6.  Where the group parameters come from when a group starts (non-static groups) — AMBIGUOUS:
    `group_source="gptq"` (default) reproduces gptq's `find_params(W[:, j:j+g])`: the global W,
    which holds the updates of all *completed* lazy blocks but not those of the earlier columns of
    the current block (they live in W1 / Err1 until the block ends).  The result then depends on
    `blocksize` whenever some group start j (a multiple of g) is not a lazy-block start (a
    multiple of blocksize); forks that kept this loop (not checked here) inherit it.
    `group_source="current"` uses the fully updated weights at that moment (in-block columns from W1, later columns corrected by
    −Err1[:, :i]·U[i1:j, i2:]), which equals the unblocked algorithm for any blocksize (asserted).
    The two agree when every group start is a lazy-block start.  Both are fixtures.
7.  Static groups (`static_groups=True`, gptq's option, FP-Quant's only mode): every group's
    parameters are computed up front from W after the dead-column zeroing, in the ORIGINAL column
    order; with act-order column perm[k] uses the group perm[k] // g of its original index.
    Act-order: perm = argsort(diag H, descending, STABLE) — gptq's argsort is not stable; ties
    (e.g. several dead columns, all with H_ii = 1) go to the lower original index here.
    Act-order without static groups is supported as in gptq (groups of g consecutive *permuted*
    columns; `g_idx[c]` = group of original column c) but has no fixture.
8.  Tensor-level statistics (NVFP4 global amax → enc_g, dec_g) are computed once from the whole
    ORIGINAL weight passed in (before the dead-column zeroing, as gptq calls its per-channel
    `find_params(W)` before zeroing, and as FP-Quant's `global_scale` is taken from the original
    W), never re-computed during the updates.  The nvfp4-dead fixture puts the global amax in a
    dead column so this choice is visible (zeroing first would give a different tensor scale).
9.  Group size = the format's block: INT any g dividing d_in; NVFP4 16; MXFP4 32 (FORMATS.md).
    A group of g columns of the weight is one block of every row (blocks run along the reduction
    dimension = the input dimension = GPTQ's columns).
10. Quantizers follow FORMATS.md exactly, including in columns whose updated values exceed the
    group's range (they clamp/saturate):
    INT sym: s = amax/(2^(b−1)−1); q = clamp(RNE(x/s), −2^(b−1), 2^(b−1)−1); s == 0 ⇒ q = 0; x̂ = q·s.
      (gptq's quant.py sym instead uses s = 2·amax/(2^b−1) with zero (2^b)/2 — not used.)
    INT asym: lo = min(min x, 0), hi = max(max x, 0), both 0 ⇒ (−1, 1); s = (hi−lo)/(2^b−1);
      z = clamp(RNE(−lo/s), 0, 2^b−1); q = clamp(RNE(f32(x/s + z)), 0, 2^b−1); x̂ = (q−z)·s;
      s == 0 ⇒ z = 0, q = 0, x̂ = +0.  (gptq rounds x/s first and adds z after; the results differ
      only when x/s + z is not exact in f32 — FORMATS.md's order is used.)
    NVFP4: enc_g = 2688/g_amax (f32; g_amax == 0 or enc_g == 0 → 1; +Inf → f32::MAX), dec_g = 1/enc_g;
      s_f32 = amax_b·(enc_g·f32(1/6)); byte = E4M3_saturating(s_f32); enc_b = 1/(E4M3(byte)·dec_g)
      (+Inf → f32::MAX); code = E2M1(clamp(x·enc_b, −6, 6)); x̂ = (value(code)·E4M3(byte))·dec_g.
    MXFP4 (FLOOR): shared = clamp(exponent_field(amax) − 127 − 2, −127, 127); code =
      E2M1(x·2^−shared); x̂ = value(code)·2^shared.  (FP-Quant's MR-GPTQ divides this scale by 3/4;
      not used: lowbit's `mxfp4` is OCP FLOOR.)
    E2M1 cast: FORMATS.md's threshold rule (strict at 0.25, 1.25, 2.5, 5; ≥ at 0.75, 1.75, 3.5 —
      i.e. RNE with ties to the even code), sign bit = sign of the input (−0 → code 8).
    E4M3 cast: clamp to 448, nearest of the 127 finite magnitudes in exact f64 distances, ties to
      the even code (cross-checked against torch's float8_e4m3fn cast on every call).
    Codes stored: INT sym q as int8 (−8..7), INT asym q as uint8, E2M1 OCP codes 0..15 as uint8.
11. RTN = the same quantizer applied to the original W group by group (no dead-column zeroing).
    With H = I, GPTQ must reproduce RTN bit for bit (asserted for every format and both group
    sources): U is diagonal, so every update subtracts an exact ±0.
12. The quantizers reproduce the golden vectors of the independent NumPy oracle
    (tests/golden/{int4,int4-asym,nvfp4,mxfp4}.json, tools/gen_golden.py) bit for bit under RTN —
    codes and dequantized values, edge cases (zeros, ±0, subnormals, huge scales) included.
    Every stored case is decoded a second time from its stored codes, g_idx and group parameters
    only (`decode_stored`) and must give the stored W_hat bit for bit.
13. Fixture robustness.  A flipped rounding decision moves an output by a whole grid step, far
    beyond any float tolerance.  For every case the script records the smallest distance of any
    rounding decision to its boundary (`min_margin`: INT in steps of s, E2M1 in element units
    (|x·enc| vs the thresholds and 0), E4M3 and E8M0 scale decisions relative to the value), and
    requires min_margin ≥ MIN_MARGIN, identical codes and scale bytes in the f64 re-run and
    identical codes with the differently rounded H of choice 1(d); the first
    seed (seed, seed+1, …) that passes is used and written to cases.json (`seed_tries`).
"""

import argparse
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from fixture_check import check_regenerated  # tools/fixture_check.py

ROOT = Path(__file__).resolve().parent.parent
VENVS = [ROOT / ".venv-hf" / "bin" / "python"]

try:
    import torch
    from safetensors.torch import save_file
except ImportError:  # re-exec in a venv that has torch + safetensors
    for py in VENVS:
        if py.exists() and Path(sys.executable).resolve() != py.resolve():
            os.execv(str(py), [str(py), str(Path(__file__).resolve()), *sys.argv[1:]])
    sys.exit("needs torch and safetensors (e.g. .venv-hf/bin/python tools/gptq_reference.py)")

F32 = torch.float32
F64 = torch.float64
FIXTURES = ROOT / "tests" / "fixtures" / "gptq"
MIN_MARGIN = 1e-4
F32_MAX = torch.finfo(F32).max


def f32(v):
    """A Python number rounded once to an f32 scalar tensor."""
    return torch.tensor(v, dtype=F32)


# --------------------------------------------------------------------------------------------
# Element casts (FORMATS.md "Element types")
# --------------------------------------------------------------------------------------------

E2M1_VALUES = torch.tensor([0, .5, 1, 1.5, 2, 3, 4, 6, -0., -.5, -1, -1.5, -2, -3, -4, -6], dtype=F32)
E2M1_STRICT = (0.25, 1.25, 2.5, 5.0)   # code counts |v| > t
E2M1_GE = (0.75, 1.75, 3.5)            # code counts |v| >= t
E2M1_BOUNDS = torch.tensor([0.0, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0], dtype=F64)


def e2m1_code(v):
    """FORMATS.md E2M1 cast of f32 values already clamped to [-6, 6]: magnitude code by the
    threshold rule (RNE, ties to the even code), bit 3 = sign bit of the input (-0 -> 8)."""
    a = v.abs()
    mag = torch.zeros(v.shape, dtype=torch.int64)
    for t in E2M1_STRICT:
        mag += (a > t).long()
    for t in E2M1_GE:
        mag += (a >= t).long()
    return mag | (torch.signbit(v).long() << 3)


def e2m1_margin(v):
    """Distance of |v| (clamped element value) to the nearest E2M1 decision point, the sign
    decision at 0 included (it decides code 0 vs 8) except for exact zeros."""
    a = v.abs().to(F64).unsqueeze(-1)
    m = (a - E2M1_BOUNDS).abs().min(dim=-1).values
    # an exact zero is structural (a dead column is set to +0 and stays +0): no decision
    return torch.where(v == 0, torch.full_like(m, math.inf), m)


def _e4m3_magnitudes():
    vals = []
    for c in range(127):
        e, m = c >> 3, c & 7
        vals.append(2.0 ** -6 * m / 8 if e == 0 else 2.0 ** (e - 7) * (1 + m / 8))
    return torch.tensor(vals, dtype=F64)


E4M3_MAG = _e4m3_magnitudes()                 # codes 0..126, ascending, exact in f64
E4M3_MID = (E4M3_MAG[:-1] + E4M3_MAG[1:]) / 2  # exact in f64


def e4m3_byte(s):
    """Saturating E4M3 cast of non-negative f32 values: clamp to 448, nearest finite magnitude
    (exact f64 distances), ties to the even code.  Cross-checked against torch's cast."""
    assert not torch.signbit(s).any(), "E4M3 block scales are non-negative"
    sc = torch.clamp(s, max=448.0)
    x = sc.to(F64)
    lo = (torch.searchsorted(E4M3_MAG, x, right=True) - 1).clamp(0, 126)
    hi = (lo + 1).clamp(max=126)
    dlo = x - E4M3_MAG[lo]
    dhi = E4M3_MAG[hi] - x
    pick_hi = (hi != lo) & ((dhi < dlo) | ((dhi == dlo) & (hi % 2 == 0)))
    code = torch.where(pick_hi, hi, lo)
    ref = sc.to(torch.float8_e4m3fn).view(torch.uint8).long()
    assert torch.equal(code, ref), "E4M3 table cast disagrees with torch float8_e4m3fn"
    return code


def e4m3_value(code):
    return E4M3_MAG[code].to(F32)


def e4m3_margin(s):
    """Relative distance of an f32 scale to the nearest E4M3 rounding midpoint (the 448 clamp is
    not a decision: everything above 432 rounds to 448)."""
    x = torch.clamp(s, max=448.0).to(F64).unsqueeze(-1)
    d = (x - E4M3_MID).abs().min(dim=-1).values
    return d / x.squeeze(-1).clamp(min=2.0 ** -10)


def f32_exponent_field(x):
    return (x.contiguous().view(torch.int32) >> 23) & 0xFF


def pow2_f32(k):
    """2^k as f32 for integer k in [-149, 127], exact (computed in f64 and narrowed)."""
    return torch.ldexp(torch.ones(k.shape, dtype=F64), k).to(F32)


# --------------------------------------------------------------------------------------------
# Quantizers: tensor statistics once, parameters per group of columns, one column at a time
# --------------------------------------------------------------------------------------------

class IntQuantizer:
    """FORMATS.md "Integer formats": INT-b, f32 scale per block of `group` values of a row,
    symmetric absmax or asymmetric min-max (GPTQ convention) with a zero point."""

    def __init__(self, bits=4, group=32, symmetric=True):
        self.bits, self.group, self.symmetric = bits, group, symmetric
        if symmetric:
            self.qmin, self.qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        else:
            self.qmin, self.qmax = 0, 2 ** bits - 1
        self.name = f"int{bits}" + ("" if symmetric else ":asym") + f":block={group}"

    def prepare(self, W):
        pass

    def params(self, Wg):
        """Per-row parameters from a [rows, g] group (f32)."""
        if self.symmetric:
            amax = Wg.abs().amax(dim=1)
            s = amax / f32(self.qmax)
            return {"scale": s}
        lo = torch.clamp(Wg.amin(dim=1), max=0.0)
        hi = torch.clamp(Wg.amax(dim=1), min=0.0)
        both0 = (lo == 0) & (hi == 0)
        lo = torch.where(both0, f32(-1.0), lo)
        hi = torch.where(both0, f32(1.0), hi)
        s = (hi - lo) / f32(self.qmax)
        z = torch.clamp(torch.round(-lo / s), 0, self.qmax)
        z = torch.where(s == 0, f32(0.0), z)
        return {"scale": s, "zero": z, "_lo": lo}

    def _v(self, w, p):
        s = p["scale"]
        if self.symmetric:
            return w / s
        return w / s + p["zero"]          # the sum rounded in f32, then RNE (FORMATS.md order)

    def quantize(self, w, p):
        s = p["scale"]
        q = torch.clamp(torch.round(self._v(w, p)), self.qmin, self.qmax)
        if self.symmetric:
            q = torch.where(s == 0, f32(0.0), q)
            w_hat = q * s
        else:
            q = torch.where(s == 0, f32(0.0), q)
            w_hat = torch.where(s == 0, f32(0.0), (q - p["zero"]) * s)
        # q is an integer: a negative x that rounds to 0 decodes to +0 (FORMATS.md); torch.round
        # gives q = -0.0 there and -0.0 * s = -0.0, so add +0 (x + 0 = x for every other x).
        w_hat = w_hat + f32(0.0)
        return q.long(), w_hat

    def margins(self, w, p):
        s = p["scale"]
        v = self._v(w, p).to(F64)
        h = torch.round(v - 0.5) + 0.5
        h = h.clamp(self.qmin + 0.5, self.qmax - 0.5)
        m = (v - h).abs()
        return torch.where(s == 0, torch.full_like(m, math.inf), m)

    def param_margin(self, p):
        if self.symmetric:
            return math.inf
        s = p["scale"]
        v = (-p["_lo"] / s).to(F64)
        h = (torch.round(v - 0.5) + 0.5).clamp(0.5, self.qmax - 0.5)
        m = torch.where(s == 0, torch.full_like(v, math.inf), (v - h).abs())
        return m.min().item()

    def stored_params(self, plist):
        out = {"scale": torch.stack([p["scale"] for p in plist], dim=1)}
        if not self.symmetric:
            out["zero"] = torch.stack([p["zero"] for p in plist], dim=1).to(torch.uint8)
        return out

    def code_tensor(self, q):
        return q.to(torch.int8 if self.symmetric else torch.uint8)


class Nvfp4Quantizer:
    """FORMATS.md "NVFP4 two-level": E2M1 elements, E4M3 scale per 16 values of a row, one f32
    tensor scale dec_g from the global amax of the original weight (TE operation order)."""

    def __init__(self):
        self.group = 16
        self.name = "nvfp4"
        self.enc_g = self.dec_g = None

    def prepare(self, W):
        g = W.abs().amax()
        enc = f32(2688.0) / g
        if g == 0 or enc == 0:
            enc = f32(1.0)
        if torch.isinf(enc):
            enc = f32(F32_MAX)
        self.enc_g = enc
        self.dec_g = f32(1.0) / enc

    def params(self, Wg):
        amax = Wg.abs().amax(dim=1)
        s_f32 = amax * (self.enc_g * (f32(1.0) / f32(6.0)))
        byte = e4m3_byte(s_f32)
        enc_b = f32(1.0) / (e4m3_value(byte) * self.dec_g)
        enc_b = torch.where(torch.isinf(enc_b), f32(F32_MAX), enc_b)
        return {"byte": byte, "enc_b": enc_b, "_s_f32": s_f32}

    def _v(self, w, p):
        return torch.clamp(w * p["enc_b"], -6.0, 6.0)

    def quantize(self, w, p):
        code = e2m1_code(self._v(w, p))
        w_hat = (E2M1_VALUES[code] * e4m3_value(p["byte"])) * self.dec_g
        return code, w_hat

    def margins(self, w, p):
        return e2m1_margin(self._v(w, p))

    def param_margin(self, p):
        return e4m3_margin(p["_s_f32"]).min().item()

    def stored_params(self, plist):
        return {"scale_e4m3": torch.stack([p["byte"] for p in plist], dim=1).to(torch.uint8),
                "tensor_scale": self.dec_g.reshape(1)}

    def code_tensor(self, q):
        return q.to(torch.uint8)


class Mxfp4Quantizer:
    """FORMATS.md "MX (E8M0), block 32", FLOOR (lowbit's `mxfp4`)."""

    def __init__(self):
        self.group = 32
        self.name = "mxfp4"

    def prepare(self, W):
        pass

    def params(self, Wg):
        amax = Wg.abs().amax(dim=1)
        shared = torch.clamp(f32_exponent_field(amax).long() - 127 - 2, -127, 127)
        return {"shared": shared, "inv": pow2_f32(-shared), "X": pow2_f32(shared), "_amax": amax}

    def _v(self, w, p):
        return torch.clamp(w * p["inv"], -6.0, 6.0)   # E2M1 cast saturates at ±6

    def quantize(self, w, p):
        code = e2m1_code(self._v(w, p))
        return code, E2M1_VALUES[code] * p["X"]

    def margins(self, w, p):
        return e2m1_margin(self._v(w, p))

    def param_margin(self, p):
        a = p["_amax"].to(F64)
        e = torch.floor(torch.log2(a.clamp(min=2.0 ** -126)))
        lo = torch.ldexp(torch.ones_like(a), e.long())
        m = torch.minimum(a / lo - 1, 1 - a / (2 * lo))
        return torch.where(a < 2.0 ** -126, torch.full_like(m, math.inf), m).min().item()

    def stored_params(self, plist):
        return {"scale_e8m0": (torch.stack([p["shared"] for p in plist], dim=1) + 127).to(torch.uint8)}

    def code_tensor(self, q):
        return q.to(torch.uint8)


# --------------------------------------------------------------------------------------------
# Hessian and GPTQ
# --------------------------------------------------------------------------------------------

def hessian(X, batch=64):
    """H = 2/n Σ_k x_k x_kᵀ over the rows x_k of X [n, d_in], accumulated batch by batch in f32
    the way gptq's `GPTQ.add_batch` does (running rescale, then sqrt(2/n)-scaled inputs)."""
    X = X.to(F32)
    d = X.shape[1]
    H = torch.zeros(d, d, dtype=F32)
    n = 0
    for b0 in range(0, X.shape[0], batch):
        x = X[b0:b0 + batch]
        b = x.shape[0]
        H = H * f32(n / (n + b))
        n += b
        x = f32(math.sqrt(2.0 / n)) * x
        H = H + x.t() @ x
    return H


@dataclass
class GptqResult:
    W_hat: torch.Tensor                 # [rows, cols] f32, original column order
    codes: torch.Tensor                 # [rows, cols] int64, original column order
    params: list                        # per group (index = g_idx value): dict of per-row tensors
    g_idx: torch.Tensor                 # [cols] group of each original column
    perm: torch.Tensor                  # [cols] processing order (identity without act-order)
    dead: torch.Tensor                  # [cols] bool
    min_margin: float = math.inf        # smallest distance of a rounding decision to its boundary
    extra: dict = field(default_factory=dict)


def _cholesky_inverse_upper(H):
    """gptq: chol(H) -> (LLᵀ)⁻¹ -> chol(·, upper)."""
    L = torch.linalg.cholesky(H)
    return torch.linalg.cholesky(torch.cholesky_inverse(L), upper=True)


def gptq(W, H, quantizer, blocksize=128, percdamp=0.01, groupsize=None, actorder=False,
         static_groups=False, group_source="gptq", dtype=F32, track_margins=True):
    """GPTQ (paper Alg. 1 with lazy batch updates; gptq.py `fasterquant`).

    W [rows, cols] f32, H [cols, cols] (from `hessian`).  groupsize defaults to the quantizer's
    block and must equal it.  `dtype` is the working precision of the linear algebra (f32 = the
    reference; f64 = the robustness re-run); the quantizer always sees f32.  Returns GptqResult.
    `track_margins=False` skips the rounding-margin bookkeeping (fixture robustness only; it
    changes no output but min_margin, which stays inf) -- benches/compare_gptq.py times GPTQ
    itself, not the fixture checks.
    """
    assert group_source in ("gptq", "current")
    g = groupsize or quantizer.group
    assert g == quantizer.group, "GPTQ groups are the format's blocks"
    rows, cols = W.shape
    assert cols % g == 0
    W0 = W.to(F32)
    quantizer.prepare(W0)                       # choice 8: original weight, before dead zeroing
    W = W0.to(dtype).clone()
    H = H.to(dtype).clone()

    dead = torch.diag(H) == 0                   # choice 3
    idx = torch.nonzero(dead).flatten()
    H[idx, idx] = 1
    W[:, dead] = 0

    ngroups = cols // g
    params = [None] * ngroups
    if static_groups:                           # choice 7: original order, after dead zeroing
        for k in range(ngroups):
            params[k] = quantizer.params(W[:, k * g:(k + 1) * g].to(F32))

    if actorder:
        perm = torch.argsort(torch.diag(H), descending=True, stable=True)
    else:
        perm = torch.arange(cols)
    invperm = torch.argsort(perm)
    W = W[:, perm]
    H = H[perm][:, perm]

    damp = torch.tensor(percdamp, dtype=dtype) * torch.mean(torch.diag(H))
    ar = torch.arange(cols)
    H[ar, ar] += damp
    U = _cholesky_inverse_upper(H)

    Q = torch.zeros(rows, cols, dtype=dtype)
    codes = torch.zeros(rows, cols, dtype=torch.int64)
    g_idx_perm = torch.zeros(cols, dtype=torch.int64)
    min_margin = math.inf
    p = None
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        W1 = W[:, i1:i2].clone()
        Err1 = torch.zeros_like(W1)
        U1 = U[i1:i2, i1:i2]
        for i in range(i2 - i1):
            j = i1 + i
            if static_groups:
                k = int(perm[j]) // g
                p = params[k]
            else:
                k = j // g
                if j % g == 0:
                    if group_source == "gptq":
                        grp = W[:, j:j + g]
                    else:
                        grp = W[:, j:j + g].clone()
                        n_in = min(j + g, i2) - j
                        grp[:, :n_in] = W1[:, i:i + n_in]
                        if j + g > i2:
                            grp[:, n_in:] -= Err1[:, :i] @ U[i1:j, i2:j + g]
                    p = quantizer.params(grp.to(F32))
                    params[k] = p
                    if track_margins:
                        min_margin = min(min_margin, quantizer.param_margin(p))
            g_idx_perm[j] = k
            w = W1[:, i]
            q_code, q = quantizer.quantize(w.to(F32), p)
            if track_margins:
                min_margin = min(min_margin, quantizer.margins(w.to(F32), p).min().item())
            q = q.to(dtype)
            Q[:, j] = q
            codes[:, j] = q_code
            d = U1[i, i]
            err = (w - q) / d
            W1[:, i:] -= torch.outer(err, U1[i, i:])
            Err1[:, i] = err
        W[:, i2:] -= Err1 @ U[i1:i2, i2:]
    if static_groups and track_margins:
        min_margin = min([min_margin] + [quantizer.param_margin(pp) for pp in params])

    return GptqResult(W_hat=Q[:, invperm].to(F32), codes=codes[:, invperm], params=params,
                      g_idx=g_idx_perm[invperm], perm=perm, dead=dead, min_margin=min_margin)


def rtn(W, quantizer):
    """Round-to-nearest with the same quantizer: parameters from each group of the original W."""
    W = W.to(F32)
    quantizer.prepare(W)
    rows, cols = W.shape
    g = quantizer.group
    W_hat = torch.zeros_like(W)
    codes = torch.zeros(rows, cols, dtype=torch.int64)
    params = []
    for k in range(cols // g):
        p = quantizer.params(W[:, k * g:(k + 1) * g])
        params.append(p)
        for j in range(k * g, (k + 1) * g):
            codes[:, j], W_hat[:, j] = quantizer.quantize(W[:, j], p)
    return GptqResult(W_hat=W_hat, codes=codes, params=params,
                      g_idx=torch.arange(cols) // g, perm=torch.arange(cols),
                      dead=torch.zeros(cols, dtype=torch.bool))


def rel_output_error(W, W_hat, X=None, H=None):
    """‖(W−Ŵ)Xᵀ‖²/‖WXᵀ‖² in f64 (with H instead of X: tr(ΔHΔᵀ)/tr(WHWᵀ))."""
    W = W.to(F64)
    D = W - W_hat.to(F64)
    if X is not None:
        X = X.to(F64)
        return ((D @ X.t()) ** 2).sum().item() / ((W @ X.t()) ** 2).sum().item()
    H = H.to(F64)
    return (D @ H * D).sum().item() / (W @ H * W).sum().item()


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------

def make_quantizer(fmt, group):
    if fmt == "int4":
        return IntQuantizer(4, group, True)
    if fmt == "int4-asym":
        return IntQuantizer(4, group, False)
    if fmt == "nvfp4":
        return Nvfp4Quantizer()
    if fmt == "mxfp4":
        return Mxfp4Quantizer()
    raise ValueError(fmt)


CASES = [
    # 4 groups, lazy blocks of 64: groups 0 and 32 from the original W, 64 at a block start
    # (updated), 96 mid-block (gptq: stale by the updates of columns 64..95)
    dict(name="int4-sym-g32", fmt="int4", group=32, rows=16, cols=128, blocksize=64),
    # every group start is a lazy-block start: "gptq" == "current" (asserted)
    dict(name="int4-asym-g32", fmt="int4-asym", group=32, rows=16, cols=64, blocksize=16),
    # one lazy block: "gptq" would equal static groups here, "current" does not
    dict(name="int4-sym-g32-current", fmt="int4", group=32, rows=16, cols=64, blocksize=64,
         group_source="current"),
    dict(name="int4-sym-g32-actorder-static", fmt="int4", group=32, rows=16, cols=64,
         blocksize=32, actorder=True, static_groups=True),
    # groups of 16 in lazy blocks of 32: every other group starts mid-block
    dict(name="nvfp4", fmt="nvfp4", group=16, rows=16, cols=64, blocksize=32),
    # E8M0 scales are coarse: require a seed where an updated group's scale differs from static
    dict(name="mxfp4", fmt="mxfp4", group=32, rows=16, cols=64, blocksize=16,
         require_differs_from_static=True),
    dict(name="nvfp4-dead", fmt="nvfp4", group=16, rows=16, cols=64, blocksize=32,
         dead=[5, 40], store_x=True),
    dict(name="identity-int4-asym-g32", fmt="int4-asym", group=32, rows=16, cols=64,
         blocksize=32, identity=True),
]
N_SAMPLES = 256
HESSIAN_BATCH = 64
SEED_BASE = 20260512


def case_seed(name):
    return SEED_BASE + sum((i + 1) * ord(c) for i, c in enumerate(name))


def make_data(case, seed):
    """W ~ N(0,1) [rows, cols]; X = (Z·A)·diag(c), Z ~ N(0,1) [n, cols], A = I + 0.5·G/√cols
    (correlated inputs, moderate conditioning), c log-uniform in [1/4, 4] (unequal diag H, so
    act-order matters); dead input columns set to 0 in X."""
    gen = torch.Generator().manual_seed(seed)
    rows, cols = case["rows"], case["cols"]
    W = torch.randn(rows, cols, generator=gen, dtype=F32)
    Z = torch.randn(N_SAMPLES, cols, generator=gen, dtype=F32)
    A = torch.eye(cols) + 0.5 * torch.randn(cols, cols, generator=gen, dtype=F32) / math.sqrt(cols)
    c = torch.exp((torch.rand(cols, generator=gen, dtype=F32) * 2 - 1) * math.log(4.0))
    X = (Z @ A) * c
    for dcol in case.get("dead", []):
        X[:, dcol] = 0
    if case.get("dead"):
        # put the global amax of W in a dead column (choice 8 becomes visible)
        r = int(W.abs().amax(dim=1).argmax())
        W[r, case["dead"][0]] = 1.5 * W.abs().amax()
    return W, X


def run_case(case):
    qz = lambda: make_quantizer(case["fmt"], case["group"])
    kw = dict(blocksize=case["blocksize"], percdamp=0.01, groupsize=case["group"],
              actorder=case.get("actorder", False), static_groups=case.get("static_groups", False),
              group_source=case.get("group_source", "gptq"))
    base = case_seed(case["name"])
    for tries in range(50):
        seed = base + tries
        W, X = make_data(case, seed)
        if case.get("identity"):
            H, X = torch.eye(case["cols"], dtype=F32), None
        else:
            H = hessian(X, HESSIAN_BATCH)
        res = gptq(W, H, qz(), **kw)
        res64 = gptq(W, H, qz(), dtype=F64, **kw)
        same = torch.equal(res.codes, res64.codes)
        if X is not None:
            # H rounded differently (exact f64 accumulation, one rounding): same decisions?
            H_alt = (2.0 / X.shape[0] * X.to(F64).t() @ X.to(F64)).to(F32)
            same = same and torch.equal(gptq(W, H_alt, qz(), **kw).codes, res.codes)
        q32, q64 = qz(), qz()
        q32.prepare(W), q64.prepare(W)
        sp32 = q32.stored_params(res.params)
        sp64 = q64.stored_params(res64.params)
        for key in sp32:
            if sp32[key].dtype == torch.uint8 and not torch.equal(sp32[key], sp64[key]):
                same = False
        if same and case.get("require_differs_from_static"):
            same = not torch.equal(gptq(W, H, qz(), **{**kw, "static_groups": True}).codes, res.codes)
        if res.min_margin >= MIN_MARGIN and same:
            break
    else:
        raise SystemExit(f"{case['name']}: no robust seed in 50 tries")
    r = rtn(W, qz())
    if case.get("identity"):
        assert torch.equal(res.W_hat.view(torch.int32), r.W_hat.view(torch.int32)), "H=I must equal RTN"
        assert torch.equal(res.codes, r.codes)
    if case.get("dead"):
        dead = torch.tensor(case["dead"])
        assert torch.equal(res.dead.nonzero().flatten(), dead)
        assert (res.W_hat[:, dead].view(torch.int32) == 0).all(), "dead columns must be +0"
    err_g = rel_output_error(W, res.W_hat, X=X, H=H)
    err_r = rel_output_error(W, r.W_hat, X=X, H=H)
    if not case.get("identity"):
        assert err_g < err_r, f"{case['name']}: GPTQ ({err_g}) must beat RTN ({err_r})"
    if case.get("actorder"):
        d = torch.diag(H)
        assert torch.unique(d).numel() == d.numel(), "act-order case must have no ties in diag H"
    # which alternative readings of the algorithm this case tells apart (codes differ)
    variants = {}
    for label, alt in (("current", dict(group_source="current")), ("gptq", dict(group_source="gptq")),
                       ("static", dict(static_groups=True)), ("not_static", dict(static_groups=False)),
                       ("blocksize_cols", dict(blocksize=case["cols"])),
                       ("no_actorder", dict(actorder=False))):
        kw2 = {**kw, **alt}
        if kw2 != kw:
            variants[label] = not torch.equal(gptq(W, H, qz(), **kw2).codes, res.codes)
    if case["name"] == "int4-asym-g32" or case["name"] == "mxfp4":
        assert not variants["current"], "group starts at block starts: gptq == current"
    hess_dev = None
    if X is not None:
        H64 = 2.0 / X.shape[0] * X.to(F64).t() @ X.to(F64)
        hess_dev = ((H.to(F64) - H64).abs().max() / H64.abs().max()).item()
    q = qz()
    q.prepare(W)
    tensors = {"W": W, "H": H, "W_hat": res.W_hat, "codes": q.code_tensor(res.codes),
               "W_rtn": r.W_hat, "g_idx": res.g_idx.to(torch.int32)}
    if case.get("actorder"):
        tensors["perm"] = res.perm.to(torch.int32)
    for k, v in q.stored_params(res.params).items():
        tensors[k] = v
    if case.get("store_x"):
        tensors["X"] = X
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    assert torch.equal(decode_stored(case, tensors).view(torch.int32), res.W_hat.view(torch.int32)), \
        f"{case['name']}: stored codes/params do not decode to W_hat"
    meta = dict(
        format=q.name, rows=case["rows"], cols=case["cols"], groupsize=case["group"],
        blocksize=case["blocksize"], percdamp=0.01, actorder=case.get("actorder", False),
        static_groups=case.get("static_groups", False),
        group_source=case.get("group_source", "gptq"),
        hessian="identity" if case.get("identity") else
        f"hessian(X, batch={HESSIAN_BATCH}) with X [{N_SAMPLES}, {case['cols']}]",
        x_stored=bool(case.get("store_x")), dead_columns=case.get("dead", []),
        seed=seed, seed_tries=tries + 1,
        rel_err_gptq=err_g, rel_err_rtn=err_r,
        min_margin=res.min_margin,
        max_abs_diff_f64_rerun=(res.W_hat - res64.W_hat).abs().max().item(),
        max_abs_w=W.abs().max().item(),
        codes_differ_from=variants,
        hessian_max_dev_rel_to_max=hess_dev,
    )
    return tensors, meta


def decode_stored(case, t):
    """Second decoder: W_hat from the stored codes, g_idx and per-group parameters only
    (FORMATS.md decode rules); must reproduce the stored W_hat bit for bit."""
    codes, gi = t["codes"].long(), t["g_idx"].long()
    if case["fmt"] == "int4":
        return (codes.to(F32) * t["scale"][:, gi]) + f32(0.0)
    if case["fmt"] == "int4-asym":
        s, z = t["scale"][:, gi], t["zero"][:, gi].to(F32)
        return torch.where(s == 0, f32(0.0), (codes.to(F32) - z) * s)
    if case["fmt"] == "nvfp4":
        return (E2M1_VALUES[codes] * e4m3_value(t["scale_e4m3"][:, gi].long())) * t["tensor_scale"][0]
    if case["fmt"] == "mxfp4":
        return E2M1_VALUES[codes] * pow2_f32(t["scale_e8m0"][:, gi].long() - 127)
    raise ValueError(case["fmt"])


def self_tests():
    """Assertions that do not depend on the fixtures' data."""
    # E2M1 ties and signs (FORMATS.md)
    v = torch.tensor([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -0.1, -0.0, 6.0], dtype=F32)
    assert e2m1_code(v).tolist() == [0, 2, 2, 4, 4, 6, 6, 8, 8, 7]
    # E4M3 bytes of the spec §1.2 and a tie (464 -> 448 by clamping; 0x70 | tie cases)
    b = e4m3_byte(torch.tensor([448., 256., 176., 160., 104., 480., 2.0 ** -9, 2.0 ** -10], dtype=F32))
    assert b.tolist() == [0x7E, 0x78, 0x73, 0x72, 0x6D, 0x7E, 0x01, 0x00]
    sweep = torch.exp(torch.linspace(-12, 6.2, 20001, dtype=F64)).to(F32)
    e4m3_byte(sweep)  # asserts agreement with torch's cast inside
    # NVFP4 worked example A of the spec §3
    x = torch.tensor([[0.1, -0.7, 2.5, 0.03, -1.2, 0.45, 3.3, -0.05, 0.8, -2.2, 0, 1.6, -0.33, 0.27, -4.1, 0.9]],
                     dtype=F32)
    nq = Nvfp4Quantizer()
    nq.prepare(x)
    p = nq.params(x)
    assert p["byte"].item() == 0x7E
    codes = torch.stack([nq.quantize(x[:, j], p)[0] for j in range(16)], 1).flatten().tolist()
    assert codes == [0, 0xA, 6, 0, 0xC, 1, 6, 8, 2, 0xD, 0, 4, 9, 1, 0xF, 3], codes
    # INT4 worked example of §4.1 (sym q and asym z = 8)
    iq = IntQuantizer(4, 16, True)
    p = iq.params(x)
    q = torch.stack([iq.quantize(x[:, j], p)[0] for j in range(16)], 1).flatten().tolist()
    assert q == [0, -1, 4, 0, -2, 1, 6, 0, 1, -4, 0, 3, -1, 0, -7, 2], q
    aq = IntQuantizer(4, 16, False)
    p = aq.params(x)
    assert p["zero"].item() == 8
    q = torch.stack([aq.quantize(x[:, j], p)[0] for j in range(16)], 1).flatten().tolist()
    assert q == [8, 7, 13, 8, 6, 9, 15, 8, 10, 4, 8, 11, 7, 9, 0, 10], q
    # MXFP4 FLOOR example of §2 (amax 7.5 -> shared 0)
    mq = Mxfp4Quantizer()
    p = mq.params(torch.tensor([[7.5] + [0.0] * 31], dtype=F32))
    assert p["shared"].item() == 0
    # H = I: GPTQ == RTN bit for bit, every format, both group sources, with act-order too
    gen = torch.Generator().manual_seed(7)
    W = torch.randn(8, 64, generator=gen, dtype=F32)
    for fmt, grp in (("int4", 32), ("int4-asym", 32), ("nvfp4", 16), ("mxfp4", 32)):
        r = rtn(W, make_quantizer(fmt, grp))
        for src in ("gptq", "current"):
            for ao in (False, True):
                res = gptq(W, torch.eye(64), make_quantizer(fmt, grp), blocksize=48, groupsize=grp,
                           actorder=ao, static_groups=ao, group_source=src)
                assert torch.equal(res.W_hat.view(torch.int32), r.W_hat.view(torch.int32)), (fmt, src, ao)
    # group_source="current" is independent of the blocksize; "gptq" equals it when groups
    # start at lazy-block starts
    Z = torch.randn(128, 64, generator=gen, dtype=F32)
    X = Z @ (torch.eye(64) + 0.5 * torch.randn(64, 64, generator=gen) / 8)
    H = hessian(X)
    ref = gptq(W, H, IntQuantizer(4, 32), blocksize=64, group_source="current", dtype=F64)
    for bs in (1, 16, 32, 48, 64):
        res = gptq(W, H, IntQuantizer(4, 32), blocksize=bs, group_source="current", dtype=F64)
        assert torch.equal(res.codes, ref.codes), bs
        assert (res.W_hat - ref.W_hat).abs().max() < 1e-6
    for bs in (1, 16, 32):
        res = gptq(W, H, IntQuantizer(4, 32), blocksize=bs, group_source="gptq", dtype=F64)
        assert torch.equal(res.codes, ref.codes), bs
    # the quantizers against the independent NumPy oracle's golden vectors (tests/golden/):
    # RTN codes and dequantized bits, every case whose width is a multiple of the block
    for fname, mk in (("int4", lambda: IntQuantizer(4, 32, True)),
                      ("int4-asym", lambda: IntQuantizer(4, 32, False)),
                      ("nvfp4", Nvfp4Quantizer), ("mxfp4", Mxfp4Quantizer)):
        gold = json.loads((ROOT / "tests" / "golden" / f"{fname}.json").read_text())
        n = 0
        for c in gold["cases"]:
            if c["cols"] % mk().group:
                continue
            bits = lambda k: torch.tensor(c[k], dtype=torch.int64).to(torch.int32).reshape(c["rows"], c["cols"])
            r = rtn(bits("x").view(F32), mk())
            assert torch.equal(r.W_hat.view(torch.int32), bits("dequant")), (fname, c["name"])
            assert torch.equal(r.codes & 0xF, torch.tensor(c["codes"]).reshape(c["rows"], c["cols"]) & 0xF), \
                (fname, c["name"])
            n += 1
        assert n >= 20, fname
    print("PASS self tests (casts, spec examples, tests/golden RTN, H=I == RTN, group sources)")


def validate_official(gptq_dir):
    """Cross-check the algorithm skeleton against an IST-DASLab/gptq checkout (its gptq.py and
    quant.py, imported from `gptq_dir`, never copied; needs `transformers`): official
    `add_batch` + `fasterquant` with quant.py's asymmetric 4-bit per-group quantizer vs
    `hessian` + `gptq(group_source="gptq")` driven by an adapter with quant.py's arithmetic.
    H and W_hat must be bit-identical in every configuration (dead columns, lazy blocks that do
    not divide the groups, act-order with and without static groups)."""
    import contextlib
    import io
    import torch.nn as nn
    sys.path.insert(0, str(Path(gptq_dir).resolve()))
    torch.cuda.synchronize = lambda *a, **k: None       # fasterquant calls it unconditionally
    with contextlib.redirect_stdout(io.StringIO()):
        from gptq import GPTQ                            # noqa: E402  (the official code)
        from quant import Quantizer

    class QuantPyAsym:
        def __init__(self, g):
            self.group = g

        def prepare(self, W):
            pass

        def params(self, Wg):
            q = Quantizer()
            q.configure(4, perchannel=True, sym=False)
            q.find_params(Wg, weight=True)
            return {"scale": q.scale.flatten(), "zero": q.zero.flatten()}

        def quantize(self, w, p):
            qq = torch.clamp(torch.round(w / p["scale"]) + p["zero"], 0, 15)
            return qq.long(), p["scale"] * (qq - p["zero"])

        def margins(self, w, p):
            return torch.ones(1)

        def param_margin(self, p):
            return 1.0

    gen = torch.Generator().manual_seed(3)
    configs = [(64, 32, 16, False, False, []), (64, 32, 48, False, False, [3, 9]),
               (128, 32, 128, False, False, []), (64, 32, 32, True, True, [5]),
               (64, 16, 24, True, True, []), (64, 32, 40, True, False, [2, 7]),
               (64, 16, 40, False, True, [])]
    ok = True
    for cols, g, bs, ao, st, dead in configs:
        W = torch.randn(8, cols, generator=gen)
        A = torch.eye(cols) + 0.5 * torch.randn(cols, cols, generator=gen) / math.sqrt(cols)
        X = torch.randn(200, cols, generator=gen) @ A
        X[:, dead] = 0
        lin = nn.Linear(cols, 8, bias=False)
        lin.weight.data = W.clone()
        off = GPTQ(lin)
        for b0 in range(0, 200, 50):
            off.add_batch(X[b0:b0 + 50].unsqueeze(1), None)  # 50 one-token "sequences"
        H = off.H.clone()
        off.quantizer = Quantizer()
        off.quantizer.configure(4, perchannel=True, sym=False)
        with contextlib.redirect_stdout(io.StringIO()):
            off.fasterquant(blocksize=bs, percdamp=.01, groupsize=g, actorder=ao, static_groups=st)
        mine = gptq(W, H, QuantPyAsym(g), blocksize=bs, groupsize=g, actorder=ao, static_groups=st)
        same_h = torch.equal(H, hessian(X, 50))
        same_w = torch.equal(lin.weight.data, mine.W_hat)
        ok &= same_h and same_w
        print(f"{'PASS' if same_h and same_w else 'FAIL'} official gptq: cols {cols} g {g} blocksize {bs} "
              f"actorder {ao} static {st} dead {dead}: H {'==' if same_h else '!='}, "
              f"W_hat {'==' if same_w else '!='}")
    return 0 if ok else 1


def write_all(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    index = {"generator": "tools/gptq_reference.py", "n_samples": N_SAMPLES,
             "hessian_batch": HESSIAN_BATCH, "min_margin_required": MIN_MARGIN, "cases": []}
    for case in CASES:
        tensors, meta = run_case(case)
        save_file(tensors, str(out / f"{case['name']}.safetensors"))
        index["cases"].append({"name": case["name"], "file": f"{case['name']}.safetensors", **meta})
        print(f"{case['name']:32s} gptq {meta['rel_err_gptq']:.6f}  rtn {meta['rel_err_rtn']:.6f}  "
              f"margin {meta['min_margin']:.2e}  f64-diff {meta['max_abs_diff_f64_rerun']:.2e}  "
              f"tries {meta['seed_tries']}")
    (out / "cases.json").write_text(json.dumps(index, indent=1) + "\n")
    write_mr(out)


def write_mr(out):
    """MR-GPTQ cases (tools/mr_gptq_reference.py) into mr_cases.json + <name>.safetensors."""
    import mr_gptq_reference as MR
    me = sys.modules[__name__]
    index = {"generator": "tools/gptq_reference.py + tools/mr_gptq_reference.py",
             "n_samples": MR.N_SAMPLES, "hessian_batch": HESSIAN_BATCH,
             "min_margin_required": MIN_MARGIN, "search_margin_required": MR.SEARCH_MARGIN,
             "cases": []}
    for case in MR.CASES:
        tensors, meta = MR.run_mr_case(me, case)
        save_file(tensors, str(out / f"{case['name']}.safetensors"))
        index["cases"].append({"name": case["name"], "file": f"{case['name']}.safetensors", **meta})
        print(f"{case['name']:32s} mr {meta['rel_err_mr_gptq']:.6f}  gptq {meta['rel_err_gptq']:.6f}  "
              f"mr-absmax {meta['rel_err_mr_absmax']:.6f}  margin {meta['min_margin']:.2e}  "
              f"search {meta['search_margin']:.2e} ({meta['search_changed_blocks']} blocks)  "
              f"tries {meta['seed_tries']}")
    (out / "mr_cases.json").write_text(json.dumps(index, indent=1) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="regenerate into a temp dir and compare")
    ap.add_argument("--out", default=str(FIXTURES))
    ap.add_argument("--validate-official", metavar="GPTQ_DIR",
                    help="compare against an IST-DASLab/gptq checkout instead of writing fixtures")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.validate_official:
        return validate_official(args.validate_official)
    self_tests()
    import mr_gptq_reference
    mr_gptq_reference.self_tests(sys.modules[__name__])
    if not args.check:
        write_all(args.out)
        return 0
    return check_regenerated(write_all, Path(args.out), "gptq-fixtures-")


if __name__ == "__main__":
    sys.exit(main())
