//! What a fit returns: parameters, intervals, allocations, per-format ρ, residuals and the
//! leave-one-format-out check. Serialises to JSON; `Display` prints the terminal table
//! (`display.rs`).

use crate::bootstrap::BootstrapSummary;
use crate::data::Point;
use crate::law::{Law, LawParams};
use crate::optimal::ComputeOptimal;
use crate::solver::InitGrid;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Per-format results (unified law).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormatRow {
    /// Format name.
    pub format: String,
    /// Points of this format used in the fit.
    pub n_points: usize,
    /// ρ: N parameters in this format act like ρ·N reference parameters.
    pub rho: f64,
    /// 1/ρ: parameters needed to match the reference's parameter term.
    pub params_multiplier: f64,
    /// Gaussian MSE from the data, if given.
    pub gmse: Option<f64>,
    /// −½·log2 GMSE, if the GMSE is given.
    pub effective_bits: Option<f64>,
    /// RMSE of this format's log residuals.
    pub rmse_log: f64,
}

/// Residuals r = ln L_observed − ln L_predicted over the fitted points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResidualStats {
    /// Number of points.
    pub n_points: usize,
    /// Root mean square of r.
    pub rmse_log: f64,
    /// max |r|.
    pub max_abs_log: f64,
    /// Mean of r.
    pub mean_log: f64,
}

impl ResidualStats {
    /// Statistics of the residuals `r`.
    pub fn of(r: &[f64]) -> Self {
        let n = r.len().max(1) as f64;
        Self {
            n_points: r.len(),
            rmse_log: (r.iter().map(|x| x * x).sum::<f64>() / n).sqrt(),
            max_abs_log: r.iter().fold(0.0, |m, x| m.max(x.abs())),
            mean_log: r.iter().sum::<f64>() / n,
        }
    }
}

/// A point dropped by the exclusion rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExcludedPoint {
    /// Run id.
    pub run: String,
    /// Format.
    pub format: String,
    /// Its loss.
    pub loss: f64,
}

/// Prediction of one held-out format from a fit without it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LofoRow {
    /// The held-out format.
    pub format: String,
    /// Its points.
    pub n_points: usize,
    /// ρ of the fit on all data.
    pub rho_full: f64,
    /// ρ predicted from its GMSE by the fit without it.
    pub rho_predicted: f64,
    /// Its log residuals under the prediction.
    pub residuals: ResidualStats,
}

/// Leave-one-format-out prediction error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LeaveOneFormatOut {
    /// Not computed, and why.
    NotApplicable {
        /// Why not.
        reason: String,
    },
    /// One row per held-out format.
    Done {
        /// The rows.
        rows: Vec<LofoRow>,
    },
}

/// Everything a fit produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// The law.
    pub law: Law,
    /// The ρ = 1 format (unified law).
    pub reference: Option<String>,
    /// Huber threshold δ.
    pub huber_delta: f64,
    /// Points fitted.
    pub n_points: usize,
    /// Runs fitted.
    pub n_runs: usize,
    /// Points dropped by the exclusion rule (highest losses first).
    pub excluded: Vec<ExcludedPoint>,
    /// The fitted parameters.
    pub params: LawParams,
    /// The objective at the fit.
    pub objective: f64,
    /// The init grid.
    pub grid: InitGrid,
    /// Number of L-BFGS starts.
    pub starts: usize,
    /// Starts that produced no finite objective.
    pub starts_failed: usize,
    /// Index of the winning start.
    pub best_start: usize,
    /// Per-format ρ (unified law; empty for Chinchilla).
    pub formats: Vec<FormatRow>,
    /// Compute-optimal allocations.
    pub compute_optimal: Vec<ComputeOptimal>,
    /// Residual statistics over all fitted points.
    pub residuals: ResidualStats,
    /// Bootstrap standard errors and intervals, if resampled.
    pub bootstrap: Option<BootstrapSummary>,
    /// Leave-one-format-out prediction error.
    pub leave_one_format_out: LeaveOneFormatOut,
    /// Plot files (filled in by the caller of [`crate::plot`]).
    pub plots: Vec<PathBuf>,
}

impl FitReport {
    /// ρ of `format`: the fitted value if the format was in the data, else (capacity mode) the
    /// link at `gmse`; 1 for the Chinchilla law.
    pub fn rho_of(&self, format: &str, gmse: Option<f64>) -> Option<f64> {
        if self.law == Law::Chinchilla {
            return Some(1.0);
        }
        if let Some(r) = self.params.rho.get(format) {
            return Some(*r);
        }
        gmse.and_then(|g| self.params.rho_from_gmse(g))
    }

    /// Predicted loss of a point (`None` if its format's ρ is unknown).
    pub fn predict(&self, p: &Point) -> Option<f64> {
        let rho = self.rho_of(&p.format, p.gmse)?;
        Some(self.params.loss(p.n_params, p.tokens, rho))
    }

    /// Predicted loss of a format never trained, from its GMSE (capacity mode only).
    pub fn predict_from_gmse(&self, n_params: f64, tokens: f64, gmse: f64) -> Option<f64> {
        let rho = self.params.rho_from_gmse(gmse)?;
        Some(self.params.loss(n_params, tokens, rho))
    }
}
