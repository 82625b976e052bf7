//! The adaptive step of PV-Tuning's V-step direction: the official code's `ConfigurableAdamW`
//! with `lamb = True`, `debias = True`, no weight decay and no AMSGrad (algorithms.md §4.2 step
//! 4; Malinovskii et al. 2024, §3.3 "subspace linearized V step" with an adaptive step).
//!
//! Per tensor `p` with gradient `g` at step `t`:
//! `m = lerp(m, g, 1 − β1)` (or `m = g` when β1 = 0: no first moment is kept),
//! `v = lerp(v, g², 1 − β2)`, `u = m / (sqrt(v) + ε)`,
//! `c = sqrt(1 − β2^t) / (1 − β1^t)` (each factor 1 when its β is 0),
//! `r = ‖p‖ / ‖u‖` (1 if either is 0; the trust ratio ignores debiasing), `p ← p − lr·c·r·u`.
//! Every tensor so moves by ≈ `lr·‖p‖` in norm: `lr` is a *relative* step, which is why the
//! official `code_lr` (1e-2) means "move each layer's weights by about 1% per step".
//!
//! The arithmetic follows PyTorch's f32 kernels: `lerp` as the fused `a + w·(b − a)` for
//! `w < 0.5` and `b − (b − a)·(1 − w)` otherwise, the weight rounded to f32; `ε` rounded to f32; the final
//! update `p + s·u` as one fused multiply-add (ATen's vectorised `add(alpha=)`). The norms are
//! f64 sums here (PyTorch reduces in its own order), so results agree with `tools/pv_reference.py`
//! to a few ulps, not bit for bit (tests/fixtures/pv).

/// Hyper-parameters of one Lamb-Adam group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LambConfig {
    /// Learning rate (relative step: the update's norm is ≈ `lr·‖p‖`).
    pub lr: f64,
    /// First-moment decay β1 (0: no momentum, the official V-step setting).
    pub beta1: f64,
    /// Second-moment decay β2.
    pub beta2: f64,
    /// Denominator ε (the official code's 1e-6).
    pub eps: f64,
}

impl Default for LambConfig {
    /// The official V-step group: lr 1e-2, β = (0, 0.95), ε = 1e-6 (README of Vahe1994/AQLM).
    fn default() -> Self {
        Self {
            lr: 1e-2,
            beta1: 0.0,
            beta2: 0.95,
            eps: 1e-6,
        }
    }
}

/// Moments of one tensor (flattened) and its step count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LambState {
    /// First moment (kept only when β1 ≠ 0).
    pub exp_avg: Option<Vec<f32>>,
    /// Second moment (kept when β2 ∉ {0, 1}).
    pub exp_avg_sq: Option<Vec<f32>>,
    /// Completed steps of this tensor.
    pub step: u64,
}

/// PyTorch's f32 `lerp(a, b, w)`: `fma(w, b − a, a)` for `w < 0.5`, else
/// `fma(−(b − a), 1 − w, b)` (ATen's vectorised kernel fuses both).
fn lerp(a: f32, b: f32, w: f32) -> f32 {
    if w < 0.5 {
        w.mul_add(b - a, a)
    } else {
        (-(b - a)).mul_add(1.0 - w, b)
    }
}

fn norm(v: &[f32]) -> f64 {
    v.iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt()
}

/// One Lamb-Adam step of `p` with gradient `g` (same length), updating `state`.
///
/// # Panics
/// Never for equal lengths; a caller passing different lengths gets a debug assertion.
pub fn lamb_step(p: &mut [f32], g: &[f32], state: &mut LambState, cfg: &LambConfig) {
    debug_assert_eq!(p.len(), g.len());
    state.step += 1;
    let t = state.step as i32;
    let mut u: Vec<f32> = if cfg.beta1 != 0.0 {
        let w = (1.0 - cfg.beta1) as f32;
        let m = state.exp_avg.get_or_insert_with(|| vec![0.0; g.len()]);
        m.iter_mut().zip(g).for_each(|(m, &g)| *m = lerp(*m, g, w));
        m.clone()
    } else {
        g.to_vec()
    };
    if cfg.beta2 != 1.0 {
        let eps = cfg.eps as f32;
        if cfg.beta2 == 0.0 {
            u.iter_mut()
                .zip(g)
                .for_each(|(u, &g)| *u /= (g * g).sqrt() + eps);
        } else {
            let w = (1.0 - cfg.beta2) as f32;
            let v = state.exp_avg_sq.get_or_insert_with(|| vec![0.0; g.len()]);
            v.iter_mut()
                .zip(g)
                .for_each(|(v, &g)| *v = lerp(*v, g * g, w));
            u.iter_mut()
                .zip(v.iter())
                .for_each(|(u, &v)| *u /= v.sqrt() + eps);
        }
    }
    let m_debias = if cfg.beta1 != 0.0 {
        1.0 / (1.0 - cfg.beta1.powi(t))
    } else {
        1.0
    };
    let v_debias = if cfg.beta2 != 0.0 {
        1.0 / (1.0 - cfg.beta2.powi(t)).sqrt()
    } else {
        1.0
    };
    let (pn, un) = (norm(p), norm(&u));
    let trust = if pn == 0.0 || un == 0.0 {
        1.0
    } else {
        (pn as f32 / un as f32) as f64
    };
    // PyTorch: a Python float times the f32 trust-ratio tensor, in f32.
    let scale = ((-cfg.lr * m_debias / v_debias) as f32) * trust as f32;
    p.iter_mut()
        .zip(&u)
        .for_each(|(p, &u)| *p = u.mul_add(scale, *p));
}
