//! Sweeps: a plan (TOML) names a grid of model sizes × token budgets × recipes; every grid point
//! is trained through `lowbit-train` into its own run directory, resumably, and the final
//! validation losses become one summary CSV in the fitting schema of `lowbit-scaling`
//! ([`lowbit_scaling::load_points`]).
//!
//! This crate is the layer above the trainer (DESIGN.md §1): it trains; `lowbit-scaling` below it
//! only fits, and compiles without Burn.
//!
//! ```no_run
//! use lowbit_sweep::{SweepOptions, expand, load_plan, run_sweep};
//! # fn main() -> Result<(), lowbit_sweep::SweepError> {
//! let path = std::path::Path::new("recipes/sweeps/tiny.toml");
//! let plan = load_plan(path)?;
//! let opts = SweepOptions::new(".", "checkpoints/sweeps/tiny");
//! let runs = expand(&plan, path, "recipes".as_ref(), &opts.out)?;
//! let report = run_sweep(&plan.description, &runs, &opts, &mut |_| {})?;
//! println!("{:?}", report.summary_csv);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod error;
mod expand;
mod outcome;
mod plan;
mod run;
mod summary;
mod validate;

pub use error::SweepError;
pub use expand::{PlannedRun, expand, non_embedding_params};
pub use outcome::{RunOutcome, RunStatus, SweepEvent, SweepOptions, SweepReport};
pub use plan::{
    Budget, LrRule, SizeSpec, SweepPlan, SweepTrain, TokensSpec, load_plan, parse_plan,
    recipe_label,
};
pub use run::run_sweep;
pub use summary::GMSE_SAMPLES;
