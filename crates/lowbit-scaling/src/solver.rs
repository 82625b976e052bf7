//! L-BFGS (argmin, Moré–Thuente line search) from a grid of starts, in parallel, keeping the
//! best objective — the procedure of Hoffmann et al. 2022 (Approach 3) as replicated by
//! Besiroglu et al. 2024 (Epoch AI, `analyzing-chinchilla`).

use crate::design::Design;
use crate::error::{Result, ScalingError};
use crate::objective::Objective;
use argmin::core::{Executor, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Grid of initial log parameters. Starts are enumerated with `a` outermost and `beta`
/// innermost; ties in the final objective go to the earliest start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitGrid {
    /// a = ln A values.
    pub a: Vec<f64>,
    /// b = ln B values.
    pub b: Vec<f64>,
    /// e = ln E values.
    pub e: Vec<f64>,
    /// α values.
    pub alpha: Vec<f64>,
    /// β values.
    pub beta: Vec<f64>,
}

impl Default for InitGrid {
    /// The Hoffmann/Epoch grid: α, β ∈ {0, 0.5, 1, 1.5, 2}, e ∈ {−1, −0.5, 0, 0.5, 1},
    /// a, b ∈ {0, 5, 10, 15, 20, 25} (4500 starts).
    fn default() -> Self {
        let half = vec![0.0, 0.5, 1.0, 1.5, 2.0];
        let five = vec![0.0, 5.0, 10.0, 15.0, 20.0, 25.0];
        Self {
            a: five.clone(),
            b: five,
            e: vec![-1.0, -0.5, 0.0, 0.5, 1.0],
            alpha: half.clone(),
            beta: half,
        }
    }
}

impl InitGrid {
    /// Number of grid points.
    pub fn len(&self) -> usize {
        self.a.len() * self.b.len() * self.e.len() * self.alpha.len() * self.beta.len()
    }

    /// True if any axis is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The grid points (a, b, e, α, β) in enumeration order.
    pub fn points(&self) -> Vec<[f64; 5]> {
        let mut out = Vec::with_capacity(self.len());
        for &a in &self.a {
            for &b in &self.b {
                for &e in &self.e {
                    for &alpha in &self.alpha {
                        for &beta in &self.beta {
                            out.push([a, b, e, alpha, beta]);
                        }
                    }
                }
            }
        }
        out
    }
}

/// Settings of each L-BFGS run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SolverOptions {
    /// Maximum iterations per start.
    pub max_iters: u64,
    /// L-BFGS history length.
    pub memory: usize,
    /// Stop when ‖∇J‖₂ falls below this.
    pub tol_grad: f64,
    /// Stop when |ΔJ| between iterations falls below this.
    pub tol_cost: f64,
}

impl Default for SolverOptions {
    fn default() -> Self {
        Self {
            max_iters: 1000,
            memory: 10,
            tol_grad: 1e-10,
            tol_cost: 1e-14,
        }
    }
}

/// The best point of one L-BFGS run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Solution {
    /// θ at the best objective.
    pub theta: Vec<f64>,
    /// J(θ).
    pub cost: f64,
    /// Index of the start it came from.
    pub start: usize,
}

/// Runs L-BFGS from `start`; `None` if the run produced no finite objective.
pub(crate) fn minimize(
    design: &Design,
    weights: Option<&[f64]>,
    delta: f64,
    start: Vec<f64>,
    opts: &SolverOptions,
) -> Option<(Vec<f64>, f64)> {
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), opts.memory)
        .with_tolerance_grad(opts.tol_grad)
        .ok()?
        .with_tolerance_cost(opts.tol_cost)
        .ok()?;
    let problem = Objective::new(design, weights, delta);
    let result = Executor::new(problem, solver)
        .configure(|s| s.param(start).max_iters(opts.max_iters))
        .timer(false)
        .run()
        .ok()?;
    let cost = result.state.get_best_cost();
    let theta = result.state.get_best_param()?.clone();
    (cost.is_finite() && theta.iter().all(|v| v.is_finite())).then_some((theta, cost))
}

/// Minimises from every start in parallel; the lowest objective wins, ties to the lowest start
/// index, so the answer does not depend on the thread count. Returns the winner and the number
/// of starts that failed.
pub(crate) fn multistart(
    design: &Design,
    weights: Option<&[f64]>,
    delta: f64,
    starts: &[Vec<f64>],
    opts: &SolverOptions,
) -> Result<(Solution, usize)> {
    let results: Vec<Option<Solution>> = starts
        .par_iter()
        .enumerate()
        .map(|(i, s)| {
            minimize(design, weights, delta, s.clone(), opts).map(|(theta, cost)| Solution {
                theta,
                cost,
                start: i,
            })
        })
        .collect();
    let failed = results.iter().filter(|r| r.is_none()).count();
    let best = results
        .into_iter()
        .flatten()
        .min_by(|x, y| x.cost.total_cmp(&y.cost).then(x.start.cmp(&y.start)))
        .ok_or_else(|| ScalingError::FitFailed {
            message: format!(
                "none of {} starts reached a finite objective; check the data for outliers",
                starts.len()
            ),
        })?;
    Ok((best, failed))
}
