"""Magnitude sparsity masks for the golden vectors, from crates/lowbit-formats/FORMATS.md "Sparsity".

Pure NumPy, written from the text: rank by |x| descending with ties to the lower index (a stable
sort of the keys), keep the first `keep` entries; pruned values become +0.0. Each mask is computed
twice, by a stable argsort and by a rank count (entry i survives when fewer than `keep` entries
beat it: larger key, or an equal key at a lower index), and the two must agree.
"""

from __future__ import annotations

import numpy as np


class SparseOracleError(AssertionError):
    pass


def _keep_first(keys: np.ndarray, keep: int) -> np.ndarray:
    """Boolean mask of the `keep` largest keys of a 1-D f64 array, ties to the lower index."""
    n = keys.shape[0]
    order = np.argsort(-keys, kind="stable")  # -key ascending = key descending; stable keeps index order
    m = np.zeros(n, dtype=bool)
    m[order[:keep]] = True
    # Second formulation: rank counting.
    i = np.arange(n)
    beaten = np.sum((keys[None, :] > keys[:, None]) | ((keys[None, :] == keys[:, None]) & (i[None, :] < i[:, None])),
                    axis=1)
    if not np.array_equal(m, beaten < keep):
        raise SparseOracleError("stable sort and rank count disagree")
    return m


def keep_count(ratio: float, n: int) -> int:
    """keep = n - floor(r * n), the product r * n in f64 (Python floats are f64)."""
    return n - int(np.floor(np.float64(ratio) * np.float64(n)))


def unstructured(x: np.ndarray, ratio: float, per_row: bool) -> np.ndarray:
    """x: [rows, cols] f32. Per tensor (the whole slice is one ranking unit) or per row."""
    mag = np.abs(x.astype(np.float64))
    if per_row:
        return np.stack([_keep_first(r, keep_count(ratio, r.size)) for r in mag])
    flat = mag.reshape(-1)
    return _keep_first(flat, keep_count(ratio, flat.size)).reshape(x.shape)


def n_of_m(x: np.ndarray, n: int, m: int) -> np.ndarray:
    """Keep n of every m consecutive values of a row (cols % m == 0)."""
    rows, cols = x.shape
    if cols % m:
        raise SparseOracleError("cols % m != 0")
    g = np.abs(x.astype(np.float64)).reshape(-1, m)
    return np.stack([_keep_first(r, n) for r in g]).reshape(rows, cols)


def pairs_4_of_8(x: np.ndarray) -> np.ndarray:
    """QuEST FourEight: each group of 8 = 4 pairs; pair norm a^2 + b^2 in f64; keep the 2 largest."""
    rows, cols = x.shape
    if cols % 8:
        raise SparseOracleError("cols % 8 != 0")
    p = x.astype(np.float64).reshape(-1, 4, 2)
    norms = p[..., 0] * p[..., 0] + p[..., 1] * p[..., 1]  # exact squares, one f64 rounding in the sum
    kp = np.stack([_keep_first(r, 2) for r in norms])  # [groups, 4]
    return np.repeat(kp, 2, axis=1).reshape(rows, cols)


def apply(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Survivors unchanged (a surviving -0 stays -0), pruned values +0.0."""
    return np.where(mask, x, np.float32(0.0)).astype(np.float32)


def pack_mask(mask: np.ndarray) -> list[int]:
    """One bit per value, LSB first (FORMATS.md "Packing")."""
    flat = mask.reshape(-1).astype(np.uint8)
    pad = (-flat.size) % 8
    flat = np.concatenate([flat, np.zeros(pad, dtype=np.uint8)]).reshape(-1, 8)
    return [int(b) for b in np.sum(flat << np.arange(8, dtype=np.uint8), axis=1)]
