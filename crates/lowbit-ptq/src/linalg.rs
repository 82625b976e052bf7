//! The dense linear algebra GPTQ needs, written out by hand on f64 GEMM blocks (no BLAS/LAPACK):
//! the lower Cholesky factor, the inverse of a lower-triangular matrix, and from them the upper
//! Cholesky factor of H⁻¹ (paper §4 "Cholesky reformulation"; gptq: `cholesky` →
//! `cholesky_inverse` → `cholesky(upper=True)`).
//!
//! Matrices are square, row-major `[n, n]` f32. Every entry is a sum of f64 products of f32
//! values rounded to f32 once, as in the unblocked loops this replaces (kept in
//! `linalg_tests.rs` as the reference); blocking only regroups those f64 sums: the part of a
//! sum over earlier blocks is one GEMM ([`crate::dense`]), the part inside the block the old
//! recurrence. Results agree with the unblocked ones up to f64 reassociation before the f32
//! rounding (tested on sizes 1, 7, 64, 129, 576: observed bit for bit).

use crate::PtqError;
use crate::dense::{View, gemm_seq, par_row_blocks};
use rayon::prelude::*;

/// Columns per panel (and per block of L⁻¹): inside a panel the recurrences run as vector
/// loops (O(n²·NB) work in all); everything across panels is GEMM.
const NB: usize = 128;

/// Lower Cholesky factor L (A = L·Lᵀ) of a symmetric matrix, reading only A's lower triangle;
/// the strict upper triangle of the result is 0. A pivot that is not > 0 and finite is an
/// error naming `stage` and the column. Right-looking by panels: the trailing matrix S (f64)
/// receives −L_panel·L_panelᵀ after each panel, so L[i][j] = f32((A[i][j] − Σ_k L[i][k]·L[j][k])
/// / L[j][j]) with the f64 sum split into panel sums.
pub(crate) fn cholesky_lower(
    a: &[f32],
    n: usize,
    stage: &'static str,
) -> Result<Vec<f32>, PtqError> {
    let mut s: Vec<f64> = a.iter().map(|&v| v as f64).collect();
    // L as f64 (values exactly the f32 L): the GEMM operand.
    let mut l = vec![0f64; n * n];
    for j0 in (0..n).step_by(NB) {
        let j1 = (j0 + NB).min(n);
        // Diagonal block, column by column.
        for j in j0..j1 {
            let lj = &l[j * n + j0..j * n + j];
            let d = lj.iter().fold(s[j * n + j], |d, &v| d - v * v);
            if !(d > 0.0 && d.is_finite()) {
                return Err(PtqError::NotPositiveDefinite {
                    stage,
                    index: j,
                    pivot: d,
                });
            }
            l[j * n + j] = d.sqrt() as f32 as f64;
            for i in j + 1..j1 {
                let t = dot_sub(
                    s[i * n + j],
                    &l[i * n + j0..i * n + j],
                    &l[j * n + j0..j * n + j],
                );
                l[i * n + j] = (t / l[j * n + j]) as f32 as f64;
            }
        }
        // Rows below the diagonal block: independent forward substitutions, in parallel, each
        // as right-looking axpys over the transposed diagonal block (t[j'] −= L[i][j]·L[j'][j],
        // j ascending: the old sum's order) rather than latency-bound dot products.
        let w = j1 - j0;
        let mut lt = vec![0f64; w * w];
        for j in 0..w {
            for jp in j..w {
                lt[j * w + jp] = l[(j0 + jp) * n + j0 + j];
            }
        }
        let (_, below) = l.split_at_mut(j1 * n);
        let sb = &s[j1 * n..];
        below.par_chunks_mut(n).zip(sb.par_chunks(n)).for_each_init(
            || vec![0f64; NB],
            |t, (li, si)| {
                t[..w].copy_from_slice(&si[j0..j1]);
                for j in 0..w {
                    let v = (t[j] / lt[j * w + j]) as f32 as f64;
                    li[j0 + j] = v;
                    t[j + 1..w]
                        .iter_mut()
                        .zip(&lt[j * w + j + 1..(j + 1) * w])
                        .for_each(|(a, &b)| *a -= v * b);
                }
            },
        );
        // Trailing update S[i][c] −= Σ_{k ∈ panel} L[i][k]·L[c][k] for j1 ≤ c ≤ i (rows in
        // blocks; each block also touches a few entries above the diagonal, never read).
        let m = n - j1;
        if m > 0 {
            let lv = &l;
            par_row_blocks(&mut s[j1 * n + j1..], n, m, |r0, r1, c| {
                let a = View::row_major(lv, n, (j1 + r0, j0)).block(r1 - r0, j1 - j0);
                let b = View::row_major(lv, n, (j1, j0)).block_t(j1 - j0, r1);
                gemm_seq(c, n, a, b, -1.0, true);
            });
        }
    }
    Ok(l.iter().map(|&v| v as f32).collect())
}

/// `s − Σ_k x_k·y_k`, the sum in eight interleaved f64 partial sums (a reassociation that
/// lets the compiler vectorise; a single running sum is latency-bound).
fn dot_sub(s: f64, x: &[f64], y: &[f64]) -> f64 {
    let mut acc = [0f64; 8];
    let (xc, yc) = (x.chunks_exact(8), y.chunks_exact(8));
    let tail: f64 = xc
        .remainder()
        .iter()
        .zip(yc.remainder())
        .map(|(a, b)| a * b)
        .sum();
    for (a8, b8) in xc.zip(yc) {
        for t in 0..8 {
            acc[t] += a8[t] * b8[t];
        }
    }
    s - (acc.iter().sum::<f64>() + tail)
}

/// M = L⁻¹ of a lower-triangular `l` (f64 holding f32 values, non-zero diagonal), row-major
/// f64 holding f32 values: M[i][i] = f32(1/L[i][i]), M[i][c] = f32(−Σ_{c≤k<i} L[i][k]·M[k][c]
/// / L[i][i]).
///
/// Column blocks C = [c0, c1) of M are independent (L·M[:, C] = I[:, C]) and solved in
/// parallel, each by row blocks I below c0: the part of the sum over the finished rows
/// k ∈ [c0, i0) is one GEMM, the part k ∈ [i0, i) the forward recurrence, an axpy over the
/// block's columns (terms k < c0 are exact zeros of the old sum and are skipped).
fn lower_inverse(l: &[f64], n: usize) -> Vec<f64> {
    let starts: Vec<usize> = (0..n).step_by(NB).collect();
    let blocks: Vec<Vec<f64>> = starts
        .par_iter()
        .map(|&c0| inverse_columns(l, n, c0, (c0 + NB).min(n)))
        .collect();
    let mut m = vec![0f64; n * n];
    for (&c0, blk) in starts.iter().zip(&blocks) {
        let w = (c0 + NB).min(n) - c0;
        for (r, row) in blk.chunks_exact(w).enumerate() {
            m[(c0 + r) * n + c0..(c0 + r) * n + c0 + w].copy_from_slice(row);
        }
    }
    m
}

/// Rows c0..n of columns [c0, c1) of L⁻¹, row-major `[n − c0, c1 − c0]`.
fn inverse_columns(l: &[f64], n: usize, c0: usize, c1: usize) -> Vec<f64> {
    let w = c1 - c0;
    let mut x = vec![0f64; (n - c0) * w];
    for i0 in (c0..n).step_by(NB) {
        let i1 = (i0 + NB).min(n);
        let (done, blk) = x.split_at_mut((i0 - c0) * w);
        if i0 > c0 {
            let a = View::row_major(l, n, (i0, c0)).block(i1 - i0, i0 - c0);
            let b = View::row_major(done, w, (0, 0)).block(i0 - c0, w);
            gemm_seq(blk, w, a, b, 1.0, false);
        }
        for i in i0..i1 {
            let (prev, row) = blk.split_at_mut((i - i0) * w);
            let row = &mut row[..w];
            for k in i0..i {
                let lik = l[i * n + k];
                // inside the diagonal block only columns c ≤ k are non-zero in row k
                let hi = if i0 == c0 { k - c0 + 1 } else { w };
                let mk = &prev[(k - i0) * w..(k - i0) * w + hi];
                row[..hi]
                    .iter_mut()
                    .zip(mk)
                    .for_each(|(a, &v)| *a += lik * v);
            }
            let lii = l[i * n + i];
            let diag = if i0 == c0 { i - c0 } else { w };
            row[..diag]
                .iter_mut()
                .for_each(|a| *a = (-*a / lii) as f32 as f64);
            if i0 == c0 {
                row[i - c0] = (1.0 / lii) as f32 as f64;
            }
        }
    }
    x
}

/// The upper Cholesky factor U of H⁻¹ (H⁻¹ = Uᵀ·U) of a symmetric positive-definite `h`:
/// L = chol(H), H⁻¹ = L⁻ᵀ·L⁻¹, U = chol(H⁻¹)ᵀ — the order of gptq's three calls. `h` is
/// row-major `[n, n]` (only its lower triangle is read); U is row-major with a zero strict
/// lower triangle.
///
/// # Errors
/// [`PtqError::Shape`] if `h` is not `[n, n]`; [`PtqError::NotPositiveDefinite`] for a pivot
/// that is not > 0 and finite (stage `"damped H"` or `"H^-1"`).
pub fn cholesky_inverse_upper(h: &[f32], n: usize) -> Result<Vec<f32>, PtqError> {
    crate::error::check_shape("hessian", h.len(), n, n)?;
    let l: Vec<f64> = cholesky_lower(h, n, "damped H")?
        .iter()
        .map(|&v| v as f64)
        .collect();
    let m = lower_inverse(&l, n);
    // H⁻¹[i][j] = Σ_{k ≥ i} M[k][i]·M[k][j] (j ≤ i): row block [r0, r1) of the lower triangle
    // is Mᵀ[r0..r1, r0..n]·M[r0..n, 0..r1] (the terms k < r0 vanish: M[k][i] = 0 for k < i).
    let mut hinv = vec![0f64; n * n];
    par_row_blocks(&mut hinv, n, n, |r0, r1, c| {
        let a = View::row_major(&m, n, (r0, r0)).block_t(r1 - r0, n - r0);
        let b = View::row_major(&m, n, (r0, 0)).block(n - r0, r1);
        gemm_seq(c, n, a, b, 1.0, false);
    });
    let hinv: Vec<f32> = hinv.iter().map(|&v| v as f32).collect();
    let l2 = cholesky_lower(&hinv, n, "H^-1")?;
    let mut u = vec![0f32; n * n];
    for i in 0..n {
        for j in 0..=i {
            u[j * n + i] = l2[i * n + j];
        }
    }
    Ok(u)
}

#[cfg(test)]
#[path = "linalg_tests.rs"]
mod tests;
