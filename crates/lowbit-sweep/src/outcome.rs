//! What a sweep reports: its options, each run's outcome, the whole sweep's report (written as
//! `sweep.json`) and the progress events a caller prints.

use crate::expand::PlannedRun;
use lowbit_scaling::Point;
use lowbit_train::trainer::Progress;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Options of a sweep that are not part of the plan.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Repository root: corpora, `datasets/cache/` and `grids/` are resolved against it.
    pub root: PathBuf,
    /// Output directory (run directories, `summary.csv`, `sweep.json`).
    pub out: PathBuf,
    /// Progress display of each run's trainer.
    pub progress: Progress,
    /// Set by a signal handler: the current run finishes its step, checkpoints, and the sweep
    /// stops (a later invocation resumes it).
    pub stop: Arc<AtomicBool>,
    /// Stop the first run that trains once it has this many steps, as if interrupted (tests).
    pub stop_after_steps: Option<u64>,
}

impl SweepOptions {
    /// Options for a sweep rooted at `root` writing into `out`, quiet runs.
    pub fn new(root: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            out: out.into(),
            progress: Progress::Quiet,
            stop: Arc::new(AtomicBool::new(false)),
            stop_after_steps: None,
        }
    }
}

/// What the sweep did with one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum RunStatus {
    /// Its final checkpoint exists and verifies: not trained again.
    Skipped,
    /// Trained from scratch to the end.
    Trained,
    /// Continued from a checkpoint at `from_step` to the end.
    Resumed {
        /// The step it continued from.
        from_step: u64,
    },
    /// Stopped (signal or `stop_after_steps`) at `at_step` with a checkpoint.
    Interrupted {
        /// Completed steps.
        at_step: u64,
    },
}

/// One run of the report.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    /// Run name (= directory name).
    pub run: String,
    /// Size label.
    pub size: String,
    /// Budget label.
    pub budget: String,
    /// Recipe label (`format` column).
    pub format: String,
    /// Weight format of the recipe (`none` = full precision).
    pub weight_format: String,
    /// Input-activation format (`none` = full precision).
    pub act_format: String,
    /// Non-embedding parameters.
    pub n_params: u64,
    /// Planned steps.
    pub steps: u64,
    /// Planned tokens (steps · batch · seq_len).
    pub tokens: u64,
    /// Peak learning rate.
    pub lr: f64,
    /// Final validation loss (absent for an interrupted run).
    pub val_loss: Option<f64>,
    /// What happened.
    pub status: RunStatus,
    /// Wall time of this invocation's training (0 when skipped).
    pub wall_s: f64,
    /// Training throughput of this invocation (0 when skipped).
    pub tok_s: f64,
    /// Non-fatal problems (changed recipe, skipped corrupt checkpoints).
    pub warnings: Vec<String>,
}

/// What a sweep did.
#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    /// The plan's description.
    pub description: String,
    /// Output directory.
    pub out: PathBuf,
    /// One outcome per run reached, in plan order.
    pub runs: Vec<RunOutcome>,
    /// Runs of the plan.
    pub planned: usize,
    /// Stopped before every run finished (no summary written).
    pub interrupted: bool,
    /// `summary.csv`, when every run finished.
    pub summary_csv: Option<PathBuf>,
    /// The summary's points (fitting schema), when every run finished.
    #[serde(skip)]
    pub points: Vec<Point>,
}

/// Progress notifications, for the caller to print.
#[derive(Debug)]
pub enum SweepEvent<'a> {
    /// Run `index` (0-based) of `total` is about to train (or be skipped).
    Start {
        /// 0-based index.
        index: usize,
        /// Runs in the plan.
        total: usize,
        /// The run.
        run: &'a PlannedRun,
    },
    /// Run `index` is done.
    Done {
        /// 0-based index.
        index: usize,
        /// Runs in the plan.
        total: usize,
        /// What happened.
        outcome: &'a RunOutcome,
    },
}
