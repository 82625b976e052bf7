#!/usr/bin/env python3
"""Plain-PyTorch reference AQLM layer calibration for lowbit, and the fixtures of tests/fixtures/aqlm/.

Written from the AQLM paper (Egiazarian, Panferov, Kuznedelev, Frantar, Babenko, Alistarh,
"Extreme Compression of Large Language Models via Additive Quantization", ICML 2024, §3: the
additive representation and the layer calibration that alternates beam search over codes with
Adam over codebooks and scales; subsection numbers not re-checked), from lowbit's spec
(shared/specs/algorithms.md §3.1, §3.2, §4.2) and from reading Vahe1994/AQLM (`src/aq.py`
QuantizedWeight.__init__ / init_aq_kmeans, `src/kmeans.py` fit_kmeans / find_nearest_cluster, `src/beam_search_xtx.py`
beam_search_optimal_codes / _beam_search_squared_errors / _beam_search_select_best,
`aq_engine.py` AQEngine.add_batch / quantize / _compute_mse, `src/utils.py` _dequantize_weight).
No code was copied.  The Rust AQLM calibration is tested against the fixtures this script writes.
`--validate-official DIR` imports the official src/ and aq_engine.py from DIR and checks, on every
stored fixture, decode == _dequantize_weight (bit for bit), kmeans == fit_kmeans from the same
initial points (assignments identical), beam_search_xtx == beam_search_optimal_codes(dim_rng=None)
(codes identical) and calibrate == AQEngine.quantize with the stored init and the natural order
(codes identical, codebooks/scales within 1e-5).

Usage (torch 2.x, numpy, safetensors — the .venv-hf of tests/fixtures/hf/README.md; written and
run with torch 2.15.0):

    .venv-hf/bin/python tools/aqlm_reference.py           # (re)write tests/fixtures/aqlm/
    .venv-hf/bin/python tools/aqlm_reference.py --check   # regenerate into a temp dir, compare, exit 1 on a difference
    .venv-hf/bin/python tools/aqlm_reference.py --out DIR
    .venv-hf/bin/python tools/aqlm_reference.py --validate-official PATH/TO/Vahe1994/AQLM

API (lowbit layout, out_group_size = 1: codes [d_out, d_in/g, M] int64, codebooks [M, 2^B, g],
scales [d_out, 1])
---
    xtx(X) -> XTX                                        # XᵀX/n in f64, rounded to f32 once
    decode(codes, codebooks, scales) -> W_hat            # s_r · (C_0[b_0] + C_1[b_1] + …), m = 0, 1, … in order
    row_objective(W, W_hat, XTX) -> [d_out] f64          # (W−Ŵ)_r XTX (W−Ŵ)_rᵀ
    objective(W, W_hat, XTX) -> float                    # tr((W−Ŵ) XTX (W−Ŵ)ᵀ)  (f64)
    mse(W, W_hat, XTX) -> tensor                         # objective / d_out, differentiable (the Adam loss)
    init_residual_kmeans(W, M, B, g, iters=100, generator=None, dtype=f32) -> KmeansInit
    kmeans(data, K, iters, init_ids) -> (centroids, assignment, info)
    beam_search_xtx(W, XTX, codes, codebooks, scales, beam_size, group_order=None,
                    codebook_order=None, dtype=f32) -> (codes, info)
    Adam(params, lr=1e-4, betas=(0.0, 0.95), eps=1e-8, amsgrad=True).step(grads)
    adam_steps(W, XTX, codes, codebooks, scales, adam, steps) -> (codebooks, scales, info)
    calibrate(W, XTX, codes, codebooks, scales, beam_size, steps_per_epoch=100, max_epochs=3,
              relative_mse_tolerance=0.01, lr=1e-4, dtype=f32) -> CalibResult

Deliberate choices (every one of them is something the Rust implementation must do the same way)
-----------------------------------------------------------------------------------------------
1.  Layout and decode.  out_group_size = 1 (lowbit's VqCodes has no output groups), scale_nbits = 0
    (one scale per output row), codebook values in f32 (codebook_value_nbits = 16 in the official
    code means "not quantized").  decode: W[r, jg:(j+1)g] = s_r · (C_0[b_{r,j,0}] + C_1[b_{r,j,1}] + …),
    the sum taken left to right in m = 0, 1, … in f32, then multiplied by s_r — the order of lowbit's
    VqCodes and of the official _dequantize_weight (embedding_bag sum, then ·scales; checked equal
    bit for bit in the self tests).
2.  Objective.  XTX = (1/n) Σ_t x_t x_tᵀ over the n rows of X [n, d_in] (one row = one token), as
    AQEngine.add_batch normalises (mean, not 2/n as GPTQ).  It is accumulated in f64 and rounded to
    f32 once; the STORED f32 XTX is the input of everything downstream.  objective = tr(ΔW XTX ΔWᵀ)
    = ‖X (W−Ŵ)ᵀ‖²/n, evaluated in f64 from the f32 tensors; the Adam loss is objective/d_out
    (AQEngine._compute_mse: delta cast to the f64 XTX dtype).  Reported as `obj_*` (not /d_out).
3.  Scales (QuantizedWeight.__init__, scale_nbits = 0): s_r = ‖W_r‖₂ + 1e-9 in f32; k-means runs on
    W/s (f32 division), reshaped to [d_out·d_in/g, g] groups in (row, group) order.
4.  Residual k-means (init_aq_kmeans): for m = 0..M−1: C_m, b_m = kmeans(residual, 2^B);
    residual −= C_m[b_m].  Per codebook, Lloyd's algorithm:
    a. Initial centroids — DEVIATION: the official fit_kmeans takes `data[randperm(N)[:K]]` from the
       global torch RNG (or, with greedy_init, farthest-point).  Here the initial centroids are the
       data points with ids floor(i·N/K), i = 0..K−1 (evenly spaced in (row, group) order), which is
       reproducible without an RNG; with `generator` given, `randperm(N, generator)[:K]` (the
       official kind of choice, seeded).  A candidate whose point equals (exactly) an already chosen
       point is replaced by the next id (+1, +2, … mod N) that is neither chosen nor a duplicate:
       from the second codebook on, the residual of every singleton cluster is exactly 0, and two
       equal initial centroids would tie exactly (the official randperm can pick such duplicates).  The ids are stored (`init_kmeans_ids`) so a Rust k-means
       can start from the very same points either way.  K ≤ N is required (the official code
       would fail to reshape as well); the 1x8g8 fixture therefore uses W [128, 64] (1024 groups
       for 256 centroids), not [16, 64] (128 groups).
    b. Assignment: argmin_k ‖c_k‖² − 2⟨x, c_k⟩ (official: argmax of ⟨x,c⟩ − ½‖c‖², the same
       decision), ties to the lowest k.
    c. Update: centroid = mean of its points (f32 sum in data order, then / count); an empty
       cluster keeps its centroid (official index_reduce_(mean, include_self=False)).
    d. Stop — DEVIATION: when an assignment equals the previous one (then the centroids are
       already the means of it: an exact fixed point), or after `iters` updates (official
       max_iter = 100, spec §3.2).  The official code instead tests allclose(new, old, rtol 1e-6,
       atol 1e-8) every 10th iteration, a float-threshold decision a port cannot reproduce
       exactly; the fixed point it converges to is the same whenever both converge.
    e. Final codes: one more assignment with the final centroids (official find_nearest_cluster).
5.  Beam search (beam_search_optimal_codes with XTX): codes are updated one (input group j,
    codebook m) position at a time, outer loop over j, inner over m, starting from the previous
    codes (coordinate descent).  Rows are independent: each row has its own beam.  For every
    hypothesis h in the beam and every candidate code k of codebook m the score is the row's
    objective with b_{r,j,m} replaced by k, computed incrementally as the official
    _beam_search_squared_errors: score = L_h − 2·s·(⟨c_k, R_h XTX[:, j]⟩ − ⟨c_old, R_h XTX[:, j]⟩)
    + s²·c_k XTX[j,j] c_kᵀ − p_old XTX[j,j] p_oldᵀ, where R_h = W − Ŵ_h + p_old, p_old = s·c_old,
    L_h the hypothesis' carried score.  Of all beam×K candidates the `beam_size` lowest are kept
    (sorted; stable sort, ties → lower hypothesis index, then lower code: the official per-beam
    topk + flat topk leaves ties unspecified).  The carried scores are the selected candidate
    scores (as the official code; they drift from the exact objective by f32 rounding only).  The
    initial beam is the previous codes alone (beam 1), its loss the exact row objective in the
    working dtype.  The result is the best hypothesis (index 0) after the last position.
    Order — DEVIATION: the official AQEngine shuffles the group order and, per group, the codebook
    order with random.Random(seed) (seed = random.getrandbits(256)); here the natural order
    0, 1, … is the default (dim_rng=None in the official function, which it supports), and an
    explicit `group_order` / `codebook_order` can be passed.  All fixtures use the natural order.
    Monotonicity: the unchanged code is always a candidate, so the best score never rises; the
    script asserts on EVERY call that no row's exact f64 objective rose by more than f32 rounding
    (1e-6 · w_r XTX w_rᵀ), and every fixture passes the strict check (after ≤ before, per row).
    Working dtype f32 (official: XTX.to(codebooks.dtype)).
6.  Decision margins.  For every beam-search step and row the sorted candidate scores give the
    gap between the beam_size-th and (beam_size+1)-th candidate (the kept set; for beam 1: best vs
    second best), and at the last step also best vs second best (which hypothesis is returned).
    The minimum over all steps and rows, divided by the row's energy w_r XTX w_rᵀ, is
    `margin_rel` of that pass.  k-means: for every assignment of every Lloyd iteration (and the
    final one) the gap between the nearest and second-nearest centroid score, divided by
    (‖x‖ + ‖c_nearest‖)², minimum over all → `kmeans_margin_rel`.  f32 rounding is ~1e-7 relative;
    every fixture requires every margin ≥ MIN_MARGIN_REL = 1e-5 AND identical codes (k-means
    assignments, every beam-search pass) when the whole pipeline is re-run in f64.  The first seed
    (seed, seed+1, …) that passes is used (`seed_tries` in cases.json).
7.  Adam (aq_engine.py AQEngine.quantize): torch.optim.Adam(lr=1e-4, betas=(0.0, 0.95),
    eps=1e-8, amsgrad=True, weight_decay=0) over {codebooks, scales}, state kept across epochs
    (one optimizer for the whole calibration).  Written out here (class Adam, checked equal to
    torch.optim.Adam bit for bit in the self tests): t += 1; m = β1·m + (1−β1)·g; v = β2·v +
    (1−β2)·g²; v̂max = max(v̂max, v); p −= lr/(1−β1^t) · m / (sqrt(v̂max)/sqrt(1−β2^t) + eps).
    With β1 = 0, m = g.  Gradients by autograd of the f64 loss objective/d_out through decode,
    accumulated into the f32 parameters (official).  Parameters with an exactly zero gradient
    (unused codebook entries) do not move.
8.  Outer loop (AQEngine.quantize): prev_best = ∞; for epoch in 0..max_epochs: for step in
    0..steps_per_epoch: loss = mse; at step 0: stop (return, no Adam, no search) if
    loss/prev_best > 1 − relative_mse_tolerance, else prev_best = min(prev_best, loss); Adam step;
    after the steps: codes ← beam_search_xtx(…).  I.e. Adam first, then the search, as the
    official order.  Fixtures: steps_per_epoch = 100 (official default), lr 1e-4 (default),
    "a couple of outer iterations" (official max_epochs default 1000): 1x8g8 max_epochs 3 with
    tolerance 0.01 (spec §3.2 / README; official default None) — ends by max_epochs; 2x4g8
    max_epochs 4 with tolerance 0.1 — ends by the tolerance test at step 0 of epoch 3, so both
    ways of ending occur; beam sizes 1 and 4 (official default 1) on the same 2x4g8 data.
    XTX here is the stored f32 tensor for both the loss and the search (official: f64 for the
    loss, its f32 cast for the search).
9.  Precision and determinism: f32 throughout (W, XTX, scales, codebooks, k-means, beam search,
    Adam), f64 only for objectives/the loss and for the robustness re-run; torch runs
    single-threaded so that --check is byte-identical.
10. Not implemented (no fixture): out_group_size > 1, scale_nbits > 0, codebook value
    quantization, the faiss k-means, `max_points_per_centroid` subsampling, sparsity_regularizer,
    multi-GPU sharding, and block/global fine-tuning.

Fixture data: W ~ N(0,1) [d_out, d_in]; X [256, d_in] = (Z·A)·diag(c), Z ~ N(0,1),
A = I + 0.5·G/√d_in (correlated inputs), c log-uniform in [1/2, 2]; seeded torch.Generator.
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
    import torch.nn.functional as F
    from safetensors.torch import save_file
except ImportError:  # re-exec in a venv that has torch + safetensors
    for py in VENVS:
        if py.exists() and Path(sys.executable).resolve() != py.resolve():
            os.execv(str(py), [str(py), str(Path(__file__).resolve()), *sys.argv[1:]])
    sys.exit("needs torch and safetensors (e.g. .venv-hf/bin/python tools/aqlm_reference.py)")

F32 = torch.float32
F64 = torch.float64
FIXTURES = ROOT / "tests" / "fixtures" / "aqlm"
SCALE_EPS = 1e-9
MIN_MARGIN_REL = 1e-5
MONOTONE_SLACK = 1e-6


# ---------------------------------------------------------------------------------------------
# representation and objective (paper §3; spec §3.1; official src/utils.py _dequantize_weight,
# aq_engine.py AQEngine.add_batch / _compute_mse)
# ---------------------------------------------------------------------------------------------

def xtx(X):
    """XTX = (1/n) XᵀX over the rows of X [n, d_in]; f64 accumulation (official accumulator_dtype),
    rounded to f32 once (choice 2)."""
    X64 = X.to(F64)
    return (X64.T @ X64 / X.shape[0]).to(F32)


def decode(codes, codebooks, scales):
    """W_hat [..., d_out, d_in] from codes [..., d_out, J, M], codebooks [M, K, g], scales [d_out, 1]:
    s_r · (C_0[b_0] + C_1[b_1] + …), summed left to right in m (choice 1).  Differentiable in
    codebooks and scales."""
    n, J, M = codes.shape[-3:]
    acc = codebooks[0][codes[..., 0]]
    for m in range(1, M):
        acc = acc + codebooks[m][codes[..., m]]
    acc = acc * scales.reshape(n, 1, 1)
    return acc.reshape(*codes.shape[:-3], n, J * codebooks.shape[-1])


def row_objective(W, W_hat, XTX):
    """Per-row (W−Ŵ)_r XTX (W−Ŵ)_rᵀ in f64 [d_out]."""
    d = W.to(F64) - W_hat.to(F64)
    return ((d @ XTX.to(F64)) * d).sum(-1)


def objective(W, W_hat, XTX):
    """tr((W−Ŵ) XTX (W−Ŵ)ᵀ) = ‖X(W−Ŵ)ᵀ‖²/n, f64 (choice 2)."""
    return float(row_objective(W, W_hat, XTX).sum())


def mse(W, W_hat, XTX):
    """The Adam loss of AQEngine._compute_mse: objective / d_out, f64, differentiable."""
    d = W_hat.to(F64) - W.to(F64)
    return (d @ XTX.to(F64)).flatten() @ d.flatten() / W.shape[0]


# ---------------------------------------------------------------------------------------------
# initialisation (official src/aq.py QuantizedWeight.__init__ + init_aq_kmeans, src/kmeans.py)
# ---------------------------------------------------------------------------------------------

def _nearest(data, C):
    """Nearest centroid (score ‖c‖² − 2⟨x,c⟩, ties → lowest index) and the relative decision margin
    (second − best score) / (‖x‖ + ‖c_best‖)² (choice 4b, 6)."""
    score = (C * C).sum(-1)[None, :] - 2 * data @ C.T  # [N, K]
    two = torch.topk(score, 2, dim=1, largest=False, sorted=True) if C.shape[0] > 1 else None
    assign = torch.argmin(score, dim=1)
    if two is None:
        return assign, float("inf")
    gap = (two.values[:, 1] - two.values[:, 0]).to(F64)
    den = (data.to(F64).norm(dim=1) + C[assign].to(F64).norm(dim=1)) ** 2
    return assign, float((gap / den.clamp_min(1e-30)).min())


def kmeans(data, K, iters, init_ids):
    """Lloyd's algorithm on data [N, g] from the centroids data[init_ids] (choice 4a–e).
    Returns (centroids [K, g], assignment [N] int64, info)."""
    C = data[init_ids].clone()
    prev = None
    margin = float("inf")
    updates = 0
    converged = False
    for _ in range(iters + 1):
        assign, mg = _nearest(data, C)
        margin = min(margin, mg)
        if prev is not None and torch.equal(assign, prev):
            converged = True
            break
        if updates == iters:
            break
        sums = torch.zeros_like(C).index_add_(0, assign, data)
        counts = torch.bincount(assign, minlength=K)
        newC = sums / counts.clamp_min(1).to(data.dtype)[:, None]
        C = torch.where((counts > 0)[:, None], newC, C)
        prev = assign
        updates += 1
    if not converged:  # final assignment with the last centroids (official find_nearest_cluster)
        assign, mg = _nearest(data, C)
        margin = min(margin, mg)
    return C, assign, dict(updates=updates, converged=converged, margin_rel=margin,
                           empty=int((torch.bincount(assign, minlength=K) == 0).sum()))


def _initial_ids(data, K, generator=None):
    """Data ids of the initial centroids (choice 4a): the candidates floor(i·N/K), i = 0..K−1 (or a
    seeded randperm), each replaced by the next id (i+1, i+2, … mod N) while its point equals an
    already chosen point exactly — residuals of singleton clusters are exactly 0, and duplicate
    centroids would tie exactly."""
    N = data.shape[0]
    cand = (torch.randperm(N, generator=generator)[:K].tolist() if generator is not None
            else [i * N // K for i in range(K)])
    chosen, seen, used = [], set(), set()
    for c in cand:
        for off in range(N):
            i = (c + off) % N
            key = tuple(data[i].tolist())
            if i not in used and key not in seen:
                break
        else:
            raise ValueError(f"fewer than K = {K} distinct points")
        chosen.append(i)
        used.add(i)
        seen.add(key)
    return torch.tensor(chosen, dtype=torch.int64)


@dataclass
class KmeansInit:
    codes: torch.Tensor       # [d_out, J, M] int64
    codebooks: torch.Tensor   # [M, K, g]
    scales: torch.Tensor      # [d_out, 1]
    init_ids: torch.Tensor    # [M, K] int64, data ids of the initial centroids of each codebook
    info: list = field(default_factory=list)


def init_residual_kmeans(W, M, B, g, iters=100, generator=None, dtype=F32):
    """Scales s_r = ‖W_r‖ + 1e-9, then M rounds of k-means on the residual of W/s (choices 3, 4)."""
    W = W.to(dtype)
    n, d_in = W.shape
    assert d_in % g == 0
    J, K = d_in // g, 2 ** B
    N = n * J
    assert K <= N, f"k-means needs at least K = {K} groups, have {N}"
    scales = W.norm(dim=1, keepdim=True) + SCALE_EPS
    residual = (W / scales).reshape(N, g).clone()
    codes, books, ids_all, info = [], [], [], []
    for _ in range(M):
        ids = _initial_ids(residual, K, generator)
        C, a, inf = kmeans(residual, K, iters, ids)
        residual = residual - C[a]
        codes.append(a.reshape(n, J, 1))
        books.append(C)
        ids_all.append(ids)
        info.append(inf)
    return KmeansInit(torch.cat(codes, -1), torch.stack(books), scales, torch.stack(ids_all), info)


# ---------------------------------------------------------------------------------------------
# beam search under the XTX objective (official src/beam_search_xtx.py)
# ---------------------------------------------------------------------------------------------

def beam_search_xtx(W, XTX, codes, codebooks, scales, beam_size, group_order=None,
                    codebook_order=None, dtype=F32):
    """One pass of beam search over all (input group, codebook) positions (choice 5).
    Returns (new codes [d_out, J, M] int64, info with the objective before/after and margins)."""
    n, J, M = codes.shape
    _, K, g = codebooks.shape
    Wd, X, cb = W.to(dtype), XTX.to(dtype), codebooks.to(dtype)
    s = scales.to(dtype).reshape(n)
    rows = torch.arange(n)
    group_order = list(range(J)) if group_order is None else list(group_order)
    energy = row_objective(W, torch.zeros_like(W), XTX)
    before = row_objective(W, decode(codes, codebooks, scales), XTX)

    bc = codes.to(torch.int64).unsqueeze(0)                      # [H, n, J, M]
    bw = decode(bc, cb, s)                                       # [H, n, d_in]
    d0 = Wd - bw[0]
    bl = ((d0 @ X) * d0).sum(-1)[None]                           # [H, n]
    margin_abs = torch.full((n,), float("inf"), dtype=F64)
    positions = [(j, m) for j in group_order
                 for m in (range(M) if codebook_order is None else codebook_order[j])]
    for step, (j, m) in enumerate(positions):
        H = bc.shape[0]
        sl = slice(j * g, (j + 1) * g)
        Xs, Xss = X[:, sl], X[sl, sl]
        prev_unscaled = cb[m][bc[:, :, j, m]]                    # [H, n, g]
        prev_part = prev_unscaled * s[None, :, None]
        R = Wd[None] - bw
        R[:, :, sl] += prev_part                                 # residual without this part
        RX = R @ Xs                                              # [H, n, g]
        dots = torch.einsum("kg,hng->hkn", cb[m], RX) - (prev_unscaled * RX).sum(-1)[:, None, :]
        dots = dots * s[None, None, :]
        cand_norm = ((cb[m] @ Xss) * cb[m]).sum(-1)[:, None] * (s * s)[None, :]   # [K, n]
        old_norm = ((prev_part @ Xss) * prev_part).sum(-1)       # [H, n]
        scores = bl[:, None, :] - 2 * dots + cand_norm[None] - old_norm[:, None, :]  # [H, K, n]
        flat = scores.reshape(H * K, n)
        srt, idx = torch.sort(flat, dim=0, stable=True)
        keep = min(beam_size, H * K)
        if H * K > keep:
            margin_abs = torch.minimum(margin_abs, (srt[keep] - srt[keep - 1]).to(F64))
        if step == len(positions) - 1 and keep > 1:
            margin_abs = torch.minimum(margin_abs, (srt[1] - srt[0]).to(F64))
        top = idx[:keep]                                         # [B, n]
        src, code = top // K, top % K
        bc = bc[src, rows[None, :]].clone()                      # [B, n, J, M]
        bc[:, :, j, m] = code
        bw = decode(bc, cb, s)
        bl = srt[:keep]
    new_codes = bc[0]
    after = row_objective(W, decode(new_codes, codebooks, scales), XTX)
    drift = float(((bl[0].to(F64) - after).abs() / energy).max())  # carried score vs exact
    assert bool((after <= before + MONOTONE_SLACK * energy).all()), "beam search raised the objective"
    info = dict(obj_before=float(before.sum()), obj_after=float(after.sum()),
                strictly_monotone=bool((after <= before).all()),
                margin_abs=float(margin_abs.min()),
                margin_rel=float((margin_abs / energy).min()), score_drift_rel=drift,
                codes_changed=int((new_codes != codes).sum()))
    return new_codes, info


# ---------------------------------------------------------------------------------------------
# codebook / scale updates and the outer loop (official aq_engine.py AQEngine.quantize)
# ---------------------------------------------------------------------------------------------

class Adam:
    """torch.optim.Adam(amsgrad=True, weight_decay=0) written out (choice 7)."""

    def __init__(self, params, lr=1e-4, betas=(0.0, 0.95), eps=1e-8, amsgrad=True):
        self.lr, self.betas, self.eps, self.amsgrad = lr, betas, eps, amsgrad
        self.t = 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.vmax = [torch.zeros_like(p) for p in params]

    def step(self, params, grads):
        self.t += 1
        b1, b2 = self.betas
        bc1 = 1 - b1 ** self.t
        bc2_sqrt = math.sqrt(1 - b2 ** self.t)
        out = []
        for i, (p, gr) in enumerate(zip(params, grads)):
            self.m[i] = self.m[i] * b1 + gr * (1 - b1) if b1 != 0 else gr.clone()
            self.v[i] = self.v[i] * b2 + gr * gr * (1 - b2)
            if self.amsgrad:
                self.vmax[i] = torch.maximum(self.vmax[i], self.v[i])
                denom = self.vmax[i].sqrt() / bc2_sqrt + self.eps
            else:
                denom = self.v[i].sqrt() / bc2_sqrt + self.eps
            out.append(p - (self.lr / bc1) * (self.m[i] / denom))
        return out


def _loss_and_grads(W, XTX, codes, codebooks, scales):
    cb = codebooks.detach().requires_grad_(True)
    sc = scales.detach().requires_grad_(True)
    loss = mse(W, decode(codes, cb, sc), XTX)
    loss.backward()
    return float(loss.detach()), cb.grad, sc.grad


def adam_steps(W, XTX, codes, codebooks, scales, adam, steps, stop_check=None):
    """`steps` Adam steps on {codebooks, scales} against mse (choice 7).  stop_check(loss0) is
    called with the loss before the first step and may return True to stop (choice 8)."""
    losses = []
    min_rel_grad = float("inf")
    for step in range(steps):
        loss, gcb, gsc = _loss_and_grads(W, XTX, codes, codebooks, scales)
        losses.append(loss)
        if step == 0 and stop_check is not None and stop_check(loss):
            return codebooks, scales, dict(stopped=True, losses=losses)
        for gr in (gcb, gsc):
            a = gr.abs()
            nz = a[a > 0]
            if nz.numel():
                min_rel_grad = min(min_rel_grad, float(nz.min() / a.max()))
        codebooks, scales = adam.step([codebooks, scales], [gcb, gsc])
    return codebooks, scales, dict(stopped=False, losses=losses, min_rel_grad=min_rel_grad)


@dataclass
class CalibResult:
    codes: torch.Tensor
    codebooks: torch.Tensor
    scales: torch.Tensor
    epochs: list  # per epoch: obj at step 0, after Adam, after search; margins; snapshots


def calibrate(W, XTX, codes, codebooks, scales, beam_size, steps_per_epoch=100, max_epochs=3,
              relative_mse_tolerance=0.01, lr=1e-4, betas=(0.0, 0.95), dtype=F32):
    """Alternate Adam on {codebooks, scales} and beam search on codes until the relative gain of an
    epoch is below the tolerance or max_epochs is reached (choice 8, official order)."""
    W, XTX = W.to(dtype), XTX.to(dtype)
    codebooks, scales = codebooks.to(dtype), scales.to(dtype)
    adam = Adam([codebooks, scales], lr=lr, betas=betas)
    prev_best = [float("inf")]
    epochs = []

    def stop(loss0):
        if relative_mse_tolerance is not None:
            if loss0 / prev_best[0] > 1.0 - relative_mse_tolerance:
                return True
            prev_best[0] = min(prev_best[0], loss0)
        return False

    for epoch in range(max_epochs):
        codebooks, scales, ainfo = adam_steps(W, XTX, codes, codebooks, scales, adam,
                                              steps_per_epoch, stop)
        rec = dict(epoch=epoch, obj_start=ainfo["losses"][0] * W.shape[0])
        if ainfo["stopped"]:
            rec["stopped_by_tolerance"] = True
            epochs.append(rec)
            break
        rec["obj_after_adam"] = objective(W, decode(codes, codebooks, scales), XTX)
        rec["adam_min_rel_grad"] = ainfo["min_rel_grad"]
        rec["codebooks_after_adam"], rec["scales_after_adam"] = codebooks, scales
        codes, binfo = beam_search_xtx(W, XTX, codes, codebooks, scales, beam_size, dtype=dtype)
        rec["beam_search"] = binfo
        rec["obj_after_search"] = binfo["obj_after"]
        rec["codes_after_search"] = codes
        epochs.append(rec)
    return CalibResult(codes, codebooks, scales, epochs)


# ---------------------------------------------------------------------------------------------
# self tests
# ---------------------------------------------------------------------------------------------

def self_tests():
    gen = torch.Generator().manual_seed(7)
    # decode == official-style embedding_bag dequantisation, bit for bit
    n, J, M, K, g = 6, 4, 3, 16, 8
    codes = torch.randint(0, K, (n, J, M), generator=gen)
    cb = torch.randn(M, K, g, generator=gen)
    sc = torch.rand(n, 1, generator=gen) + 0.5
    offs = torch.arange(0, M * K, K)
    eb = F.embedding_bag((codes.reshape(-1, M) + offs), cb.reshape(M * K, g), mode="sum")
    ref = (eb.view(n, J, g) * sc.view(n, 1, 1)).reshape(n, J * g)
    assert torch.equal(decode(codes, cb, sc), ref), "decode != embedding_bag"
    # Adam == torch.optim.Adam(amsgrad) bit for bit
    p1 = [torch.randn(5, 3, generator=gen), torch.randn(4, 1, generator=gen)]
    p2 = [p.clone().requires_grad_(True) for p in p1]
    opt = torch.optim.Adam(p2, lr=1e-4, betas=(0.0, 0.95), amsgrad=True)
    mine = Adam(p1)
    for _ in range(5):
        gr = [torch.randn(p.shape, generator=gen) * 10 ** float(torch.randn(1, generator=gen))
              for p in p1]
        for p, gg in zip(p2, gr):
            p.grad = gg.clone()
        opt.step()
        p1 = mine.step(p1, gr)
    assert all(torch.equal(a, b.detach()) for a, b in zip(p1, p2)), "Adam != torch.optim.Adam"
    # beam search with J = 1, M = 2, beam = K is exhaustive: equals the brute-force optimum
    n, d, K, g = 5, 8, 8, 8
    W = torch.randn(n, d, generator=gen)
    Xs = torch.randn(64, d, generator=gen) @ (torch.eye(d) + 0.3 * torch.randn(d, d, generator=gen))
    XTX = xtx(Xs)
    cb = torch.randn(2, K, g, generator=gen) * 0.3
    sc = W.norm(dim=1, keepdim=True)
    c0 = torch.randint(0, K, (n, 1, 2), generator=gen)
    got, info = beam_search_xtx(W, XTX, c0, cb, sc, beam_size=K, dtype=F64)
    allc = torch.stack(torch.meshgrid(torch.arange(K), torch.arange(K), indexing="ij"), -1).reshape(-1, 2)
    for r in range(n):
        cand = allc[:, None, None, :].expand(K * K, 1, 1, 2)
        What = decode(cand, cb, sc[r:r + 1])[:, 0]  # [K*K, d]
        obj = row_objective(W[r:r + 1].expand(K * K, d), What, XTX)
        assert torch.equal(got[r, 0], allc[int(obj.argmin())]), "beam=K is not exhaustive"
    # incremental scores == exact objective (beam 1, f64): every carried loss is exact
    got1, info1 = beam_search_xtx(W, XTX, c0, cb, sc, beam_size=1, dtype=F64)
    assert info1["strictly_monotone"] and info1["obj_after"] <= info1["obj_before"]
    print("PASS self tests")


# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------

CASES = [
    # reaches max_epochs = 3 (every epoch gains more than 1 %)
    dict(name="1x8g8", rows=128, cols=64, M=1, B=8, g=8, beams=[1], max_epochs=3, rel_tol=0.01),
    # same data and init for beam 1 and beam 4; tolerance 0.1 stops at the start of epoch 3
    dict(name="2x4g8", rows=16, cols=64, M=2, B=4, g=8, beams=[1, 4], max_epochs=4, rel_tol=0.1),
]
N_SAMPLES = 256
KMEANS_ITERS = 100
STEPS_PER_EPOCH = 100
LR = 1e-4
SEED_BASE = 20261202


def case_seed(name):
    return SEED_BASE + sum((i + 1) * ord(c) for i, c in enumerate(name))


def make_data(case, seed):
    gen = torch.Generator().manual_seed(seed)
    rows, cols = case["rows"], case["cols"]
    W = torch.randn(rows, cols, generator=gen, dtype=F32)
    Z = torch.randn(N_SAMPLES, cols, generator=gen, dtype=F32)
    A = torch.eye(cols) + 0.5 * torch.randn(cols, cols, generator=gen, dtype=F32) / math.sqrt(cols)
    c = torch.exp((torch.rand(cols, generator=gen, dtype=F32) * 2 - 1) * math.log(2.0))
    X = (Z @ A) * c
    return W, xtx(X)


def run_pipeline(case, W, XTX, beam, dtype):
    init = init_residual_kmeans(W, case["M"], case["B"], case["g"], KMEANS_ITERS, dtype=dtype)
    bs_codes, bs_info = beam_search_xtx(W, XTX, init.codes, init.codebooks, init.scales, beam,
                                        dtype=dtype)
    cal = calibrate(W, XTX, init.codes, init.codebooks, init.scales, beam, STEPS_PER_EPOCH,
                    case["max_epochs"], case["rel_tol"], LR, dtype=dtype)
    return init, bs_codes, bs_info, cal


def run_case(case):
    base = case_seed(case["name"])
    for tries in range(40):
        seed = base + tries
        W, XTX = make_data(case, seed)
        results, ok, why = {}, True, []
        for beam in case["beams"]:
            r32 = run_pipeline(case, W, XTX, beam, F32)
            init, bs_codes, bs_info, cal = r32
            margins = [i["margin_rel"] for i in init.info] + [bs_info["margin_rel"]]
            margins += [e["beam_search"]["margin_rel"] for e in cal.epochs if "beam_search" in e]
            if min(margins) < MIN_MARGIN_REL:  # cheap rejection before the f64 re-run
                ok = False
                why.append(f"beam {beam}: margin {min(margins):.1e}")
                break
            r64 = run_pipeline(case, W, XTX, beam, F64)
            same = torch.equal(init.codes, r64[0].codes) and torch.equal(bs_codes, r64[1])
            same &= len(cal.epochs) == len(r64[3].epochs) and torch.equal(cal.codes, r64[3].codes)
            same &= all(torch.equal(a["codes_after_search"], b["codes_after_search"])
                        for a, b in zip(cal.epochs, r64[3].epochs) if "codes_after_search" in a)
            monotone = bs_info["strictly_monotone"] and all(
                e["beam_search"]["strictly_monotone"] for e in cal.epochs if "beam_search" in e)
            changed = bs_info["codes_changed"] > 0
            if min(margins) < MIN_MARGIN_REL or not same or not monotone or not changed:
                ok = False
                why.append(f"beam {beam}: margin {min(margins):.1e} same {same} "
                           f"monotone {monotone} changed {changed}")
            results[beam] = (r32, r64)
        if ok:
            return seed, tries, W, XTX, results
        print(f"  {case['name']} seed {seed} rejected: {'; '.join(why)}")
    raise RuntimeError(f"no seed passed for {case['name']}")


def case_outputs(case, seed, tries, W, XTX, beam, r32, r64):
    init, bs_codes, bs_info, cal = r32
    i32 = lambda t: t.to(torch.int32).contiguous()
    t = {"W": W, "XTX": XTX,
         "init_codes": i32(init.codes), "init_codebooks": init.codebooks, "init_scales": init.scales,
         "init_kmeans_ids": i32(init.init_ids), "init_W_hat": decode(init.codes, init.codebooks, init.scales),
         "bs_codes": i32(bs_codes),
         "final_codes": i32(cal.codes), "final_codebooks": cal.codebooks, "final_scales": cal.scales}
    epochs = []
    for e in cal.epochs:
        k = e["epoch"]
        rec = dict(epoch=k, obj_start=e["obj_start"])
        if e.get("stopped_by_tolerance"):
            rec["stopped_by_tolerance"] = True
        else:
            t[f"epoch{k}_codebooks_after_adam"] = e["codebooks_after_adam"]
            t[f"epoch{k}_scales_after_adam"] = e["scales_after_adam"]
            t[f"epoch{k}_codes_after_search"] = i32(e["codes_after_search"])
            b = e["beam_search"]
            rec.update(obj_after_adam=e["obj_after_adam"], obj_after_search=e["obj_after_search"],
                       search_margin_rel=b["margin_rel"], search_margin_abs=b["margin_abs"],
                       search_codes_changed=b["codes_changed"], search_score_drift_rel=b["score_drift_rel"],
                       adam_min_rel_grad=e["adam_min_rel_grad"])
        epochs.append(rec)
    t = {k: v.detach().clone().contiguous() for k, v in t.items()}
    f64_cal = r64[3]
    diff = lambda a, b: float((a.to(F64) - b.to(F64)).abs().max())
    meta = dict(
        d_out=case["rows"], d_in=case["cols"], M=case["M"], B=case["B"], g=case["g"],
        codebook_size=2 ** case["B"], beam_size=beam, n_samples=N_SAMPLES, seed=seed, seed_tries=tries,
        kmeans_iters=KMEANS_ITERS, kmeans_init="ids floor(i*N/K), i=0..K-1; an exact duplicate point -> next id",
        kmeans=[dict(updates=i["updates"], converged=i["converged"], empty_clusters=i["empty"],
                     margin_rel=i["margin_rel"]) for i in init.info],
        obj_init=objective(W, decode(init.codes, init.codebooks, init.scales), XTX),
        obj_after_bs=bs_info["obj_after"], bs_margin_rel=bs_info["margin_rel"],
        bs_margin_abs=bs_info["margin_abs"], bs_codes_changed=bs_info["codes_changed"],
        bs_score_drift_rel=bs_info["score_drift_rel"],
        adam=dict(lr=LR, betas=[0.0, 0.95], eps=1e-8, amsgrad=True, steps_per_epoch=STEPS_PER_EPOCH),
        max_epochs=case["max_epochs"], relative_mse_tolerance=case["rel_tol"], epochs=epochs,
        obj_final=objective(W, decode(cal.codes, cal.codebooks, cal.scales), XTX),
        obj_zero=objective(W, torch.zeros_like(W), XTX),
        f64_rerun=dict(codes_identical=True,
                       init_codebooks_max_abs_diff=diff(init.codebooks, r64[0].codebooks),
                       init_scales_max_rel_diff=float(((init.scales.to(F64) - r64[0].scales) / r64[0].scales).abs().max()),
                       final_codebooks_max_abs_diff=diff(cal.codebooks, f64_cal.codebooks),
                       final_scales_max_rel_diff=float(((cal.scales.to(F64) - f64_cal.scales) / f64_cal.scales).abs().max()),
                       after_adam_codebooks_max_abs_diff=[
                           diff(a["codebooks_after_adam"], b["codebooks_after_adam"])
                           for a, b in zip(cal.epochs, f64_cal.epochs) if "codebooks_after_adam" in a],
                       after_adam_scales_max_rel_diff=[
                           float(((a["scales_after_adam"].to(F64) - b["scales_after_adam"]) / b["scales_after_adam"]).abs().max())
                           for a, b in zip(cal.epochs, f64_cal.epochs) if "scales_after_adam" in a],
                       obj_final_rel_diff=abs(objective(W, decode(f64_cal.codes, f64_cal.codebooks, f64_cal.scales), XTX)
                                              / objective(W, decode(cal.codes, cal.codebooks, cal.scales), XTX) - 1)),
    )
    return t, meta


def validate_official(aqlm_dir):
    """Cross-check against a Vahe1994/AQLM checkout (its src/ and aq_engine.py; nothing is copied):
    decode vs _dequantize_weight, kmeans vs fit_kmeans from the same initial points, and, on every
    stored fixture, beam_search_xtx vs beam_search_optimal_codes (dim_rng=None) from the stored
    init and calibrate vs AQEngine.quantize (its QuantizedWeight replaced by the stored init, its
    dim_rng shuffle replaced by the natural order) — codes exactly, floats within 1e-5."""
    import contextlib
    import io
    import types
    from argparse import Namespace
    from safetensors.torch import load_file

    os.environ["AQ_USE_JIT"] = "0"
    sys.path.insert(0, str(Path(aqlm_dir).resolve()))
    from src.utils import _dequantize_weight
    from src.kmeans import fit_kmeans
    from src.beam_search_xtx import beam_search_optimal_codes
    from src.aq import QuantizedWeight
    import aq_engine

    ok = True

    def report(name, good, extra=""):
        nonlocal ok
        ok &= bool(good)
        print(f"{'PASS' if good else 'FAIL'} official {name} {extra}")

    index = json.loads((FIXTURES / "cases.json").read_text())
    for case in index["cases"]:
        t = load_file(str(FIXTURES / case["file"]))
        W, XTX = t["W"], t["XTX"]
        codes, books, scales = t["init_codes"].long(), t["init_codebooks"], t["init_scales"]
        n, M, g = W.shape[0], case["M"], case["g"]
        ob_books, ob_scales = books[:, :, None, :], scales.reshape(n, 1, 1, 1)
        report(f"{case['name']}: decode == _dequantize_weight",
               torch.equal(decode(codes, books, scales), _dequantize_weight(codes, ob_books, ob_scales)))
        # k-means of the first codebook from the same initial points
        data = (W / scales).reshape(-1, g)
        K = 2 ** case["B"]
        torch.manual_seed(1234)
        ids = torch.randperm(data.shape[0])[:K]
        torch.manual_seed(1234)
        oc, oa, _ = fit_kmeans(data, k=K, max_iter=100)
        mc, ma, _ = kmeans(data, K, 100, ids)
        report(f"{case['name']}: kmeans == fit_kmeans (random init ids)", torch.equal(oa, ma),
               f"max |dC| {float((oc - mc).abs().max()):.1e}")
        # beam search from the stored init
        with contextlib.redirect_stderr(io.StringIO()):
            oc = beam_search_optimal_codes(XTX=XTX, reference_weight=W, codebooks=ob_books,
                                           prev_codes=codes.int(), scales=ob_scales,
                                           beam_size=case["beam_size"], dim_rng=None, verbose=False)
        report(f"{case['name']}: beam_search_xtx == beam_search_optimal_codes",
               torch.equal(oc.long(), t["bs_codes"].long()))
        # the whole calibration loop
        layer = torch.nn.Linear(W.shape[1], n, bias=False)
        layer.weight.data.copy_(W)
        eng = aq_engine.AQEngine(layer)
        eng.XTX.copy_(XTX.to(F64))
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            qw = QuantizedWeight(reference_weight=W, in_group_size=g, out_group_size=1,
                                 num_codebooks=M, nbits_per_codebook=case["B"], max_iter=1)
        qw.codes.data.copy_(codes.int())
        qw.codebooks.data.copy_(ob_books)
        qw.scales.data.copy_(ob_scales)

        class NaturalOrder:
            def __init__(self, *a):
                pass

            def shuffle(self, seq):
                pass

        saved = (aq_engine.QuantizedWeight, aq_engine.random)
        aq_engine.QuantizedWeight = lambda **kw: qw
        aq_engine.random = types.SimpleNamespace(Random=NaturalOrder, getrandbits=lambda k: 0)
        args = Namespace(devices=[torch.device("cpu")], out_group_size=1, in_group_size=g,
                         num_codebooks=M, nbits_per_codebook=case["B"], codebook_value_nbits=16,
                         codebook_value_num_groups=1, scale_nbits=0, init_max_iter=1,
                         init_max_points_per_centroid=None, lr=LR, max_epochs=case["max_epochs"],
                         steps_per_epoch=STEPS_PER_EPOCH, beam_size=case["beam_size"],
                         relative_mse_tolerance=case["relative_mse_tolerance"], print_frequency=10 ** 9)
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                eng.quantize(args=args, verbose=False)
        finally:
            aq_engine.QuantizedWeight, aq_engine.random = saved
        same = torch.equal(qw.codes.data.long(), t["final_codes"].long())
        dcb = float((qw.codebooks.data[:, :, 0, :] - t["final_codebooks"]).abs().max())
        dsc = float((qw.scales.data.reshape(n, 1) - t["final_scales"]).abs().max())
        report(f"{case['name']}: calibrate == AQEngine.quantize", same and dcb <= 1e-5 and dsc <= 1e-5,
               f"codes {'==' if same else '!='}, max |dCb| {dcb:.1e}, max |ds| {dsc:.1e}")
    return 0 if ok else 1


def write_all(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    index = {"generator": "tools/aqlm_reference.py", "min_margin_rel_required": MIN_MARGIN_REL,
             "layout": "codes [d_out, d_in/g, M] int32, codebooks [M, 2^B, g] f32, scales [d_out, 1] f32",
             "objective": "tr((W - W_hat) XTX (W - W_hat)^T), f64 from the f32 tensors; XTX = X^T X / n",
             "cases": []}
    for case in CASES:
        seed, tries, W, XTX, results = run_case(case)
        for beam in case["beams"]:
            name = f"{case['name']}-beam{beam}"
            tensors, meta = case_outputs(case, seed, tries, W, XTX, beam, *results[beam])
            save_file(tensors, str(out / f"{name}.safetensors"))
            index["cases"].append({"name": name, "file": f"{name}.safetensors", **meta})
            ep = " ".join(f"{e.get('obj_after_search', float('nan')):.5f}" for e in meta["epochs"])
            mg = min([k["margin_rel"] for k in meta["kmeans"]] + [meta["bs_margin_rel"]]
                     + [e["search_margin_rel"] for e in meta["epochs"] if "search_margin_rel" in e])
            print(f"{name:14s} obj zero {meta['obj_zero']:.4f} init {meta['obj_init']:.5f} "
                  f"bs {meta['obj_after_bs']:.5f} epochs [{ep}] final {meta['obj_final']:.5f} "
                  f"min margin {mg:.2e} tries {tries}")
    (out / "cases.json").write_text(json.dumps(index, indent=1) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="regenerate into a temp dir and compare")
    ap.add_argument("--out", default=str(FIXTURES))
    ap.add_argument("--validate-official", metavar="AQLM_DIR",
                    help="compare against a Vahe1994/AQLM checkout instead of writing fixtures")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.validate_official:
        return validate_official(args.validate_official)
    self_tests()
    if not args.check:
        write_all(args.out)
        return 0
    return check_regenerated(write_all, Path(args.out), "aqlm-fixtures-")


if __name__ == "__main__":
    sys.exit(main())
