"""QuEST's RMS-clipped uniform grid for the golden vectors, written from crates/lowbit-formats/FORMATS.md
"QuEST RMS-clipped grid (`quest-intB`, `quest-intB:block=G`)" (Panferov et al. 2025, IST-DASLab/QuEST
`base_linear.py`), not from the Rust code.

Every step is numpy float32 in the order of FORMATS.md; the row/block mean of squares is f64 as the text
says. `quantize` works on [n_blocks, G] blocks (a row is one block when `block` is absent).
"""

from __future__ import annotations

import numpy as np

F32 = np.float32

# QuEST's OPTIMAL_GAUSSIAN_SCALES, as printed in FORMATS.md, rounded to f32 once.
ALPHA_TEXT = {1: "0.7978845587140913", 2: "1.4935346200015913", 3: "2.051068354131873",
              4: "2.513930578568423", 5: "2.9160938834961225", 6: "3.276597282593217",
              7: "3.6010497188221655", 8: "3.884938678807525"}
ALPHA = {b: F32(float(s)) for b, s in ALPHA_TEXT.items()}
EPS = F32(1e-8)


class QuestOracleError(AssertionError):
    pass


def _f32(a) -> None:
    if np.asarray(a).dtype != np.float32:
        raise QuestOracleError(f"expected float32, got {np.asarray(a).dtype}")


def rms_f32(blocks: np.ndarray) -> np.ndarray:
    """f32(sqrt((sum_i f64(x_i)^2) / G)): exact f64 squares, index-order f64 sum (cumsum, not numpy's
    pairwise sum), f64 division and sqrt, one rounding to f32."""
    x64 = blocks.astype(np.float64)
    ss = np.cumsum(x64 * x64, axis=1)[:, -1]
    return np.sqrt(ss / np.float64(blocks.shape[1])).astype(np.float32)


def block_params(bits: int, blocks: np.ndarray):
    """(scale, step) per block, both f32 [n_blocks]."""
    n = 2 ** bits
    rms = rms_f32(blocks)
    scale = ALPHA[bits] * rms + EPS  # f32 product, then f32 sum
    _f32(scale)
    step = (F32(2) * scale) / F32(n - 1)
    _f32(step)
    return scale, step


def quantize(bits: int, blocks: np.ndarray):
    """blocks: [n_blocks, G] f32. Returns (codes uint8, dequant f32, scale f32 [n_blocks], k int64)."""
    _f32(blocks)
    if not 1 <= bits <= 8:
        raise QuestOracleError("b must be in 1..8")
    n = 2 ** bits
    scale, step = block_params(bits, blocks)
    if not (np.all(np.isfinite(scale)) and np.all(np.isfinite(step)) and np.all(step > 0)):
        raise QuestOracleError("scale or step overflowed (not defined by FORMATS.md)")
    s, st = scale[:, None], step[:, None]
    xc = np.minimum(np.maximum(blocks, -s), s)
    t = xc / st + F32(0.5)  # f32 quotient, f32 sum
    _f32(t)
    k = np.clip(np.rint(t), F32(1 - n // 2), F32(n // 2))  # np.rint: round half to even, as torch.round
    _f32(k)
    deq = k * st - st * F32(0.5)  # f32 product, exact half, f32 difference
    _f32(deq)
    ki = k.astype(np.int64)
    ci = ki + n // 2 - 1
    if ci.min() < 0 or ci.max() > n - 1:
        raise QuestOracleError("code out of range")
    codes = ci.astype(np.uint8)
    return codes, deq, scale, ki


def decode(bits: int, codes: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Second decoder: step recomputed from the stored scale exactly as on encode."""
    n = 2 ** bits
    scale = np.asarray(scale, dtype=np.float32)
    step = (F32(2) * scale) / F32(n - 1)
    k = (codes.astype(np.int64) - (n // 2 - 1)).astype(np.float32)
    return k * step[:, None] - step[:, None] * F32(0.5)


def tie_block(bits: int, base: np.ndarray, js=(1, -1, 2, -2, 4, -4), iters: int = 40):
    """A block whose entries 1..len(js) are exact ties of the `+0.5` rounding: x = j*step with j a power
    of two (exact f32 products), so xc/step + 0.5 = j + 0.5. `step` depends on the block itself, so the
    entries are set by fixed-point iteration; returns (block, hit) with hit = all ties exact."""
    x = base.astype(np.float32).copy()
    for _ in range(iters):
        _, step = block_params(bits, x[None, :])
        new = x.copy()
        for i, j in enumerate(js):
            new[1 + i] = F32(j) * step[0]
        if np.array_equal(new.view(np.uint32), x.view(np.uint32)):
            break
        x = new
    _, step = block_params(bits, x[None, :])
    hit = all((x[1 + i] / step[0]) == F32(j) for i, j in enumerate(js))
    return x, bool(hit)


def clip_block(bits: int, base: np.ndarray, iters: int = 60):
    """A block with x[1] = +scale and x[2] = -scale exactly (the clipping boundary), by fixed-point
    iteration as in `tie_block`; returns (block, hit)."""
    x = base.astype(np.float32).copy()
    for _ in range(iters):
        scale, _ = block_params(bits, x[None, :])
        new = x.copy()
        new[1], new[2] = scale[0], -scale[0]
        if np.array_equal(new.view(np.uint32), x.view(np.uint32)):
            break
        x = new
    scale, _ = block_params(bits, x[None, :])
    return x, bool(x[1] == scale[0] and x[2] == -scale[0])
