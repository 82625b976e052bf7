#!/usr/bin/env python3
"""Plain-PyTorch reference of PV-Tuning's update rules for lowbit, and the fixtures of tests/fixtures/pv/.

Written from the PV-Tuning paper (Malinovskii, Mazur, Ilin, Kuznedelev, Burlachenko, Yi, Alistarh,
Richtárik, "PV-Tuning: Beyond Straight-Through Estimation for Extreme LLM Compression", NeurIPS
2024: the P-step / linearized subspace V-step alternation), from lowbit's spec
(shared/specs/algorithms.md §4.2 "Exact update implemented in the official code" and §4.5
"Scalar (GPTQ-style) quantization under PV") and from reading Vahe1994/AQLM
(`src/configurable_adam.py` ConfigurableAdamW / _inner_adam_step_and_update_statistics,
`src/beam_search_l2.py` beam_search_optimal_codes / _beam_search_update_codes_groupwise /
_greedy_find_best_codes, `src/pv_optimizer.py` StraightThroughAdamW, `src/utils.py`
_dequantize_weight, `finetune.py` create_pv_optimizer).  No code was copied.  The Rust PV-Tuning
implementation is tested against the fixtures this script writes; `tests/fixtures/pv/cases.json`
and the tensor names below are a contract.

Three update rules of one PV-Tuning optimizer step (f32 tensors):

    lamb_adam_step(p, g, state, lr, beta1, beta2, eps) -> p_new      # §4.2 step 4 (every param group)
    scalar_vstep(codes, scale, zero, target, bits, block, tau) -> (new_codes, selected)   # §4.5
    vq_vstep(codes, codebooks, scales, target, beam_size, tau) -> (new_codes, selected)  # §4.2 step 5

and their helpers `scalar_decode`, `vq_decode`, `num_selected`, `beam_search_l2`.

Usage (torch 2.x, numpy, safetensors — the .venv-hf of tests/fixtures/hf/README.md; written and
run with torch 2.15.0):

    .venv-hf/bin/python tools/pv_reference.py           # (re)write tests/fixtures/pv/
    .venv-hf/bin/python tools/pv_reference.py --check   # regenerate into a temp dir, compare, exit 1 on a difference
    .venv-hf/bin/python tools/pv_reference.py --out DIR
    .venv-hf/bin/python tools/pv_reference.py --validate-official PATH/TO/Vahe1994/AQLM

`--validate-official DIR` imports the official src/ from DIR (a checkout, or `git archive` of the
mirror; AQ_USE_JIT=0) and checks on every stored fixture: lamb == ConfigurableAdamW(lamb=True,
debias=True) step by step (bit for bit), vq == beam_search_optimal_codes(max_update_fraction=tau,
dim_rng=None) (codes identical), vq_decode == _dequantize_weight (bit for bit); it also prints a
NOTE comparing the two on M = 3, beam 4 (choice 8).

Deliberate choices (each is something the Rust implementation must do the same way)
-----------------------------------------------------------------------------------
1.  Lamb/Adam step = official ConfigurableAdamW with lamb=True, debias=True, weight_decay=0,
    amsgrad=False, clamp_value=None, compute dtype = param dtype = f32 (finetune.py passes no eps,
    so eps = 1e-6, the class default).  Per tensor, in this order:
        t += 1
        β1 ≠ 0:  m = lerp(m, g, 1−β1) (state kept, zeros at t = 0);  u = copy of m
        β1 = 0:  no first moment is kept at all;                       u = copy of g
        β2 ∉ {0, 1}: v = lerp(v, g·g, 1−β2) (state kept);  β2 = 0: v = g·g (no state)
        β2 ≠ 1:  u = u / (sqrt(v) + eps)             (β2 = 1: no second moment, no division)
        scale = −lr · bc,  bc = mt / vt in f64, mt = 1/(1−β1^t) (1 if β1 = 0),
                vt = 1/sqrt(1−β2^t) (1 if β2 = 0)    (β2 = 1 divides by zero officially: rejected)
        r = ‖p‖ / ‖u‖ (both torch.norm over the whole tensor, f32); r = 1 if either norm is 0
        p ← p + alpha · u,  alpha = f32(scale) · r rounded to f32, or f32(scale) if a norm is 0
    torch's CPU kernels (AVX512, torch 2.15) evaluate lerp(a, b, w) with w = f32(1−β) < 0.5 as
    fma(w, b − a, a) and the final add as fma(u, alpha, p) (checked in the self tests: these fused
    forms reproduce torch.lerp / Tensor.add bit for bit on the fixture sizes, which are multiples of
    the vector width); for w ≥ 0.5 ATen uses fma(w − 1, b − a, b).  Bit-for-bit reproduction is
    NOT possible anyway: torch's CPU f32 sqrt is not correctly rounded (≤ 1 ulp off on ~20 % of
    values) and the norms' summation order is unspecified.  The Rust test must use a tolerance;
    `f64_rel_dev` in cases.json is the largest, over the steps k, max|p_f32[k] − p_f64[k]| /
    max|p_f64[k]| against an exact-arithmetic (f64, textbook §4.2) re-run of the same steps
    (1.1–2.5e-7).
2.  Selection (official beam_search_optimal_codes with max_update_fraction = τ, temperature 0):
    n = ceil(τ · rows · cols) for scalar (elements), n = ceil(τ · rows · (cols/g)) for VQ (tiles),
    the product taken left to right in f64 (the official order); selected = torch.topk(d.flatten(),
    n, largest=True, sorted=True).indices, i.e. flat indices r·cols + c (scalar) or r·(cols/g) + j
    (VQ) in priority order (largest d first).  Ties in d are never exercised: every fixture has
    pairwise distinct d among the first min(n + 1, N) sorted values (scalar: exactly distinct,
    since d is computed with correctly rounded f32 ops only; VQ: relative gap ≥ MIN_D_GAP_REL =
    1e-5 between consecutive sorted values, since its 8-term sum has no fixed order) — the
    priority order is therefore well defined.  For τ = 1 the official code skips the topk and
    updates everything; the fixture's `selected` still lists every index in priority order.
3.  Scalar V-step (§4.5, derived; no official code): per block of `block` columns in a row one
    scale s > 0 and one zero z (an integer stored as f32): W_prev = (f32(code) − z) · s, d =
    |target − W_prev| (f32); a selected element gets code = clamp(round(target / s + z), 0,
    2^bits − 1), computed in f32 as written (one division, one add, torch.round = round half to
    even, clamp), every other element keeps its code.  The fixtures contain exact halves
    (target / s + z = k + ½ exactly, power-of-two scales; `round_half_ties` counts the selected
    ones) and targets far outside the grid on both sides (`clamped`).
4.  VQ layout (AQLM, out_group_size = 1, as lowbit's VqCodes): codes [rows, cols/g, M] int64,
    codebooks [M, 2^bits, g] f32, scales [rows, 1] f32; vq_decode W[r, jg:(j+1)g] = s_r · (C_0[b_0] +
    C_1[b_1] + …), the sum left to right in m in f32 (official embedding_bag sum), then one
    multiply by s_r.  d[r, j] = Σ over the g elements of (target − W_prev)² in f32 (torch .sum,
    order unspecified; see 2).  The beam search target of tile (r, j) is t = target_tile / s_r
    (f32 division, as the official `flat_unscaled_reference / scales`).
5.  Beam search (beam_search_l2), stochastic_rounding_tau = 0, force_update = False, trust_ratio
    = None, dim_rng = None (natural codebook order m = 0, 1, …, M−1):
    * M = 1 and beam = 1 (official _greedy_find_best_codes; previous codes ignored):
          mm = t @ C_0ᵀ (torch.matmul / BLAS, summation order unspecified)      [n, K]
          score_k = (−2 · mm_k) + ‖c_k‖²      (−2·mm is exact; one rounding)
          code = argmin_k score_k (first index on ties)
      (official: addmm(‖c‖², t, C_0ᵀ, alpha = −2): the same single rounding of the same terms.)
    * otherwise (official _beam_search_update_codes_groupwise): beam = {previous codes},
      residue = t − (C_0[b_0] + C_1[b_1] + …)   (decode sum as in 4, unscaled);  for m in order:
          residue_h += C_m[b_{h,m}]                     (every hypothesis h)
          mm = residue @ C_mᵀ (torch.matmul)             [n, beam_now, K]
          beam > 1:  score = (‖residue_h‖² − 2·mm) + ‖c_k‖²     (two roundings, in this order)
          beam = 1:  score = (−2·mm) + ‖c_k‖²                     (‖residue‖² is a constant)
          ‖x‖² = Σ x_i² in f32 (torch .square().sum(−1), order unspecified)
          keep the `beam` lowest (hypothesis, code) pairs of the flattened [beam_now·K] scores
          (only 1 at the last codebook); each kept pair = its source hypothesis with b_m = code;
          if not the last codebook: residue of the kept pair = residue of its source − C_m[code]
      result = the best (first) hypothesis after the last codebook.
6.  Ties in scores are never exercised: for every selected tile, every kept/rejected boundary
    (the beam-th vs (beam+1)-th sorted score at every non-last codebook, best vs second at the
    last one) is at least MIN_SCORE_GAP_REL = 1e-4 of ‖t‖² apart (`score_gap_rel` = the smallest
    best-vs-second gap of the final step, `cut_gap_rel` = the smallest non-final boundary gap; both
    in cases.json), ≥ 100× more than f32 rounding can move a score; the whole V-step re-run in f64
    gives identical codes and selection (checked).  Seeds failing this are skipped (`seed_tries`).
    The tie rule used here (stable sort: lower hypothesis, then lower code; argmin: first index)
    therefore never decides anything; do not rely on it matching torch.topk.
7.  Monotonicity: the previous codes are always a candidate path, so the tile error ‖t − dec‖²
    never rises; asserted (f64, 1e-6 of ‖t‖² slack) on every call.
8.  DEVIATION for M ≥ 3 with beam > 1 (not in any fixture): the official groupwise search does
    not re-index `residue` by the source hypothesis of each kept pair (beam_codes is gathered,
    residue is not), so from the third codebook on its residues belong to the wrong hypotheses;
    here the residue is gathered (the algorithm §4.2 describes).  For M ≤ 2 both are identical
    (the only non-last step has a single source hypothesis), which --validate-official confirms.
9.  Codebook order: the official PV optimizer passes dim_rng = random.Random(None) on every step,
    i.e. a fresh, unseeded shuffle of the codebook order for each V-step; here (and in every
    fixture) the natural order, official dim_rng = None.
10. Determinism: CPU, torch.set_num_threads(1), seeds from zlib.crc32 of the case name, so a
    re-run is byte-identical (--check).  Not implemented: the KL loss and chain rule (§4.2 steps
    1–3), code_trust_ratio, temperature sampling of the selection, stochastic rounding,
    force_code_update, straight-through buffers / delta_decay, out_group_size > 1.

Fixtures (tests/fixtures/pv/; all f32 unless noted, codes/selected int64)
-----------------------------------------------------------------------
kind "lamb":   p0 [rows, cols], grads [steps, rows, cols], p [steps, rows, cols] (after each step).
kind "scalar": codes [rows, cols], scale [rows, cols/block] (> 0), zero [rows, cols/block]
               (integers in [0, 2^bits−1]), target, new_codes [rows, cols], selected [n].
kind "vq":     codes [rows, cols/group, m], codebooks [m, 2^bits, group], scales [rows, 1],
               target [rows, cols], new_codes (shape of codes), selected [n].
cases.json: {"generator", "torch", "cases": [{"name", "kind", "file", parameters…, "changed", …}]}.
"""

import argparse
import json
import math
import os
import sys
import zlib
from pathlib import Path

from fixture_check import check_regenerated  # tools/fixture_check.py

ROOT = Path(__file__).resolve().parent.parent
VENVS = [ROOT / ".venv-hf" / "bin" / "python"]

try:
    import numpy as np
    import torch
    from safetensors.torch import load_file, save_file
except ImportError:  # re-exec in a venv that has torch + safetensors
    for py in VENVS:
        if py.exists() and Path(sys.executable).resolve() != py.resolve():
            os.execv(str(py), [str(py), str(Path(__file__).resolve()), *sys.argv[1:]])
    sys.exit("needs torch, numpy and safetensors (e.g. .venv-hf/bin/python tools/pv_reference.py)")

F32 = torch.float32
F64 = torch.float64
I64 = torch.int64
FIXTURES = ROOT / "tests" / "fixtures" / "pv"
MIN_SCORE_GAP_REL = 1e-4
MIN_D_GAP_REL = 1e-5
MONOTONE_SLACK = 1e-6
MAX_SEED_TRIES = 400


# ---------------------------------------------------------------------------------------------
# 1. Lamb / Adam step (official src/configurable_adam.py, lamb=True, debias=True; choice 1)
# ---------------------------------------------------------------------------------------------

def lamb_adam_step(p, g, state, lr, beta1, beta2, eps):
    """One ConfigurableAdamW(lamb=True, debias=True, weight_decay=0, amsgrad=False) step on the
    tensor p with gradient g.  `state` is a dict (empty before the first step) that keeps "step",
    "exp_avg" (only if beta1 != 0) and "exp_avg_sq" (only if beta2 not in {0, 1}); after the call it
    also holds the diagnostics "trust_ratio" and "alpha" of this step.  Returns the new p (p itself
    is not modified)."""
    if beta2 == 1:
        raise ValueError("beta2 = 1 with debias divides by zero in the official code")
    state["step"] = state.get("step", 0) + 1
    t = state["step"]
    g = g.to(p.dtype, copy=True)
    if beta1 != 0:
        m = state["exp_avg"] if "exp_avg" in state else torch.zeros_like(p)
        m = m.lerp(g, 1 - beta1)
        state["exp_avg"] = m
        u = m.clone()
    else:
        u = g.clone()
    if beta2 == 0:
        v = g.square()
    else:
        v = state["exp_avg_sq"] if "exp_avg_sq" in state else torch.zeros_like(p)
        v = v.lerp(g.square(), 1 - beta2)
        state["exp_avg_sq"] = v
    u = u / v.sqrt().add(eps)
    scale = -lr
    mt = 1.0 / (1 - beta1 ** t) if beta1 != 0 else 1
    vt = 1.0 / math.sqrt(1 - beta2 ** t) if beta2 != 0 else 1
    scale *= mt / vt
    w_norm, u_norm = torch.norm(p), torch.norm(u)
    if w_norm == 0 or u_norm == 0:
        trust = 1.0
        alpha = scale
    else:
        r = w_norm / u_norm
        trust = float(r)
        alpha = float(torch.mul(r, scale))  # f32(scale) · r in f32, as `update_scale *= trust_ratio`
    state["trust_ratio"], state["alpha"] = trust, alpha
    return p.add(u, alpha=alpha)


def lamb_textbook_f64(p0, grads, lr, beta1, beta2, eps):
    """§4.2 written as a formula and evaluated in f64 (no fma, exact sqrt, exact norms): the
    exact-arithmetic counterpart of lamb_adam_step, for the self test and `f64_rel_dev`."""
    p = p0.to(F64).clone()
    m = torch.zeros_like(p)
    v = torch.zeros_like(p)
    out = []
    for t, g in enumerate(grads, start=1):
        g = g.to(F64)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g if beta2 != 0 else g * g
        u = m / (v.sqrt() + eps)
        c = math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
        pn, un = float(p.norm()), float(u.norm())
        r = pn / un if pn != 0 and un != 0 else 1.0
        p = p - lr * c * r * u
        out.append(p.clone())
    return torch.stack(out)


# ---------------------------------------------------------------------------------------------
# 2. selection (official beam_search_optimal_codes, max_update_fraction; choice 2)
# ---------------------------------------------------------------------------------------------

def num_selected(tau, *dims):
    """n = ceil(tau · d_0 · d_1 · …), the product left to right in f64 (official order)."""
    x = tau
    for d in dims:
        x = x * d
    return int(math.ceil(x))


def _select(d, n):
    return torch.topk(d.flatten(), n, largest=True, sorted=True).indices


# ---------------------------------------------------------------------------------------------
# 3. scalar V-step (spec §4.5; choice 3)
# ---------------------------------------------------------------------------------------------

def _per_element(x, block):
    return x.repeat_interleave(block, dim=1)


def scalar_decode(codes, scale, zero, block):
    """W = (f32(code) − z) · s with per-block s, z ([rows, cols/block])."""
    return (codes.to(scale.dtype) - _per_element(zero, block)) * _per_element(scale, block)


def scalar_vstep(codes, scale, zero, target, bits, block, tau):
    """Top-⌈τ·rows·cols⌉ elements by |target − W_prev| get code clamp(round(target/s + z), 0,
    2^bits − 1); the others keep theirs.  Returns (new_codes [rows, cols] int64, selected [n] int64)."""
    rows, cols = codes.shape
    s, z = _per_element(scale, block), _per_element(zero, block)
    w_prev = (codes.to(s.dtype) - z) * s
    d = (target - w_prev).abs()
    sel = _select(d, num_selected(tau, rows, cols))
    q = torch.clamp(torch.round(target / s + z), 0, 2 ** bits - 1).to(I64)
    new = codes.clone().flatten()
    new[sel] = q.flatten()[sel]
    return new.view(rows, cols), sel


# ---------------------------------------------------------------------------------------------
# 4. VQ V-step (spec §4.2 step 5; official src/beam_search_l2.py; choices 4–8)
# ---------------------------------------------------------------------------------------------

def vq_decode(codes, codebooks, scales):
    """W [rows, J·g] = s_r · (C_0[b_0] + C_1[b_1] + …), the sum left to right in m (choice 4)."""
    rows, J, M = codes.shape
    acc = codebooks[0][codes[..., 0]]
    for m in range(1, M):
        acc = acc + codebooks[m][codes[..., m]]
    return (acc * scales.reshape(rows, 1, 1)).reshape(rows, J * codebooks.shape[-1])


def _decode_unscaled(codes, codebooks):
    acc = codebooks[0][codes[:, 0]]
    for m in range(1, codes.shape[1]):
        acc = acc + codebooks[m][codes[:, m]]
    return acc


def beam_search_l2(t, codebooks, prev_codes, beam_size, info=None):
    """New codes [n, M] for the references t [n, g] from prev_codes [n, M] (choice 5).  If `info`
    is a dict it receives the decision gaps (choice 6) relative to ‖t‖² (f64): "final_gap_rel"
    (per tile, best vs second of the last step) and "cut_gap_rel" (per tile, the smallest kept vs
    rejected gap over the non-last steps; +inf if there are none)."""
    n, g = t.shape
    M, K, _ = codebooks.shape
    energy = t.to(F64).square().sum(-1).clamp_min(1e-300)
    cut = torch.full((n,), math.inf, dtype=F64)
    rows = torch.arange(n)
    if M == 1 and beam_size == 1:
        c = codebooks[0]
        scores = -2 * torch.matmul(t, c.T) + c.square().sum(-1)  # [n, K]
        new = torch.argmin(scores, dim=1)[:, None]
        top2 = torch.sort(scores, dim=1, stable=True).values[:, :2].to(F64)
        final = (top2[:, 1] - top2[:, 0]) / energy
    else:
        code_norms = codebooks.square().sum(-1)  # [M, K]
        beams = prev_codes.clone()[:, None, :]  # [n, 1, M]
        residue = (t - _decode_unscaled(prev_codes, codebooks))[:, None, :]  # [n, 1, g]
        for m in range(M):
            last = m == M - 1
            residue = residue + codebooks[m][beams[..., m]]
            mm = torch.matmul(residue, codebooks[m].T)  # [n, beam_now, K]
            if beam_size > 1:
                scores = residue.square().sum(-1, keepdim=True) - 2 * mm + code_norms[m]
            else:
                scores = -2 * mm + code_norms[m]
            flat = scores.flatten(1)
            keep = 1 if last else beam_size
            srt = torch.sort(flat, dim=1, stable=True)
            vals = srt.values.to(F64)
            if last:
                final = (vals[:, 1] - vals[:, 0]) / energy
            elif keep < flat.shape[1]:
                cut = torch.minimum(cut, (vals[:, keep] - vals[:, keep - 1]) / energy)
            best = srt.indices[:, :keep]
            src, code = best // K, best % K
            beams = beams[rows[:, None], src].clone()
            beams[:, :, m] = code
            if not last:
                residue = residue[rows[:, None], src] - codebooks[m][code]
        new = beams[:, 0, :]
    # choice 7: the tile error never rises
    before = (t.to(F64) - _decode_unscaled(prev_codes, codebooks).to(F64)).square().sum(-1)
    after = (t.to(F64) - _decode_unscaled(new, codebooks).to(F64)).square().sum(-1)
    assert bool((after <= before + MONOTONE_SLACK * energy).all()), "beam search raised a tile error"
    if info is not None:
        info["final_gap_rel"], info["cut_gap_rel"] = final, cut
    return new


def vq_vstep(codes, codebooks, scales, target, beam_size, tau, info=None):
    """Top-⌈τ·#tiles⌉ tiles by ‖target − W_prev‖² get beam_search_l2(target_tile / s_r) from their
    previous codes; the others keep theirs.  Returns (new_codes [rows, J, M] int64, selected [n]
    int64, flat tile index r·J + j in priority order).  `info` (a dict) receives the beam search
    gaps of the selected tiles and the sorted d values."""
    rows, J, M = codes.shape
    g = codebooks.shape[-1]
    w_prev = vq_decode(codes, codebooks, scales)
    d = (target - w_prev).square().view(rows, J, g).sum(-1)  # [rows, J]
    sel = _select(d, num_selected(tau, rows, J))
    flat_codes = codes.reshape(rows * J, M)
    t = (target.view(rows, J, g) / scales.view(rows, 1, 1)).reshape(rows * J, g)
    bs_info = {} if info is not None else None
    new_sel = beam_search_l2(t[sel], codebooks, flat_codes[sel], beam_size, bs_info)
    new = flat_codes.clone()
    new[sel] = new_sel
    if info is not None:
        info.update(bs_info)
        info["d_sorted"] = torch.sort(d.flatten(), descending=True).values
    return new.view(rows, J, M), sel


# ---------------------------------------------------------------------------------------------
# self tests
# ---------------------------------------------------------------------------------------------

def _fma_f32(a, b, c):
    """fma(a, b, c) for f32 arrays: the product is exact in f64; the sum is rounded once in f64 and
    once to f32 (double rounding can differ from a true fma only on rare exact halfway sums)."""
    return (a.astype(np.float64) * b.astype(np.float64) + c.astype(np.float64)).astype(np.float32)


def self_tests():
    gen = torch.Generator().manual_seed(11)
    # (a) lamb: torch's lerp and add-with-alpha are the fused forms of choice 1 (fixture sizes)
    for n in (960, 2048):
        a, b = torch.randn(n, generator=gen), torch.randn(n, generator=gen)
        for beta in (0.9, 0.95):
            w = np.float32(1 - beta)
            assert np.array_equal(a.lerp(b, 1 - beta).numpy(),
                                  _fma_f32(np.full(n, w), (b - a).numpy(), a.numpy())), "lerp != fma form"
        alpha = float(torch.mul(torch.tensor(0.731, dtype=F32), -0.0123))
        assert np.array_equal(a.add(b, alpha=alpha).numpy(),
                              _fma_f32(b.numpy(), np.full(n, np.float32(alpha)), a.numpy())), "add != fma form"
    # (b) lamb against the f64 formula of §4.2, all branches (β1 = 0 / ≠ 0, β2 = 0 / ≠ 0, p0 = 0,
    #     u = 0), and β1 = 0 keeps no first moment: u_t = g_t / (sqrt(v_t) + eps) exactly
    for b1, b2, zero_p0, zero_g in ((0.0, 0.95, False, False), (0.9, 0.95, False, False),
                                    (0.9, 0.0, False, False), (0.0, 0.95, True, True), (0.9, 0.99, True, False)):
        p0 = torch.zeros(8, 16) if zero_p0 else torch.randn(8, 16, generator=gen)
        grads = torch.randn(6, 8, 16, generator=gen) * torch.logspace(-2, 1, 6)[:, None, None]
        if zero_g:
            grads[2] = 0
        p, st, ps = p0.clone(), {}, []
        for k in range(6):
            p_before = p
            p = lamb_adam_step(p, grads[k], st, 1e-2, b1, b2, 1e-6)
            ps.append(p)
            if b1 == 0:
                assert "exp_avg" not in st, "beta1 = 0 must keep no first moment"
                u = grads[k] / st["exp_avg_sq"].sqrt().add(1e-6)
                assert torch.equal(p, p_before.add(u, alpha=st["alpha"])), "beta1 = 0: u != g/(sqrt(v)+eps)"
            if zero_p0 and k == 0:
                assert st["trust_ratio"] == 1.0, "zero p0: trust ratio must be 1"
            if zero_g and k == 2:
                assert st["trust_ratio"] == 1.0 and torch.equal(p, p_before), "zero update: p must not move"
        ref = lamb_textbook_f64(p0, grads, 1e-2, b1, b2, 1e-6)
        dev = float((torch.stack(ps).to(F64) - ref).abs().max() / ref.abs().max())
        assert dev < 1e-5, f"lamb vs f64 formula: {dev}"
    # (c) beam search with M = 2, beam = K on single tiles equals the brute-force best pair
    M, K, g = 2, 16, 8
    cb = torch.randn(M, K, g, generator=gen, dtype=F64)
    t = torch.randn(12, g, generator=gen, dtype=F64)
    prev = torch.randint(0, K, (12, M), generator=gen)
    got = beam_search_l2(t, cb, prev, beam_size=K)
    pairs = (cb[0][:, None, :] + cb[1][None, :, :]).reshape(K * K, g)
    err = (t[:, None, :] - pairs[None]).square().sum(-1)  # [12, K*K]
    best = err.argmin(1)
    assert torch.equal(got, torch.stack([best // K, best % K], 1)), "beam = K is not exhaustive"
    # M = 1, beam = 1: the exact nearest codeword
    got1 = beam_search_l2(t, cb[:1], prev[:, :1], beam_size=1)
    assert torch.equal(got1[:, 0], (t[:, None, :] - cb[0][None]).square().sum(-1).argmin(1))
    # (d) tau = 1 scalar equals projecting every element; selected has exactly ceil(tau·n) entries
    rows, cols, block, bits = 8, 32, 16, 3
    codes = torch.randint(0, 8, (rows, cols), generator=gen)
    scale = torch.rand(rows, cols // block, generator=gen) + 0.1
    zero = torch.randint(0, 8, (rows, cols // block), generator=gen).to(F32)
    target = scalar_decode(codes, scale, zero, block) + torch.randn(rows, cols, generator=gen) * 2
    new, sel = scalar_vstep(codes, scale, zero, target, bits, block, 1.0)
    s, z = _per_element(scale, block), _per_element(zero, block)
    assert torch.equal(new, torch.clamp(torch.round(target / s + z), 0, 7).to(I64)), "tau = 1 != projection"
    for tau in (1e-3, 0.01, 0.05, 0.1, 0.3, 0.77, 1.0):
        _, sel = scalar_vstep(codes, scale, zero, target, bits, block, tau)
        assert len(sel) == math.ceil(tau * rows * cols) == len(set(sel.tolist())), "selected count"
        cbv = torch.randn(2, 16, 8, generator=gen)
        cv = torch.randint(0, 16, (rows, cols // 8, 2), generator=gen)
        sv = torch.rand(rows, 1, generator=gen) + 0.5
        _, selv = vq_vstep(cv, cbv, sv, torch.randn(rows, cols, generator=gen), 2, tau)
        assert len(selv) == math.ceil(tau * rows * (cols // 8)) == len(set(selv.tolist())), "selected count"
    print("PASS self tests (lamb fma forms, lamb vs f64 formula on all branches, beta1 = 0 keeps no "
          "first moment, beam = K exhaustive, greedy = nearest, tau = 1 scalar = projection, "
          "|selected| = ceil(tau n))")


# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------

LAMB_CASES = [
    dict(name="lamb-b1-0", rows=24, cols=40, lr=1e-2, beta1=0.0, beta2=0.95, eps=1e-6, steps=5),
    dict(name="lamb-b1-0.9", rows=24, cols=40, lr=1e-2, beta1=0.9, beta2=0.95, eps=1e-6, steps=5),
    # p0 = 0 (trust ratio 1 at step 1) and an all-zero gradient at step 3 (u = 0: trust ratio 1, p unchanged)
    dict(name="lamb-zero-p0", rows=24, cols=40, lr=1e-2, beta1=0.0, beta2=0.95, eps=1e-6, steps=5,
         zero_p0=True, zero_grad_step=3),
]
SCALAR_CASES = [
    dict(name="scalar-int2-b16-tau0.05", rows=32, cols=64, block=16, bits=2, tau=0.05),
    dict(name="scalar-int2-b16-tau1", rows=32, cols=64, block=16, bits=2, tau=1.0),
    dict(name="scalar-int4-b32-tau0.01", rows=32, cols=64, block=32, bits=4, tau=0.01),
]
VQ_CASES = [
    dict(name="vq-1x6g8-beam1-tau1", rows=16, cols=64, group=8, m=1, bits=6, beam=1, tau=1.0),
    dict(name="vq-2x4g8-beam1-tau0.1", rows=16, cols=64, group=8, m=2, bits=4, beam=1, tau=0.1),
    dict(name="vq-2x4g8-beam4-tau0.1", rows=16, cols=64, group=8, m=2, bits=4, beam=4, tau=0.1),
    dict(name="vq-2x4g8-beam4-tau1", rows=16, cols=64, group=8, m=2, bits=4, beam=4, tau=1.0),
]
SEED_BASE = 20260611


def case_seed(name, attempt):
    return SEED_BASE + zlib.crc32(name.encode()) % 1_000_000 * 1000 + attempt


def lamb_case(c):
    gen = torch.Generator().manual_seed(case_seed(c["name"], 0))
    shape = (c["rows"], c["cols"])
    p0 = torch.zeros(shape) if c.get("zero_p0") else torch.randn(shape, generator=gen) * 0.1
    mag = torch.exp(torch.empty(c["steps"]).uniform_(math.log(1e-2), math.log(10.0), generator=gen))
    grads = torch.randn(c["steps"], *shape, generator=gen) * mag[:, None, None]
    if c.get("zero_grad_step"):
        grads[c["zero_grad_step"] - 1] = 0
    p, state, ps, trust, alphas = p0.clone(), {}, [], [], []
    for k in range(c["steps"]):
        p = lamb_adam_step(p, grads[k], state, c["lr"], c["beta1"], c["beta2"], c["eps"])
        ps.append(p)
        trust.append(state["trust_ratio"])
        alphas.append(state["alpha"])
    ps = torch.stack(ps)
    ref = lamb_textbook_f64(p0, grads, c["lr"], c["beta1"], c["beta2"], c["eps"])
    dev = max(float((ps[k].to(F64) - ref[k]).abs().max() / ref[k].abs().max()) for k in range(c["steps"]))
    rel_move = [float((ps[k] - (ps[k - 1] if k else p0)).norm() / max(float((ps[k - 1] if k else p0).norm()), 1e-30))
                for k in range(c["steps"])]
    tensors = {"p0": p0, "grads": grads, "p": ps}
    meta = {k: c[k] for k in ("rows", "cols", "lr", "beta1", "beta2", "eps", "steps")}
    if c.get("zero_p0"):
        meta["zero_p0"] = True
    if c.get("zero_grad_step"):
        meta["zero_grad_step"] = c["zero_grad_step"]
    changed = int((ps[-1] != p0).sum())
    meta.update(changed=changed, seed=case_seed(c["name"], 0), trust_ratio=trust, alpha=alphas,
                relative_step=rel_move, f64_rel_dev=dev)
    return tensors, meta, f"trust {', '.join(f'{x:.4g}' for x in trust)}; f64 dev {dev:.2e}"


def _scalar_data(c, seed):
    gen = torch.Generator().manual_seed(seed)
    rows, cols, block, bits = c["rows"], c["cols"], c["block"], c["bits"]
    qmax = 2 ** bits - 1
    nb = cols // block
    codes = torch.randint(0, qmax + 1, (rows, cols), generator=gen)
    scale = 0.02 + 0.08 * torch.rand(rows, nb, generator=gen)
    zero = torch.randint(0, qmax + 1, (rows, nb), generator=gen).to(F32)
    # four blocks with distinct power-of-two scales for exact half ties (distinct scales: their
    # d = |k + 1/2 - code| · s never tie with each other)
    tie_blocks = torch.randperm(rows * nb, generator=gen)[:4]
    scale.view(-1)[tie_blocks] = torch.tensor([0.25, 0.125, 0.0625, 0.03125])
    s, z = _per_element(scale, block), _per_element(zero, block)
    target = scalar_decode(codes, scale, zero, block) + 0.6 * s * torch.randn(rows, cols, generator=gen)
    # far outside the grid on both sides (~0.6 % of the elements); half of them start on the boundary
    n_far = max(6, int(0.006 * rows * cols))
    far = torch.randperm(rows * cols, generator=gen)[:n_far]
    for i, e in enumerate(far.tolist()):
        r, col = divmod(e, cols)
        up = i % 2 == 0
        if i % 4 < 2:
            codes[r, col] = qmax if up else 0  # stays clamped: selected but unchanged
        dist = 3 + 7 * float(torch.rand(1, generator=gen))
        q = (qmax + dist) if up else -dist
        target[r, col] = (q - z[r, col]) * s[r, col]
    # one exact half (target / s + z = k + 1/2) in each tie block, far from its current code
    for blk in tie_blocks.tolist():
        r, b = divmod(blk, nb)
        col = b * block + int(torch.randint(0, block, (1,), generator=gen))
        code = int(codes[r, col])
        h = max((k + 0.5 for k in range(qmax)), key=lambda h: (abs(h - code), h))
        target[r, col] = (h - z[r, col]) * s[r, col]
    return codes, scale, zero, target


def scalar_case(c):
    rows, cols, block, bits, tau = c["rows"], c["cols"], c["block"], c["bits"], c["tau"]
    qmax = 2 ** bits - 1
    N = rows * cols
    for attempt in range(MAX_SEED_TRIES):
        seed = case_seed(c["name"], attempt)
        codes, scale, zero, target = _scalar_data(c, seed)
        new, sel = scalar_vstep(codes, scale, zero, target, bits, block, tau)
        n = len(sel)
        s, z = _per_element(scale, block), _per_element(zero, block)
        d = (target - scalar_decode(codes, scale, zero, block)).abs().flatten()
        dsorted = torch.sort(d, descending=True).values[:min(n + 1, N)]
        distinct = bool((dsorted[:-1] > dsorted[1:]).all())
        x = (target / s + z).flatten()[sel]
        unclamped = torch.round(x)
        clamped_lo = int((unclamped < 0).sum())
        clamped_hi = int((unclamped > qmax).sum())
        ties = int((x - torch.floor(x) == 0.5).sum())
        changed = int((new != codes).sum())
        ok = distinct and 0 < changed < n and clamped_lo > 0 and clamped_hi > 0 and ties >= 2
        if not ok:
            continue
        gaps = (dsorted[:-1] - dsorted[1:]) / dsorted[:-1]
        tensors = {"codes": codes, "scale": scale, "zero": zero, "target": target,
                   "new_codes": new, "selected": sel}
        meta = {k: c[k] for k in ("rows", "cols", "block", "bits", "tau")}
        meta.update(n_selected=n, changed=changed, clamped=clamped_lo + clamped_hi,
                    clamped_low=clamped_lo, clamped_high=clamped_hi, round_half_ties=ties,
                    selected_unchanged=n - int((new.flatten()[sel] != codes.flatten()[sel]).sum()),
                    min_d_gap_rel=float(gaps.min()) if len(gaps) else None,
                    seed=seed, seed_tries=attempt + 1)
        return tensors, meta, (f"n {n} changed {changed} clamped {clamped_lo}+{clamped_hi} "
                               f"half-ties {ties} min d gap {meta['min_d_gap_rel']:.2e} tries {attempt + 1}")
    raise RuntimeError(f"no seed passed for {c['name']}")


def _vq_data(c, seed):
    gen = torch.Generator().manual_seed(seed)
    rows, cols, g, M, K = c["rows"], c["cols"], c["group"], c["m"], 2 ** c["bits"]
    J = cols // g
    codebooks = torch.randn(M, K, g, generator=gen) / math.sqrt(M)
    codes = torch.randint(0, K, (rows, J, M), generator=gen)
    scales = 0.5 + torch.rand(rows, 1, generator=gen)
    target = vq_decode(codes, codebooks, scales) + 0.6 * scales * torch.randn(rows, cols, generator=gen)
    return codes, codebooks, scales, target


def vq_case(c):
    rows, J = c["rows"], c["cols"] // c["group"]
    for attempt in range(MAX_SEED_TRIES):
        seed = case_seed(c["name"], attempt)
        codes, codebooks, scales, target = _vq_data(c, seed)
        info = {}
        new, sel = vq_vstep(codes, codebooks, scales, target, c["beam"], c["tau"], info)
        n = len(sel)
        ds = info["d_sorted"].to(F64)[:min(n + 1, rows * J)]
        d_gap = float(((ds[:-1] - ds[1:]) / ds[:-1]).min()) if len(ds) > 1 else math.inf
        final_gap = float(info["final_gap_rel"].min())
        cut_gap = float(info["cut_gap_rel"].min())
        changed = int((new != codes).any(-1).sum())
        new64, sel64 = vq_vstep(codes, codebooks.to(F64), scales.to(F64), target.to(F64), c["beam"], c["tau"])
        ok = (d_gap >= MIN_D_GAP_REL and final_gap >= MIN_SCORE_GAP_REL and cut_gap >= MIN_SCORE_GAP_REL
              and torch.equal(new64, new) and torch.equal(sel64, sel)
              and changed > 0 and (changed < n or c["tau"] < 1))
        if not ok:
            continue
        tensors = {"codes": codes, "codebooks": codebooks, "scales": scales, "target": target,
                   "new_codes": new, "selected": sel}
        meta = {k: c[k] for k in ("rows", "cols", "group", "m", "bits", "beam", "tau")}
        meta.update(n_selected=n, changed=changed,
                    codes_changed=int((new != codes).sum()),
                    score_gap_rel=final_gap, cut_gap_rel=cut_gap if math.isfinite(cut_gap) else None,
                    min_d_gap_rel=d_gap, f64_rerun_identical=True, seed=seed, seed_tries=attempt + 1)
        cg = f"{cut_gap:.2e}" if math.isfinite(cut_gap) else "-"
        return tensors, meta, (f"n {n} changed {changed} tiles ({meta['codes_changed']} codes) "
                               f"score gap {final_gap:.2e} cut gap {cg} d gap {d_gap:.2e} tries {attempt + 1}")
    raise RuntimeError(f"no seed passed for {c['name']}")


def write_all(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    index = {"generator": "tools/pv_reference.py", "torch": torch.__version__,
             "min_score_gap_rel_required": MIN_SCORE_GAP_REL, "min_d_gap_rel_required": MIN_D_GAP_REL,
             "cases": []}
    for kind, cases, fn in (("lamb", LAMB_CASES, lamb_case), ("scalar", SCALAR_CASES, scalar_case),
                            ("vq", VQ_CASES, vq_case)):
        for c in cases:
            tensors, meta, line = fn(c)
            file = f"{c['name']}.safetensors"
            save_file({k: v.contiguous() for k, v in tensors.items()}, str(out / file))
            index["cases"].append({"name": c["name"], "kind": kind, "file": file, **meta})
            print(f"  {c['name']:26s} {line}")
    (out / "cases.json").write_text(json.dumps(index, indent=1) + "\n")


# ---------------------------------------------------------------------------------------------
# --validate-official
# ---------------------------------------------------------------------------------------------

def validate_official(aqlm_dir, fixtures=FIXTURES):
    """Import the official src/ from aqlm_dir (nothing is copied) and compare on the stored
    fixtures: lamb == ConfigurableAdamW (bit for bit), vq == beam_search_optimal_codes (codes
    identical), vq_decode == _dequantize_weight (bit for bit); NOTE on M = 3, beam 4 (choice 8)."""
    os.environ["AQ_USE_JIT"] = "0"
    sys.path.insert(0, str(Path(aqlm_dir).resolve()))
    from src.configurable_adam import ConfigurableAdamW
    from src.beam_search_l2 import beam_search_optimal_codes
    from src.utils import _dequantize_weight

    ok = True

    def report(name, good, extra=""):
        nonlocal ok
        ok &= bool(good)
        print(f"{'PASS' if good else 'FAIL'} official {name} {extra}")

    index = json.loads((Path(fixtures) / "cases.json").read_text())
    for c in index["cases"]:
        t = load_file(str(Path(fixtures) / c["file"]))
        if c["kind"] == "lamb":
            p = torch.nn.Parameter(t["p0"].clone())
            opt = ConfigurableAdamW([p], lr=c["lr"], betas=(c["beta1"], c["beta2"]), eps=c["eps"],
                                    weight_decay=0, debias=True, lamb=True, amsgrad=False)
            same = True
            for k in range(c["steps"]):
                p.grad = t["grads"][k].clone()
                opt.step()
                same &= torch.equal(p.data, t["p"][k])
            report(f"{c['name']}: lamb_adam_step == ConfigurableAdamW(lamb, debias)", same)
        elif c["kind"] == "vq":
            rows = c["rows"]
            ob, osc = t["codebooks"][:, :, None, :], t["scales"].reshape(rows, 1, 1, 1)
            report(f"{c['name']}: vq_decode == _dequantize_weight",
                   torch.equal(vq_decode(t["codes"], t["codebooks"], t["scales"]),
                               _dequantize_weight(t["codes"], ob, osc)))
            oc = beam_search_optimal_codes(reference_weight=t["target"], codebooks=ob, prev_codes=t["codes"],
                                           scales=osc, beam_size=c["beam"], max_update_fraction=c["tau"],
                                           dim_rng=None)
            report(f"{c['name']}: vq_vstep == beam_search_optimal_codes", torch.equal(oc, t["new_codes"]))
    # choice 8: M = 3, beam 4 — the official residue is not re-indexed by source hypothesis
    gen = torch.Generator().manual_seed(5)
    M, K, g, rows, J = 3, 16, 8, 16, 8
    cb = torch.randn(M, K, g, generator=gen) / math.sqrt(M)
    codes = torch.randint(0, K, (rows, J, M), generator=gen)
    sc = 0.5 + torch.rand(rows, 1, generator=gen)
    target = vq_decode(codes, cb, sc) + 0.6 * sc * torch.randn(rows, J * g, generator=gen)
    mine, _ = vq_vstep(codes, cb, sc, target, 4, 1.0)
    off = beam_search_optimal_codes(reference_weight=target, codebooks=cb[:, :, None, :], prev_codes=codes,
                                    scales=sc.reshape(rows, 1, 1, 1), beam_size=4, dim_rng=None)
    err = lambda cc: float((target.to(F64) - vq_decode(cc, cb, sc).to(F64)).square().sum())
    print(f"NOTE official M=3 beam=4: {int((mine != off).any(-1).sum())} of {rows * J} tiles differ; "
          f"squared error prev {err(codes):.4f}, official {err(off):.4f}, here {err(mine):.4f}")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="regenerate into a temp dir and compare")
    ap.add_argument("--out", default=str(FIXTURES))
    ap.add_argument("--validate-official", metavar="AQLM_DIR",
                    help="compare the stored fixtures against a Vahe1994/AQLM checkout")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.validate_official:
        return validate_official(args.validate_official, args.out)
    self_tests()
    if not args.check:
        write_all(args.out)
        return 0
    return check_regenerated(write_all, Path(args.out), "pv-fixtures-")


if __name__ == "__main__":
    sys.exit(main())
