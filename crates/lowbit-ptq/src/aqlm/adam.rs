//! Codebook and scale updates (paper §3, "Phase 2: codebook update": the codes are fixed and
//! the continuous parameters take Adam steps on the layer objective; official
//! `aq_engine.py` `AQEngine.quantize`: `torch.optim.Adam(lr=1e-4, betas=(0.0, 0.95),
//! amsgrad=True)` over codebooks and scales, loss `_compute_mse` = objective / d_out;
//! reference choice 7).

use super::objective::decode_row;
use super::options::{VqWeight, check_problem};
use crate::PtqError;
use crate::dense::matmul_into;
use rayon::prelude::*;

/// Adam with AMSGrad over `[codebooks…, scales…]` (torch.optim.Adam, weight_decay 0), the
/// state kept across epochs as the official code keeps one optimizer for the whole layer.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamState {
    lr: f32,
    betas: (f32, f32),
    eps: f32,
    t: u32,
    m: Vec<f32>,
    v: Vec<f32>,
    vmax: Vec<f32>,
}

impl AdamState {
    /// Fresh state for the codebooks and scales of `w` (ε = 1e-8, AMSGrad as official).
    pub fn new(w: &VqWeight, lr: f32, betas: (f32, f32)) -> Self {
        let n = w.codebooks.len() + w.scales.len();
        Self {
            lr,
            betas,
            eps: 1e-8,
            t: 0,
            m: vec![0.0; n],
            v: vec![0.0; n],
            vmax: vec![0.0; n],
        }
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u32 {
        self.t
    }

    /// One step (torch's order): m = β₁m + (1−β₁)g; v = β₂v + (1−β₂)g²; v̂ = max(v̂, v);
    /// p −= lr/(1−β₁ᵗ) · m / (√v̂/√(1−β₂ᵗ) + ε). With β₁ = 0, m = g; a zero gradient leaves
    /// the parameter where it is (unused codebook entries do not move).
    fn step(&mut self, params: &mut [&mut [f32]], grads: &[&[f32]]) {
        self.t += 1;
        let (b1, b2) = self.betas;
        let bc1 = 1.0 - (b1 as f64).powi(self.t as i32);
        let bc2_sqrt = (1.0 - (b2 as f64).powi(self.t as i32)).sqrt() as f32;
        let step = (self.lr as f64 / bc1) as f32;
        let mut at = 0;
        for (p, g) in params.iter_mut().zip(grads) {
            let n = p.len();
            let (m, v, vm) = (
                &mut self.m[at..at + n],
                &mut self.v[at..at + n],
                &mut self.vmax[at..at + n],
            );
            for i in 0..n {
                let gi = g[i];
                m[i] = if b1 == 0.0 {
                    gi
                } else {
                    m[i] * b1 + gi * (1.0 - b1)
                };
                v[i] = v[i] * b2 + gi * gi * (1.0 - b2);
                vm[i] = vm[i].max(v[i]);
                let denom = vm[i].sqrt() / bc2_sqrt + self.eps;
                p[i] -= step * (m[i] / denom);
            }
            at += n;
        }
    }
}

/// The symmetrised XᵀX of the Adam loss, in the precision of its GEMM.
pub(crate) enum GradXtx {
    /// f64 GEMM (the reference's f64 loss).
    F64(Vec<f64>),
    /// f32 GEMM (default, ~3× faster; see `AqlmOptions::f32_gemm`).
    F32(Vec<f32>),
}

impl GradXtx {
    pub(crate) fn new(xtx: &[f32], n: usize, f32_gemm: bool) -> Self {
        let s = symmetric64(xtx, n);
        if f32_gemm {
            Self::F32(s.iter().map(|&v| v as f32).collect())
        } else {
            Self::F64(s)
        }
    }
}

/// Buffers of [`loss_and_grads`], kept across the steps (allocating ~20 MB per step of a
/// 1536×576 layer cost as much as the GEMM in page faults).
#[derive(Default)]
pub(crate) struct Workspace {
    /// Unscaled decode `Σ_m C_m[b]` `[rows, cols]`.
    acc: Vec<f32>,
    d64: Vec<f64>,
    dx64: Vec<f64>,
    d32: Vec<f32>,
    dx32: Vec<f32>,
}

/// Rows per partial sum of the codebook gradient (fixed: summed in chunk order afterwards).
const GRAD_CHUNK: usize = 256;

/// Loss `tr(ΔW XᵀX ΔWᵀ)/d_out` (f64) and its gradients with respect to the codebooks and the
/// scales (f32, summed in f64). XᵀX is symmetrised, (XᵀX + (XᵀX)ᵀ)/2: the objective is the same
/// and the gradient of Ŵ is then `2·ΔW·XᵀX/d_out` whether or not the input was exactly symmetric.
pub(crate) fn loss_and_grads(
    w: &[f32],
    x: &GradXtx,
    v: &VqWeight,
    ws: &mut Workspace,
    g_books: &mut [f32],
    g_scales: &mut [f32],
) -> f64 {
    let (rows, cols, spec) = (v.rows, v.cols, v.spec);
    let (g, k, mm) = (spec.group, spec.codebook_size(), spec.num_codebooks);
    let jm = v.groups() * mm;
    let n = rows * cols;
    // unscaled decode Σ_m C_m[b] (f32, m in order); Ŵ = that · s is decode bit for bit
    ws.acc.resize(n, 0.0);
    ws.acc
        .par_chunks_mut(cols)
        .zip(v.codes.par_chunks(jm))
        .for_each(|(o, c)| decode_row(&spec, &v.codebooks, c, 1.0, o));
    let acc = &ws.acc;
    // D = Ŵ − W and DX = D · XᵀX; `dx(r)` is row r of DX as f64
    let (d64, dx64, d32, dx32) = (&mut ws.d64, &mut ws.dx64, &mut ws.d32, &mut ws.dx32);
    let f64_path = matches!(x, GradXtx::F64(_));
    match x {
        GradXtx::F64(x) => {
            d64.resize(n, 0.0);
            dx64.resize(n, 0.0);
            d64.par_chunks_mut(cols).enumerate().for_each(|(r, d)| {
                let s = v.scales[r];
                for ((o, &a), &wv) in d.iter_mut().zip(&acc[r * cols..]).zip(&w[r * cols..]) {
                    *o = (a * s) as f64 - wv as f64;
                }
            });
            matmul_into(d64, cols, x, cols, dx64);
        }
        GradXtx::F32(x) => {
            d32.resize(n, 0.0);
            dx32.resize(n, 0.0);
            d32.par_chunks_mut(cols).enumerate().for_each(|(r, d)| {
                let s = v.scales[r];
                for ((o, &a), &wv) in d.iter_mut().zip(&acc[r * cols..]).zip(&w[r * cols..]) {
                    *o = a * s - wv;
                }
            });
            matmul_into(d32, cols, x, cols, dx32);
        }
    }
    let (d64, dx64, d32, dx32) = (&ws.d64, &ws.dx64, &ws.d32, &ws.dx32);
    let coef = 2.0 / rows as f64;
    // per chunk of rows: objective, scale gradients, and a partial codebook gradient
    let parts: Vec<(f64, Vec<f64>)> = g_scales
        .par_chunks_mut(GRAD_CHUNK)
        .enumerate()
        .map(|(c, gs)| {
            let mut obj = 0f64;
            let mut gb = vec![0f64; mm * k * g];
            let mut gw = vec![0f32; cols];
            for (i, o) in gs.iter_mut().enumerate() {
                let r = c * GRAD_CHUNK + i;
                let row = r * cols..(r + 1) * cols;
                if f64_path {
                    for ((gv, &d), &dx) in
                        gw.iter_mut().zip(&d64[row.clone()]).zip(&dx64[row.clone()])
                    {
                        obj += d * dx;
                        // dL/dŴ is cast to f32 where the official graph casts Ŵ to f64
                        *gv = (coef * dx) as f32;
                    }
                } else {
                    for ((gv, &d), &dx) in
                        gw.iter_mut().zip(&d32[row.clone()]).zip(&dx32[row.clone()])
                    {
                        obj += d as f64 * dx as f64;
                        *gv = (coef * dx as f64) as f32;
                    }
                }
                *o = gw
                    .iter()
                    .zip(&acc[row])
                    .map(|(&x, &y)| x as f64 * y as f64)
                    .sum::<f64>() as f32;
                // Σ over the (row, group) pairs that use an entry of s_r · dL/dŴ
                let s = v.scales[r] as f64;
                for (jj, cj) in v.codes[r * jm..(r + 1) * jm].chunks_exact(mm).enumerate() {
                    let gr = &gw[jj * g..(jj + 1) * g];
                    for (m, &cc) in cj.iter().enumerate() {
                        let at = (m * k + cc as usize) * g;
                        for (o, &x) in gb[at..at + g].iter_mut().zip(gr) {
                            *o += x as f64 * s;
                        }
                    }
                }
            }
            (obj, gb)
        })
        .collect();
    let mut loss = 0f64;
    let mut gb = vec![0f64; mm * k * g];
    for (obj, part) in &parts {
        loss += obj;
        for (o, &x) in gb.iter_mut().zip(part) {
            *o += x;
        }
    }
    for (o, x) in g_books.iter_mut().zip(gb) {
        *o = x as f32;
    }
    loss / rows as f64
}

/// `steps` Adam steps on the codebooks and scales of `v` with the codes fixed; returns the loss
/// (objective / d_out) before each step. `stop(loss)` is asked before the first step and may
/// end the call there (the outer loop's tolerance test); then no step is taken.
pub(crate) fn adam_steps_inner(
    w: &[f32],
    x: &GradXtx,
    v: &mut VqWeight,
    adam: &mut AdamState,
    steps: usize,
    mut stop: impl FnMut(f64) -> bool,
) -> (Vec<f64>, bool) {
    let mut gb = vec![0f32; v.codebooks.len()];
    let mut gs = vec![0f32; v.scales.len()];
    let mut ws = Workspace::default();
    let mut losses = Vec::with_capacity(steps);
    for step in 0..steps {
        let loss = loss_and_grads(w, x, v, &mut ws, &mut gb, &mut gs);
        losses.push(loss);
        if step == 0 && stop(loss) {
            return (losses, true);
        }
        adam.step(&mut [&mut v.codebooks, &mut v.scales], &[&gb, &gs]);
    }
    (losses, false)
}

/// (XᵀX + (XᵀX)ᵀ)/2 in f64.
pub(crate) fn symmetric64(xtx: &[f32], n: usize) -> Vec<f64> {
    let mut s = vec![0f64; n * n];
    for a in 0..n {
        for b in 0..n {
            s[a * n + b] = 0.5 * (xtx[a * n + b] as f64 + xtx[b * n + a] as f64);
        }
    }
    s
}

/// `steps` Adam steps on the codebooks and scales of `v` (codes fixed) against
/// `tr(ΔW XᵀX ΔWᵀ)/d_out`; returns the loss before each step. `f32_gemm`: see
/// [`crate::aqlm::AqlmOptions::f32_gemm`].
pub fn adam_steps(
    w: &[f32],
    xtx: &[f32],
    v: &mut VqWeight,
    adam: &mut AdamState,
    steps: usize,
    f32_gemm: bool,
) -> Result<Vec<f64>, PtqError> {
    v.check()?;
    check_problem(w, v.rows, v.cols, xtx, v.spec.group)?;
    if adam.m.len() != v.codebooks.len() + v.scales.len() {
        return Err(PtqError::InvalidOption {
            reason: "Adam state was made for a weight of another size".into(),
        });
    }
    let x = GradXtx::new(xtx, v.cols, f32_gemm);
    Ok(adam_steps_inner(w, &x, v, adam, steps, |_| false).0)
}
