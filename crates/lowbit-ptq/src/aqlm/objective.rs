//! Decode and the layer objective `tr((W−Ŵ) XᵀX (W−Ŵ)ᵀ)` (paper §3, Eq. (2): ‖WX − ŴX‖²;
//! official `AQEngine._compute_mse` divides it by d_out).
//!
//! Every parallel loop here runs over fixed chunks of `ROW_CHUNK` rows, each computed the same
//! way whatever thread runs it, and sums are taken in chunk order; the GEMM is
//! [`crate::dense::matmul_into`] (fixed row blocks too): results do not depend on the number of
//! threads.

use super::options::VqWeight;
use super::spec::VqSpec;
use crate::PtqError;
use crate::dense::matmul_into;
use rayon::prelude::*;

/// Rows per parallel work item (fixed: the arithmetic must not depend on the thread count).
pub(crate) const ROW_CHUNK: usize = 16;

/// `s · (C_0[b_0] + C_1[b_1] + …)` of one group into `out [G]`: the sum left to right in m, in
/// f32, then one multiply — the order of the official `_dequantize_weight` (embedding_bag sum,
/// then · scales) and of the reference (choice 1), so decode is reproducible bit for bit.
#[inline]
pub(crate) fn decode_group(
    spec: &VqSpec,
    codebooks: &[f32],
    codes: &[u32],
    s: f32,
    out: &mut [f32],
) {
    let (g, k) = (spec.group, spec.codebook_size());
    let first = codes[0] as usize * g;
    out.copy_from_slice(&codebooks[first..first + g]);
    for (m, &c) in codes.iter().enumerate().skip(1) {
        let at = (m * k + c as usize) * g;
        for (o, &v) in out.iter_mut().zip(&codebooks[at..at + g]) {
            *o += v;
        }
    }
    for o in out.iter_mut() {
        *o *= s;
    }
}

/// Decodes one row `[cols]` from its codes `[cols/G, M]`.
pub(crate) fn decode_row(spec: &VqSpec, codebooks: &[f32], codes: &[u32], s: f32, out: &mut [f32]) {
    let (g, m) = (spec.group, spec.num_codebooks);
    for (cj, oj) in codes.chunks_exact(m).zip(out.chunks_exact_mut(g)) {
        decode_group(spec, codebooks, cj, s, oj);
    }
}

/// Ŵ `[rows, cols]` of a checked weight (no validation).
pub(crate) fn decode_unchecked(v: &VqWeight) -> Vec<f32> {
    let mut out = vec![0f32; v.rows * v.cols];
    let jm = v.groups() * v.spec.num_codebooks;
    out.par_chunks_mut(v.cols)
        .zip(v.codes.par_chunks(jm))
        .zip(v.scales.par_iter())
        .for_each(|((o, c), &s)| decode_row(&v.spec, &v.codebooks, c, s, o));
    out
}

/// Ŵ `[rows, cols]`: `W[r, jG..(j+1)G] = s_r · Σ_m C_m[b_{r,j,m}]`, summed in order m = 0, 1, …
/// (f32), then scaled. Lengths and code ranges are checked.
pub fn decode(v: &VqWeight) -> Result<Vec<f32>, PtqError> {
    v.check()?;
    Ok(decode_unchecked(v))
}

/// For Ŵ and W `[rows, cols]`, with `D = Ŵ − W` (f64): the per-row objectives
/// `D_r XᵀX D_rᵀ` (f64, from the f32 tensors as the reference's `row_objective`).
pub(crate) struct Residual {
    pub rows_obj: Vec<f64>,
}

pub(crate) fn residual(w: &[f32], w_hat: &[f32], cols: usize, xtx64: &[f64]) -> Residual {
    let rows = w.len() / cols;
    let d: Vec<f64> = w_hat
        .par_iter()
        .zip(w.par_iter())
        .map(|(&a, &b)| a as f64 - b as f64)
        .collect();
    let mut dx = vec![0f64; rows * cols];
    matmul_into(&d, cols, xtx64, cols, &mut dx);
    let rows_obj = d
        .par_chunks(cols)
        .zip(dx.par_chunks(cols))
        .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>())
        .collect();
    Residual { rows_obj }
}

/// XᵀX as f64, once per call of the calibration.
pub(crate) fn to_f64(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

/// `tr((W − Ŵ) XᵀX (W − Ŵ)ᵀ)` in f64 (the objective the fixtures report; not divided by d_out).
pub fn objective(
    w: &[f32],
    w_hat: &[f32],
    rows: usize,
    cols: usize,
    xtx: &[f32],
) -> Result<f64, PtqError> {
    crate::error::check_shape("weight", w.len(), rows, cols)?;
    crate::error::check_shape("w_hat", w_hat.len(), rows, cols)?;
    crate::error::check_shape("xtx", xtx.len(), cols, cols)?;
    Ok(residual(w, w_hat, cols, &to_f64(xtx)).rows_obj.iter().sum())
}
