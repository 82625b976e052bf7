//! The fitting objective of Hoffmann et al. 2022 (Approach 3), also used by Besiroglu et al.
//! 2024 and, with ρ, by QuEST:
//!
//! J(θ) = Σ_i w_i·Huber_δ( LSE(a − α·(ln N_i + ln ρ_i), b − β·ln D_i, e) − ln L_i ),
//!
//! with its analytic gradient. w_i are bootstrap multiplicities (1 without resampling).

use crate::design::Design;
use crate::law::{Law, Layout, N_SHARED, RhoMode, d_ln_tanh};
use argmin::core::{CostFunction, Error, Gradient};
use std::cell::RefCell;

/// Huber loss: r²/2 for |r| ≤ δ, δ·(|r| − δ/2) beyond.
pub fn huber(r: f64, delta: f64) -> f64 {
    if r.abs() <= delta {
        0.5 * r * r
    } else {
        delta * (r.abs() - 0.5 * delta)
    }
}

/// dHuber/dr: r clamped to [−δ, δ].
pub fn huber_grad(r: f64, delta: f64) -> f64 {
    r.clamp(-delta, delta)
}

/// log(e^x1 + e^x2 + e^x3) and the softmax weights, without overflow.
fn lse3(x: [f64; 3]) -> (f64, [f64; 3]) {
    let m = x[0].max(x[1]).max(x[2]);
    let e = x.map(|v| (v - m).exp());
    let s = e[0] + e[1] + e[2];
    (m + s.ln(), e.map(|v| v / s))
}

/// u·d ln tanh(u)/du = 2u/sinh(2u), finite for every u ≥ 0.
fn u_dlntanh(u: f64) -> f64 {
    if u < 1e-8 {
        1.0
    } else if u > 300.0 {
        0.0
    } else {
        u * d_ln_tanh(u)
    }
}

/// A cached evaluation: (θ, J(θ), ∇J(θ)).
type Evaluation = (Vec<f64>, f64, Vec<f64>);

/// J(θ) over a design, with optional per-point weights. Caches the last (θ, J, ∇J): argmin's
/// line search asks for the cost and then the gradient at the same point.
pub(crate) struct Objective<'a> {
    design: &'a Design,
    weights: Option<&'a [f64]>,
    delta: f64,
    cache: RefCell<Option<Evaluation>>,
}

impl<'a> Objective<'a> {
    /// The objective on `design` with Huber threshold `delta`.
    pub fn new(design: &'a Design, weights: Option<&'a [f64]>, delta: f64) -> Self {
        Self {
            design,
            weights,
            delta,
            cache: RefCell::new(None),
        }
    }

    /// J and ∇J at θ.
    pub fn value_and_gradient(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        if let Some((t, v, g)) = self.cache.borrow().as_ref()
            && t.as_slice() == theta
        {
            return (*v, g.clone());
        }
        let (v, g) = self.evaluate(theta);
        *self.cache.borrow_mut() = Some((theta.to_vec(), v, g.clone()));
        (v, g)
    }

    fn evaluate(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        let d = self.design;
        let layout: &Layout = &d.layout;
        let (a, b, e, alpha, beta) = (theta[0], theta[1], theta[2], theta[3], theta[4]);
        let ln_rho = layout.ln_rho(theta);
        let mut grad = vec![0.0; theta.len()];
        let mut g_ln_rho = vec![0.0; ln_rho.len()];
        let mut cost = 0.0;
        for i in 0..d.len() {
            let w = self.weights.map_or(1.0, |w| w[i]);
            if w == 0.0 {
                continue;
            }
            let g = d.group[i];
            let ln_eff_n = d.ln_n[i] + ln_rho[g];
            let (pred, s) = lse3([a - alpha * ln_eff_n, b - beta * d.ln_d[i], e]);
            let r = pred - d.ln_l[i];
            cost += w * huber(r, self.delta);
            let psi = w * huber_grad(r, self.delta);
            grad[0] += psi * s[0];
            grad[1] += psi * s[1];
            grad[2] += psi * s[2];
            grad[3] -= psi * s[0] * ln_eff_n;
            grad[4] -= psi * s[1] * d.ln_d[i];
            g_ln_rho[g] -= psi * s[0] * alpha;
        }
        match layout.law {
            Law::Chinchilla => {}
            Law::Unified { rho: RhoMode::Free } => {
                grad[N_SHARED..].copy_from_slice(&g_ln_rho[1..]);
            }
            Law::Unified {
                rho: RhoMode::Capacity,
            } => {
                // ln ρ_g = ln L + ln tanh(u_g), u_g = exp(ln F + C·ln b_g), C = e^c.
                let link = Layout::link_at(theta);
                for (gr, lb) in g_ln_rho.iter().zip(&layout.ln_bits).skip(1) {
                    let k = u_dlntanh(link.u(*lb));
                    grad[N_SHARED] += gr;
                    grad[N_SHARED + 1] += gr * k;
                    grad[N_SHARED + 2] += gr * k * lb * link.exponent;
                }
            }
        }
        if !cost.is_finite() || grad.iter().any(|v| !v.is_finite()) {
            return (f64::INFINITY, vec![0.0; theta.len()]);
        }
        (cost, grad)
    }
}

impl CostFunction for Objective<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, theta: &Self::Param) -> Result<f64, Error> {
        Ok(self.value_and_gradient(theta).0)
    }
}

impl Gradient for Objective<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, theta: &Self::Param) -> Result<Vec<f64>, Error> {
        Ok(self.value_and_gradient(theta).1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::CapacityLink;
    use crate::law::{Law, RhoMode};
    use crate::synth::{SyntheticFormat, SyntheticSpec, synthetic_points};

    fn design(law: Law) -> Design {
        let link = CapacityLink::PLACEHOLDER;
        let mut spec = SyntheticSpec::epoch(4, 3, 0.02, 7);
        spec.formats = vec![
            SyntheticFormat::with_rho("bf16", 1.0),
            SyntheticFormat::with_gmse("nvfp4", 0.00904, &link),
            SyntheticFormat::with_gmse("int2", 0.1, &link),
        ];
        Design::new(&synthetic_points(&spec), law, "bf16").expect("valid synthetic design")
    }

    /// The analytic gradient matches central differences (δ large enough that every residual
    /// is in the quadratic zone, and small enough that some are in the linear zone).
    #[test]
    fn gradient_matches_finite_differences() {
        for law in [
            Law::Chinchilla,
            Law::Unified { rho: RhoMode::Free },
            Law::Unified {
                rho: RhoMode::Capacity,
            },
        ] {
            let d = design(law);
            let mut theta = vec![6.0, 7.5, 0.6, 0.33, 0.36];
            theta.extend(match law {
                Law::Chinchilla => vec![],
                Law::Unified { rho: RhoMode::Free } => vec![-0.3, -1.1],
                Law::Unified { .. } => vec![0.01, -2.6, 0.7],
            });
            for delta in [1e-3, 10.0] {
                let obj = Objective::new(&d, None, delta);
                let (_, g) = obj.value_and_gradient(&theta);
                for k in 0..theta.len() {
                    let h = 1e-6;
                    let mut tp = theta.clone();
                    tp[k] += h;
                    let mut tm = theta.clone();
                    tm[k] -= h;
                    let fd =
                        (obj.value_and_gradient(&tp).0 - obj.value_and_gradient(&tm).0) / (2.0 * h);
                    let tol = 1e-6 * (1.0 + fd.abs());
                    assert!(
                        (fd - g[k]).abs() < tol,
                        "{law} δ={delta} θ[{k}]: analytic {} vs fd {fd}",
                        g[k]
                    );
                }
            }
        }
    }

    #[test]
    fn huber_is_continuous_at_delta() {
        let d = 1e-3;
        assert!((huber(d, d) - huber(d * (1.0 + 1e-12), d)).abs() < 1e-15);
        assert_eq!(huber_grad(0.5, d), d);
        assert_eq!(huber_grad(-0.5, d), -d);
        assert_eq!(huber(-2e-4, d), 0.5 * 4e-8);
    }

    #[test]
    fn lse_is_stable() {
        let (v, w) = lse3([1000.0, 0.0, -1000.0]);
        assert!((v - 1000.0).abs() < 1e-12);
        assert!((w[0] - 1.0).abs() < 1e-12 && w[2] == 0.0);
    }
}
