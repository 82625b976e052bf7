//! Sweeps: a plan (TOML) names a grid of model sizes × token budgets × recipes; every grid point
//! is trained through `lowbit-train` into its own run directory, resumably, and the final
//! validation losses become one summary CSV in the fitting schema ([`crate::load_points`]).
//!
//! ```no_run
//! use lowbit_scaling::sweep::{SweepOptions, expand, load_plan, run_sweep};
//! # fn main() -> Result<(), lowbit_scaling::sweep::SweepError> {
//! let path = std::path::Path::new("recipes/sweeps/tiny.toml");
//! let plan = load_plan(path)?;
//! let opts = SweepOptions::new(".", "checkpoints/sweeps/tiny");
//! let runs = expand(&plan, path, "recipes".as_ref(), &opts.out)?;
//! let report = run_sweep(&plan.description, &runs, &opts, &mut |_| {})?;
//! println!("{:?}", report.summary_csv);
//! # Ok(())
//! # }
//! ```

mod error;
mod expand;
mod plan;
mod run;

pub use error::SweepError;
pub use expand::{PlannedRun, expand, non_embedding_params};
pub use plan::{
    Budget, LrRule, SizeSpec, SweepPlan, SweepTrain, TokensSpec, load_plan, parse_plan,
    recipe_label,
};
pub use run::{
    GMSE_SAMPLES, RunOutcome, RunStatus, SweepEvent, SweepOptions, SweepReport, run_sweep,
};
