//! Baselines and error measures: round-to-nearest with the same quantizer, and GPTQ's
//! objective as a relative output error.

use crate::PtqError;
use crate::dense::{View, gemm_seq, par_row_blocks};
use crate::error::{check_finite, check_shape};
use crate::gptq::GptqResult;
use crate::quantizer::GroupQuantizer;

/// Round-to-nearest: the quantizer applied to the original `w` group by group (no Hessian, no
/// dead-column zeroing). With a [`crate::FormatQuantizer`] this is `Format::fake_quant` bit for
/// bit.
pub fn rtn(
    w: &[f32],
    rows: usize,
    cols: usize,
    quantizer: &mut dyn GroupQuantizer,
) -> Result<GptqResult, PtqError> {
    check_shape("weight", w.len(), rows, cols)?;
    check_finite("weight", w)?;
    let g = quantizer.group_size();
    if g == 0 || cols % g != 0 {
        return Err(PtqError::GroupSize { group: g, cols });
    }
    quantizer.prepare(w, rows, cols);
    let mut res = GptqResult {
        rows,
        cols,
        w_hat: vec![0f32; rows * cols],
        codes: vec![0i32; rows * cols],
        params: Vec::with_capacity(cols / g),
        g_idx: (0..cols).map(|c| (c / g) as u32).collect(),
        perm: (0..cols).collect(),
        dead: vec![false; cols],
    };
    let (mut col, mut qv, mut qc) = (vec![0f32; rows], vec![0f32; rows], vec![0i32; rows]);
    for k in 0..cols / g {
        let grp: Vec<f32> = w
            .chunks_exact(cols)
            .flat_map(|row| row[k * g..(k + 1) * g].iter().copied())
            .collect();
        let p = quantizer.params(&grp, rows);
        for j in k * g..(k + 1) * g {
            (0..rows).for_each(|r| col[r] = w[r * cols + j]);
            quantizer.quantize(&col, &p, &mut qc, &mut qv);
            for r in 0..rows {
                res.w_hat[r * cols + j] = qv[r];
                res.codes[r * cols + j] = qc[r];
            }
        }
        res.params.push(p);
    }
    Ok(res)
}

/// GPTQ's objective relative to the output: ‖(W − Ŵ)Xᵀ‖² / ‖WXᵀ‖², computed from H ∝ XᵀX as
/// tr((W − Ŵ) H (W − Ŵ)ᵀ) / tr(W H Wᵀ) in f64 (the scale of H cancels). `w`, `w_hat`
/// `[rows, cols]`, `h` `[cols, cols]`, all row-major. 0/0 (W = 0 or H = 0) gives NaN.
///
/// Each row's quadratic form v·H·vᵀ = Σ_j v_j·(v·H)_j is an f64 sum of the same products as
/// the direct double loop, with (v·H) for a block of rows as one f64 GEMM; the rows' forms are
/// then added in row order, numerator and denominator separately.
pub fn relative_output_error(
    w: &[f32],
    w_hat: &[f32],
    rows: usize,
    cols: usize,
    h: &[f32],
) -> Result<f64, PtqError> {
    check_shape("weight", w.len(), rows, cols)?;
    check_shape("quantized weight", w_hat.len(), rows, cols)?;
    check_shape("hessian", h.len(), cols, cols)?;
    let h64: Vec<f64> = h.iter().map(|&v| v as f64).collect();
    // Row 2r is the error row D_r = W_r − Ŵ_r, row 2r + 1 the weight row W_r (f64).
    let mut v = vec![0f64; 2 * rows * cols];
    for (r, pair) in v.chunks_exact_mut(2 * cols).enumerate() {
        let (dr, wr) = pair.split_at_mut(cols);
        for (j, (d, x)) in dr.iter_mut().zip(wr.iter_mut()).enumerate() {
            *x = w[r * cols + j] as f64;
            *d = *x - w_hat[r * cols + j] as f64;
        }
    }
    // vh = V·H, then quad[r] = Σ_j V[r][j]·vh[r][j].
    let mut vh = vec![0f64; 2 * rows * cols];
    let vv = &v;
    par_row_blocks(&mut vh, cols, 2 * rows, |r0, r1, c| {
        let a = View::row_major(vv, cols, (r0, 0)).block(r1 - r0, cols);
        let b = View::row_major(&h64, cols, (0, 0)).block(cols, cols);
        gemm_seq(c, cols, a, b, 1.0, false);
    });
    let (mut num, mut den) = (0f64, 0f64);
    for (r, (vr, pr)) in v.chunks_exact(cols).zip(vh.chunks_exact(cols)).enumerate() {
        let q: f64 = vr.iter().zip(pr).map(|(a, b)| a * b).sum();
        if r % 2 == 0 {
            num += q;
        } else {
            den += q;
        }
    }
    Ok(num / den)
}
