//! Compute-optimal allocation under C = 6·N·D (Hoffmann et al. 2022, eq. 4; Besiroglu et al.
//! 2024 §compute-optimal scaling):
//!
//! N* = G·(C/6)^(β/(α+β)),  D* = (C/6)/N*,  G = (α·A/(β·B))^(1/(α+β)).
//!
//! For the unified law a format with efficiency ρ has A_R = A·ρ^(−α), so N*_R is the allocation
//! of *stored* parameters in that format.

use serde::{Deserialize, Serialize};

/// The compute-optimal model and data size for one budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComputeOptimal {
    /// Training compute C in FLOP.
    pub compute: f64,
    /// Format (the reference for the Chinchilla law, `all`).
    pub format: String,
    /// N*.
    pub n_params: f64,
    /// D* = C/(6·N*).
    pub tokens: f64,
    /// D*/N*.
    pub tokens_per_param: f64,
    /// Predicted loss at (N*, D*).
    pub loss: f64,
}

/// (N*, D*) for budget `compute` of the law E + A/N^α + B/D^β.
pub fn compute_optimal(a: f64, b: f64, alpha: f64, beta: f64, compute: f64) -> (f64, f64) {
    let g = (alpha * a / (beta * b)).powf(1.0 / (alpha + beta));
    let n = g * (compute / 6.0).powf(beta / (alpha + beta));
    (n, compute / 6.0 / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec §7.2 worked example: A, B from the unrounded log parameters (6.0073404, 6.0179186)
    /// with the published exponents α = 0.34, β = 0.28 — the spec's numbers (N* = 1.824e9,
    /// D*/N* = 50.1 and 92.6) follow from those. With the unrounded exponents (0.33917084,
    /// 0.2849083) the same formula gives N* = 2.217e9, D*/N* = 33.9 at 1e21 FLOP (checked here
    /// too, so a change of convention is caught).
    #[test]
    fn hoffmann_worked_example() {
        let (a, b) = (6.0073404f64.exp(), 6.0179186f64.exp());
        let (n, d) = compute_optimal(a, b, 0.34, 0.28, 1e21);
        assert!((n / 1.824e9 - 1.0).abs() < 1e-3, "N* = {n:e}");
        assert!((d / n - 50.1).abs() < 0.05, "D*/N* = {}", d / n);
        let (n, d) = compute_optimal(a, b, 0.34, 0.28, 5.76e23);
        assert!((d / n - 92.6).abs() < 0.1, "D*/N* = {}", d / n);
        let (n, d) = compute_optimal(a, b, 0.33917084, 0.2849083, 1e21);
        assert!((n / 2.217e9 - 1.0).abs() < 1e-3, "N* = {n:e}");
        assert!((d / n - 33.9).abs() < 0.05, "D*/N* = {}", d / n);
    }

    /// Spec §7.2 worked example with Epoch's estimates.
    #[test]
    fn epoch_worked_example() {
        let (n, d) = compute_optimal(482.01, 2085.43, 0.3478, 0.3658, 1e21);
        assert!((n / 2.778e9 - 1.0).abs() < 1e-3, "N* = {n:e}");
        assert!((d / n - 21.6).abs() < 0.05, "D*/N* = {}", d / n);
        let (n, d) = compute_optimal(482.01, 2085.43, 0.3478, 0.3658, 5.76e23);
        assert!((d / n - 18.4).abs() < 0.05, "D*/N* = {}", d / n);
    }

    #[test]
    fn budget_is_spent() {
        let (n, d) = compute_optimal(400.0, 400.0, 0.3, 0.3, 6e20);
        assert!((6.0 * n * d / 6e20 - 1.0).abs() < 1e-12);
        assert!((n - d).abs() / n < 1e-12, "equal laws split evenly");
    }
}
