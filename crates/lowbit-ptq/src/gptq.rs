//! GPTQ's column loop (Frantar et al. 2023, Algorithm 1 with the lazy batch updates of §4):
//! quantize the columns of W one at a time and spread each column's error over the columns not
//! yet quantized through the upper Cholesky factor of H⁻¹.

use crate::PtqError;
use crate::dense::{View, gemm_seq, par_row_blocks};
use crate::error::{check_finite, check_shape};
use crate::linalg::cholesky_inverse_upper;
use crate::quantizer::{GroupParams, GroupQuantizer};

/// Where a group's parameters come from when the group starts (non-static groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupSource {
    /// The fully updated weights at that moment: every earlier column's error already applied,
    /// whether or not its lazy block has been flushed. Independent of `block_size` (it equals
    /// the unblocked algorithm). lowbit's choice.
    #[default]
    Current,
    /// What IST-DASLab/gptq's `fasterquant` reads (`find_params(W[:, j:j+g])`): the global W,
    /// which lacks the updates of the earlier columns of the current lazy block. Equal to
    /// [`GroupSource::Current`] when every group start is a lazy-block start; kept to compare
    /// with the official code.
    Gptq,
}

/// Options of [`gptq`].
#[derive(Debug, Clone, PartialEq)]
pub struct GptqOptions {
    /// Columns per lazy block (paper §4 "Lazy batch-updates"; gptq's `blocksize`), ≥ 1; need
    /// not divide d_in.
    pub block_size: usize,
    /// Relative damping: λ = damp · mean(diag H) is added to diag H (gptq's `percdamp`), ≥ 0.
    pub damp: f32,
    /// Group size; `None` = the quantizer's. Must equal the quantizer's (a group is a block).
    pub group_size: Option<usize>,
    /// Process columns in order of decreasing H_ii (stable: ties keep the lower index first).
    pub act_order: bool,
    /// Compute every group's parameters up front from the (dead-zeroed) original W in the
    /// original column order (gptq's `static_groups`).
    pub static_groups: bool,
    /// Where non-static groups take their parameters from.
    pub group_source: GroupSource,
}

impl Default for GptqOptions {
    fn default() -> Self {
        Self {
            block_size: 128,
            damp: 0.01,
            group_size: None,
            act_order: false,
            static_groups: false,
            group_source: GroupSource::Current,
        }
    }
}

/// The result of [`gptq`] (and [`crate::rtn`]); all `[rows, cols]` data row-major in the
/// ORIGINAL column order.
#[derive(Debug, Clone, PartialEq)]
pub struct GptqResult {
    /// Rows of W (d_out).
    pub rows: usize,
    /// Columns of W (d_in).
    pub cols: usize,
    /// The dequantized weight Ŵ.
    pub w_hat: Vec<f32>,
    /// The code of every weight (see [`crate::FormatQuantizer`] for what a code is).
    pub codes: Vec<i32>,
    /// Per-group parameters, indexed by group number (the values of `g_idx`).
    pub params: Vec<GroupParams>,
    /// Group of every original column.
    pub g_idx: Vec<u32>,
    /// Processing order: `perm[k]` = original index of the k-th processed column (identity
    /// without act-order).
    pub perm: Vec<usize>,
    /// Columns with H_ii = 0 (zeroed before quantization; their Ŵ is +0).
    pub dead: Vec<bool>,
}

/// Validates shapes, values and options; returns the group size.
fn validate(
    w: &[f32],
    rows: usize,
    cols: usize,
    h: &[f32],
    q: &dyn GroupQuantizer,
    opts: &GptqOptions,
) -> Result<usize, PtqError> {
    check_shape("weight", w.len(), rows, cols)?;
    check_shape("hessian", h.len(), cols, cols)?;
    check_finite("weight", w)?;
    check_finite("hessian", h)?;
    if opts.block_size == 0 {
        return Err(PtqError::InvalidOption {
            reason: "block_size must be ≥ 1".into(),
        });
    }
    if !(opts.damp.is_finite() && opts.damp >= 0.0) {
        return Err(PtqError::InvalidOption {
            reason: format!("damp must be finite and ≥ 0, got {}", opts.damp),
        });
    }
    let g = q.group_size();
    if let Some(gs) = opts.group_size {
        if gs != g {
            return Err(PtqError::GroupMismatch {
                group: gs,
                block: g,
                format: q.name(),
            });
        }
    }
    if g == 0 || cols % g != 0 {
        return Err(PtqError::GroupSize { group: g, cols });
    }
    Ok(g)
}

/// Columns `c0..c0 + g` of a row-major `[rows, cols]` matrix, as `[rows, g]`.
fn columns(m: &[f32], cols: usize, c0: usize, g: usize) -> Vec<f32> {
    m.chunks_exact(cols)
        .flat_map(|row| row[c0..c0 + g].iter().copied())
        .collect()
}

/// GPTQ of `w` (`[rows, cols]` row-major, rows = d_out, cols = d_in) with Hessian `h`
/// (`[cols, cols]`, e.g. from [`crate::HessianAccumulator`]), quantizer and options.
///
/// In order: `quantizer.prepare(w)` on the original weight; dead columns (H_ii = 0) get H_ii = 1
/// and W[:, i] = 0; static group parameters (original order); the act-order permutation;
/// damping λ = damp · mean(diag H); U = upper Cholesky factor of H⁻¹; then for each lazy block
/// [i1, i2) and each column j in it: group parameters when a group starts, q = Q(w_j),
/// err = (w_j − q)/U_jj, W[:, j..i2] −= err·U[j, j..i2]; at the block end
/// W[:, i2..] −= Err·U[i1..i2, i2..]. All f32 (inner products accumulated in f64).
pub fn gptq(
    w: &[f32],
    rows: usize,
    cols: usize,
    h: &[f32],
    quantizer: &mut dyn GroupQuantizer,
    opts: &GptqOptions,
) -> Result<GptqResult, PtqError> {
    let g = validate(w, rows, cols, h, quantizer, opts)?;
    quantizer.prepare(w, rows, cols);
    let mut w0 = w.to_vec();
    let mut h0 = h.to_vec();
    let dead: Vec<bool> = (0..cols).map(|i| h0[i * cols + i] == 0.0).collect();
    for i in (0..cols).filter(|&i| dead[i]) {
        h0[i * cols + i] = 1.0;
        w0.chunks_exact_mut(cols).for_each(|row| row[i] = 0.0);
    }
    let ngroups = cols / g;
    let mut params: Vec<Option<GroupParams>> = vec![None; ngroups];
    if opts.static_groups {
        for (k, p) in params.iter_mut().enumerate() {
            *p = Some(quantizer.params(&columns(&w0, cols, k * g, g), rows));
        }
    }
    let mut perm: Vec<usize> = (0..cols).collect();
    if opts.act_order {
        // Stable: equal H_ii keep ascending original index. Values are finite (validated).
        perm.sort_by(|&a, &b| h0[b * cols + b].total_cmp(&h0[a * cols + a]));
    }
    // Permuted copies: W[:, perm], H[perm][:, perm].
    let mut wp: Vec<f32> = w0
        .chunks_exact(cols)
        .flat_map(|row| perm.iter().map(move |&c| row[c]))
        .collect();
    let (hr, pr) = (&h0, &perm);
    let mut hp: Vec<f32> = perm
        .iter()
        .flat_map(|&r| pr.iter().map(move |&c| hr[r * cols + c]))
        .collect();
    let mean = ((0..cols).map(|i| hp[i * cols + i] as f64).sum::<f64>() / cols as f64) as f32;
    let lambda = opts.damp * mean;
    (0..cols).for_each(|i| hp[i * cols + i] += lambda);
    let u = cholesky_inverse_upper(&hp, cols)?;
    // f64 copies for the flush GEMM (values exact; the old loop widened each product's factors).
    let u64: Vec<f64> = u.iter().map(|&v| v as f64).collect();
    let mut err64: Vec<f64> = Vec::with_capacity(rows * opts.block_size.min(cols));
    let mut flush = vec![0f64; rows * cols];

    let mut q_out = vec![0f32; rows * cols];
    let mut c_out = vec![0i32; rows * cols];
    let mut g_perm = vec![0u32; cols];
    let (mut col, mut qv, mut qc) = (vec![0f32; rows], vec![0f32; rows], vec![0i32; rows]);
    for i1 in (0..cols).step_by(opts.block_size) {
        let i2 = (i1 + opts.block_size).min(cols);
        let bs = i2 - i1;
        let mut w1 = columns(&wp, cols, i1, bs); // [rows, bs], updated in the block
        let mut err1 = vec![0f32; rows * bs];
        for i in 0..bs {
            let j = i1 + i;
            let k = if opts.static_groups {
                perm[j] / g
            } else {
                let k = j / g;
                if j % g == 0 {
                    let grp = match opts.group_source {
                        GroupSource::Gptq => columns(&wp, cols, j, g),
                        GroupSource::Current => {
                            current_group(&wp, &w1, &err1, &u, (rows, cols), (i1, i2, j, g))
                        }
                    };
                    params[k] = Some(quantizer.params(&grp, rows));
                }
                k
            };
            g_perm[j] = k as u32;
            // Always set by now (static: all up front; else at the group's first column k·g).
            let p = params[k].as_ref().ok_or_else(|| PtqError::InvalidOption {
                reason: format!("internal: group {k} reached without parameters"),
            })?;
            (0..rows).for_each(|r| col[r] = w1[r * bs + i]);
            quantizer.quantize(&col, p, &mut qc, &mut qv);
            let d = u[j * cols + j];
            let urow = &u[j * cols + j..j * cols + i2];
            for r in 0..rows {
                q_out[r * cols + j] = qv[r];
                c_out[r * cols + j] = qc[r];
                let e = (col[r] - qv[r]) / d;
                err1[r * bs + i] = e;
                // W[r, j..i2] −= e·U[j, j..i2] (slices, so the loop vectorises; same f32 ops)
                let row = &mut w1[r * bs + i..(r + 1) * bs];
                row.iter_mut().zip(urow).for_each(|(x, &uu)| *x -= e * uu);
            }
        }
        // Flush (§4 "Lazy batch-updates": the trailing columns see the block's errors once,
        // as a rank-bs product instead of bs rank-1 updates): W[:, i2..] −= Err1 · U[i1..i2,
        // i2..], each entry an f64 sum of the same products as before, as one GEMM.
        let rest = cols - i2;
        if rest > 0 {
            err64.clear();
            err64.extend(err1.iter().map(|&e| e as f64));
            let flush = &mut flush[..rows * rest];
            let (ev, uv) = (&err64, &u64);
            par_row_blocks(flush, rest, rows, |r0, r1, c| {
                let a = View::row_major(ev, bs, (r0, 0)).block(r1 - r0, bs);
                let b = View::row_major(uv, cols, (i1, i2)).block(bs, rest);
                gemm_seq(c, rest, a, b, 1.0, false);
            });
            for (wrow, frow) in wp.chunks_exact_mut(cols).zip(flush.chunks_exact(rest)) {
                // A zero update leaves w as the old `w − (+0)` did (a GEMM may return −0).
                wrow[i2..]
                    .iter_mut()
                    .zip(frow)
                    .filter(|(_, a)| **a != 0.0)
                    .for_each(|(x, &a)| *x -= a as f32);
            }
        }
    }
    // Finite inputs can still overflow in the updates (|W| near f32::MAX, tiny U_jj).
    check_finite("quantized weight (overflow in the GPTQ updates)", &q_out)?;
    let mut res = GptqResult {
        rows,
        cols,
        w_hat: vec![0f32; rows * cols],
        codes: vec![0i32; rows * cols],
        params: params.into_iter().flatten().collect(),
        g_idx: vec![0u32; cols],
        perm,
        dead,
    };
    for (j, &c) in res.perm.iter().enumerate() {
        res.g_idx[c] = g_perm[j];
        for r in 0..rows {
            res.w_hat[r * cols + c] = q_out[r * cols + j];
            res.codes[r * cols + c] = c_out[r * cols + j];
        }
    }
    Ok(res)
}

/// The fully updated columns `j..j + g` (processing order) at the moment column j = i1 + i is
/// reached: in-block columns from `w1`, later ones from the global W minus the pending errors
/// of columns i1..j: W[:, c] − Σ_t Err1[:, t]·U[i1 + t, c].
fn current_group(
    wp: &[f32],
    w1: &[f32],
    err1: &[f32],
    u: &[f32],
    (rows, cols): (usize, usize),
    (i1, i2, j, g): (usize, usize, usize, usize),
) -> Vec<f32> {
    let bs = i2 - i1;
    let i = j - i1;
    let mut out = Vec::with_capacity(rows * g);
    for r in 0..rows {
        for c in j..j + g {
            let v = if c < i2 {
                w1[r * bs + c - i1]
            } else {
                let s: f64 = (0..i)
                    .map(|t| err1[r * bs + t] as f64 * u[(i1 + t) * cols + c] as f64)
                    .sum();
                wp[r * cols + c] - s as f32
            };
            out.push(v);
        }
    }
    out
}
