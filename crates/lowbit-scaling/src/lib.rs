//! Scaling-law fits: pure math on run data (a CSV or JSON lines of N, D, loss per run), no Burn.
//! The sweeps that train the runs and write that data live above the trainer, in `lowbit-sweep`.
//!
//! - Chinchilla law L = E + A/N^α + B/D^β, fitted as in Hoffmann et al. 2022 (Approach 3):
//!   Huber (δ = 1e-3) on log-space residuals of log L̂ = LSE(a − α·log N, b − β·log D, e), L-BFGS
//!   from a grid of starts, best objective kept; Besiroglu et al. 2024 ("Chinchilla Scaling: A
//!   replication attempt") for the grid, the exclusion rule and bootstrap intervals.
//! - Unified law L = A·(N·ρ(R))^(−α) + B·D^(−β) + E (QuEST, Panferov et al. 2025, arXiv
//!   2502.05003, law with precision efficiency; Unified Scaling Laws for Compressed
//!   Representations, arXiv 2506.01863), ρ(bf16) = 1, ρ either free per format or the capacity
//!   link ρ = L·tanh(F·b_eff^C) of the format's Gaussian MSE.
//!
//! ```no_run
//! use lowbit_scaling::{FitConfig, Law, RhoMode, fit, load_points, plot};
//! # fn main() -> Result<(), lowbit_scaling::ScalingError> {
//! let points = load_points("runs.csv".as_ref())?;
//! let mut config = FitConfig::new(Law::Unified { rho: RhoMode::Capacity });
//! config.bootstrap = 1000;
//! let mut report = fit(&points, &config)?;
//! report.plots = plot(&report, &points, "checkpoints/scaling-fit".as_ref())?;
//! println!("{report}");
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod bootstrap;
mod capacity;
mod data;
mod design;
mod display;
mod error;
mod fit;
mod law;
mod lofo;
mod objective;
mod optimal;
mod plot;
mod report;
mod solver;
mod synth;

pub use bootstrap::{BootstrapInit, BootstrapSummary, Interval, bootstrap};
pub use capacity::{
    CapacityLink, CapacityRow, FormatGmse, capacity_table, effective_bits, load_gmse_table,
};
pub use data::{OPTIONAL_COLUMNS, Point, REQUIRED_COLUMNS, load_points, write_points_csv};
pub use error::{Result, ScalingError};
pub use fit::{FitConfig, fit};
pub use law::{Law, LawParams, RhoMode};
pub use objective::{huber, huber_grad};
pub use optimal::{ComputeOptimal, compute_optimal};
pub use plot::{CurveBudget, LossCurve, loss_curves, plot};
pub use report::{ExcludedPoint, FitReport, FormatRow, LeaveOneFormatOut, LofoRow, ResidualStats};
pub use solver::{InitGrid, SolverOptions};
pub use synth::{SyntheticFormat, SyntheticSpec, epoch_law, log_space, synthetic_points};
