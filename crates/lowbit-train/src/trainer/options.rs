//! What a caller controls about a run besides its recipe, and what the run reports.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Where a run starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// A fresh run; refuses a run directory that already has checkpoints.
    Never,
    /// The newest complete checkpoint of the run directory (verified), or fresh if none.
    Auto,
    /// This checkpoint directory (verified).
    From(PathBuf),
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A progress bar with ETA on a terminal, one plain line per log step otherwise.
    Auto,
    /// One plain line per log step.
    Lines,
    /// Nothing (tests).
    Quiet,
}

/// Run options that are not part of the recipe.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// `checkpoints/<run-name>/`.
    pub run_dir: PathBuf,
    /// Where to start.
    pub resume: Resume,
    /// Progress display.
    pub progress: Progress,
    /// Set by a signal handler (Ctrl-C / SIGTERM): the run finishes its step, writes a
    /// checkpoint and returns.
    pub stop: Arc<AtomicBool>,
    /// Stop (with a checkpoint) once this many steps are complete, as if interrupted.
    pub stop_after: Option<u64>,
    /// Testing hook: pretend the loss of this (1-based) step is NaN, to exercise the guard.
    pub inject_nan_at: Option<u64>,
    /// Testing hook: in this (1-based) step's forward pass, the embedding row of the step's
    /// first input token is NaN, so a NaN *activation* reaches the quantizers (which refuse it
    /// with `NonFinite`) or the loss; the guard must handle either.
    pub inject_nan_activation_at: Option<u64>,
    /// Resume even when the checkpoint's recipe differs in keys outside
    /// [`RESUME_MAY_CHANGE`](crate::recipe::RESUME_MAY_CHANGE) (`--allow-recipe-change`); the
    /// differing keys are still reported as a warning.
    pub allow_recipe_change: bool,
}

impl TrainOptions {
    /// Options for a fresh run in `run_dir` (devices come from the recipe's `train.devices`).
    pub fn new(run_dir: impl Into<PathBuf>) -> Self {
        Self {
            run_dir: run_dir.into(),
            resume: Resume::Never,
            progress: Progress::Auto,
            stop: Arc::new(AtomicBool::new(false)),
            stop_after: None,
            inject_nan_at: None,
            inject_nan_activation_at: None,
            allow_recipe_change: false,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSummary {
    /// The run directory.
    pub run_dir: PathBuf,
    /// Completed steps.
    pub steps: u64,
    /// Training tokens consumed.
    pub tokens: u64,
    /// Loss of the last step.
    pub final_loss: Option<f64>,
    /// Last validation loss.
    pub val_loss: Option<f64>,
    /// exp(val_loss).
    pub val_ppl: Option<f64>,
    /// Wall time of this invocation.
    pub wall_s: f64,
    /// Training throughput of this invocation (tokens / wall time of the steps).
    pub tok_s: f64,
    /// Stopped early (signal or `stop_after`).
    pub interrupted: bool,
    /// The last checkpoint written.
    pub checkpoint: Option<PathBuf>,
    /// Non-fatal problems (skipped corrupt checkpoints, changed recipe on resume, …).
    pub warnings: Vec<String>,
}
