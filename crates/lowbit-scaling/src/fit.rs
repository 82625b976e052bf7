//! `fit`: the full procedure — exclusion rule, multistart L-BFGS on the Huber/LSE objective
//! (Hoffmann et al. 2022, Approach 3; Besiroglu et al. 2024), per-format ρ, residuals,
//! compute-optimal allocations, bootstrap and leave-one-format-out.

use crate::bootstrap::{BootstrapInit, bootstrap_design};
use crate::capacity::{CapacityLink, effective_bits};
use crate::data::Point;
use crate::design::Design;
use crate::error::{Result, ScalingError};
use crate::law::{Law, LawParams, RhoMode};
use crate::lofo::leave_one_format_out;
use crate::optimal::{ComputeOptimal, compute_optimal};
use crate::report::{ExcludedPoint, FitReport, FormatRow, ResidualStats};
use crate::solver::{InitGrid, SolverOptions, multistart};
use serde::{Deserialize, Serialize};

/// Everything that decides a fit. `FitConfig::new(law)` gives the published defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitConfig {
    /// The law to fit.
    pub law: Law,
    /// The ρ = 1 format of the unified law.
    pub reference: String,
    /// Huber threshold δ on log residuals (Hoffmann: 1e-3).
    pub huber_delta: f64,
    /// Initial (a, b, e, α, β) grid (default: Hoffmann/Epoch's 4500 points).
    pub grid: InitGrid,
    /// Initial capacity links, each combined with every grid point (capacity mode).
    pub link_inits: Vec<CapacityLink>,
    /// L-BFGS settings.
    pub solver: SolverOptions,
    /// Drop the k highest-loss points before fitting (Besiroglu et al. drop 5).
    pub drop_highest: usize,
    /// Bootstrap resamples (0: none).
    pub bootstrap: usize,
    /// Where each bootstrap fit starts.
    pub bootstrap_init: BootstrapInit,
    /// Seed of the bootstrap's resampling.
    pub seed: u64,
    /// Compute budgets (FLOP) for the compute-optimal table.
    pub compute: Vec<f64>,
    /// Refit without each format and predict it (capacity mode).
    pub leave_one_format_out: bool,
}

impl FitConfig {
    /// Defaults: reference `bf16`, δ = 1e-3, the full grid, no exclusion, no bootstrap,
    /// budgets 1e21 and 5.76e23 FLOP (the spec's worked examples), leave-one-format-out on.
    pub fn new(law: Law) -> Self {
        Self {
            law,
            reference: "bf16".to_owned(),
            huber_delta: 1e-3,
            grid: InitGrid::default(),
            link_inits: vec![CapacityLink::PLACEHOLDER],
            solver: SolverOptions::default(),
            drop_highest: 0,
            bootstrap: 0,
            bootstrap_init: BootstrapInit::default(),
            seed: 0,
            compute: vec![1e21, 5.76e23],
            leave_one_format_out: true,
        }
    }

    /// Checks ranges; errors say which value to change.
    pub fn validate(&self) -> Result<()> {
        if !(self.huber_delta > 0.0 && self.huber_delta.is_finite()) {
            return Err(ScalingError::config(format!(
                "huber_delta = {} must be a positive number (default 1e-3)",
                self.huber_delta
            )));
        }
        if self.grid.is_empty() {
            return Err(ScalingError::config(
                "the init grid has an empty axis; give every axis a value",
            ));
        }
        if self.law
            == (Law::Unified {
                rho: RhoMode::Capacity,
            })
        {
            let ok = |l: &CapacityLink| {
                [l.scale, l.rate, l.exponent]
                    .iter()
                    .all(|v| *v > 0.0 && v.is_finite())
            };
            if self.link_inits.is_empty() || !self.link_inits.iter().all(ok) {
                return Err(ScalingError::config(
                    "link_inits must hold at least one link with positive L, F, C",
                ));
            }
        }
        if self.bootstrap == 1 {
            return Err(ScalingError::config(
                "bootstrap = 1 gives no spread; use 0 or at least 2 resamples (e.g. 1000)",
            ));
        }
        if let Some(c) = self.compute.iter().find(|c| !(**c > 0.0 && c.is_finite())) {
            return Err(ScalingError::config(format!(
                "compute budget {c} must be a positive number of FLOP"
            )));
        }
        if self.solver.max_iters == 0 || self.solver.memory == 0 {
            return Err(ScalingError::config(
                "solver max_iters and memory must be ≥ 1",
            ));
        }
        Ok(())
    }
}

/// Applies the exclusion rule and prepares the design. Returns the design and what was dropped.
pub(crate) fn prepare(
    points: &[Point],
    config: &FitConfig,
) -> Result<(Design, Vec<ExcludedPoint>)> {
    let kept = kept_points(points, config.drop_highest)?;
    let excluded = excluded_points(points, config.drop_highest);
    Ok((Design::new(&kept, config.law, &config.reference)?, excluded))
}

/// The points left after dropping the `k` highest losses (ties: the later point is dropped).
pub(crate) fn kept_points(points: &[Point], k: usize) -> Result<Vec<Point>> {
    if points.is_empty() {
        return Err(ScalingError::data(
            "no points to fit; load a non-empty run file",
        ));
    }
    if k >= points.len() {
        return Err(ScalingError::config(format!(
            "drop_highest = {k} would drop all {} points",
            points.len()
        )));
    }
    let order = loss_order(points);
    let dropped: std::collections::HashSet<usize> = order.into_iter().take(k).collect();
    Ok(points
        .iter()
        .enumerate()
        .filter(|(i, _)| !dropped.contains(i))
        .map(|(_, p)| p.clone())
        .collect())
}

fn excluded_points(points: &[Point], k: usize) -> Vec<ExcludedPoint> {
    loss_order(points)
        .into_iter()
        .take(k)
        .map(|i| ExcludedPoint {
            run: points[i].run.clone(),
            format: points[i].format.clone(),
            loss: points[i].loss,
        })
        .collect()
}

/// Point indices by descending loss; equal losses put the later point first.
fn loss_order(points: &[Point]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&i, &j| points[j].loss.total_cmp(&points[i].loss).then(j.cmp(&i)));
    order
}

/// Every start: each grid point with ρ = 1 (free mode) or each initial link (capacity mode).
pub(crate) fn build_starts(design: &Design, config: &FitConfig) -> Vec<Vec<f64>> {
    let layout = &design.layout;
    let extras: Vec<Vec<f64>> = match layout.law {
        Law::Chinchilla => vec![Vec::new()],
        Law::Unified { rho: RhoMode::Free } => vec![vec![0.0; layout.dim() - 5]],
        Law::Unified {
            rho: RhoMode::Capacity,
        } => config
            .link_inits
            .iter()
            .map(|l| vec![l.scale.ln(), l.rate.ln(), l.exponent.ln()])
            .collect(),
    };
    let mut starts = Vec::with_capacity(config.grid.len() * extras.len());
    for g in config.grid.points() {
        for x in &extras {
            let mut s = g.to_vec();
            s.extend_from_slice(x);
            starts.push(s);
        }
    }
    starts
}

/// Fits `config.law` to `points` and assembles the [`FitReport`] (with bootstrap intervals if
/// `config.bootstrap > 0`, and leave-one-format-out in capacity mode).
pub fn fit(points: &[Point], config: &FitConfig) -> Result<FitReport> {
    config.validate()?;
    let (design, excluded) = prepare(points, config)?;
    let starts = build_starts(&design, config);
    let (best, starts_failed) =
        multistart(&design, None, config.huber_delta, &starts, &config.solver)?;
    let params = design.layout.params(&best.theta);
    let residuals = log_residuals(&design, &params);
    let bootstrap = match config.bootstrap {
        0 => None,
        _ => Some(bootstrap_design(&design, config, &params)?),
    };
    let kept = kept_points(points, config.drop_highest)?;
    let lofo = leave_one_format_out(&kept, &design, config, &params)?;
    Ok(FitReport {
        law: config.law,
        reference: match config.law {
            Law::Chinchilla => None,
            Law::Unified { .. } => Some(config.reference.clone()),
        },
        huber_delta: config.huber_delta,
        n_points: design.len(),
        n_runs: design.runs.len(),
        excluded,
        formats: format_rows(&design, &params, &residuals),
        compute_optimal: optimal_rows(&design, &params, &config.compute),
        residuals: ResidualStats::of(&residuals),
        objective: best.cost,
        grid: config.grid.clone(),
        starts: starts.len(),
        starts_failed,
        best_start: best.start,
        params,
        bootstrap,
        leave_one_format_out: lofo,
        plots: Vec::new(),
    })
}

/// ln L_observed − ln L_predicted for every point of the design.
pub(crate) fn log_residuals(design: &Design, params: &LawParams) -> Vec<f64> {
    let rho: Vec<f64> = design
        .layout
        .formats
        .iter()
        .map(|f| params.rho.get(f).copied().unwrap_or(1.0))
        .collect();
    (0..design.len())
        .map(|i| {
            let pred = params.loss(
                design.ln_n[i].exp(),
                design.ln_d[i].exp(),
                rho[design.group[i]],
            );
            design.ln_l[i] - pred.ln()
        })
        .collect()
}

fn format_rows(design: &Design, params: &LawParams, residuals: &[f64]) -> Vec<FormatRow> {
    if design.layout.law == Law::Chinchilla {
        return Vec::new();
    }
    design
        .layout
        .formats
        .iter()
        .enumerate()
        .map(|(g, f)| {
            let r: Vec<f64> = (0..design.len())
                .filter(|&i| design.group[i] == g)
                .map(|i| residuals[i])
                .collect();
            let rho = params.rho.get(f).copied().unwrap_or(1.0);
            FormatRow {
                format: f.clone(),
                n_points: r.len(),
                rho,
                params_multiplier: 1.0 / rho,
                gmse: design.gmse[g],
                effective_bits: design.gmse[g].map(effective_bits),
                rmse_log: ResidualStats::of(&r).rmse_log,
            }
        })
        .collect()
}

fn optimal_rows(design: &Design, params: &LawParams, compute: &[f64]) -> Vec<ComputeOptimal> {
    let formats: Vec<(String, f64)> = match design.layout.law {
        Law::Chinchilla => vec![("all".to_owned(), 1.0)],
        Law::Unified { .. } => design
            .layout
            .formats
            .iter()
            .map(|f| (f.clone(), params.rho.get(f).copied().unwrap_or(1.0)))
            .collect(),
    };
    let mut rows = Vec::new();
    for &c in compute {
        for (f, rho) in &formats {
            let a_r = params.a * rho.powf(-params.alpha);
            let (n, d) = compute_optimal(a_r, params.b, params.alpha, params.beta, c);
            rows.push(ComputeOptimal {
                compute: c,
                format: f.clone(),
                n_params: n,
                tokens: d,
                tokens_per_param: d / n,
                loss: params.loss(n, d, *rho),
            });
        }
    }
    rows
}
