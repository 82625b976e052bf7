//! The sweep driver: train every planned run through `lowbit-train` (sequentially; each run
//! uses every core), skipping finished runs and resuming unfinished ones, then write the summary
//! CSV in the fitting schema (`summary.csv`) and a report of what happened (`sweep.json`).

use super::error::SweepError;
use super::expand::PlannedRun;
use crate::data::{Point, write_points_csv};
use lowbit_data::TokenDataset;
use lowbit_train::checkpoint::Manifest;
use lowbit_train::trainer::{Progress, Resume, TrainOptions, TrainState, load_dataset, train};
use lowbit_train::{CheckpointStore, checkpoint::sha256_hex};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Gaussian samples per format for the `gmse` column (SE ≈ 0.1% for 4-bit formats).
pub const GMSE_SAMPLES: usize = 1 << 20;

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

/// Where a run directory stands relative to its plan.
enum Found {
    /// Final checkpoint verified: val loss and the recipe hash it was trained with.
    Finished {
        val_loss: f64,
        recipe_sha256: String,
    },
    /// Some checkpoints, the newest at this step.
    Partial(u64),
    /// No checkpoint.
    Empty,
}

fn inspect(run: &PlannedRun) -> Result<Found, SweepError> {
    let store = CheckpointStore::new(&run.dir, run.recipe.checkpoint.keep_last.max(1));
    let list = store.list();
    let Some(&(newest, _)) = list.last() else {
        return Ok(Found::Empty);
    };
    if newest > run.steps {
        return Err(SweepError::run_dir(
            &run.name,
            &run.dir,
            format!(
                "has a checkpoint at step {newest}, beyond the {} steps the plan now gives",
                run.steps
            ),
            "restore the plan's budget, or delete the run directory to retrain it",
        ));
    }
    if let Some((_, dir)) = list.iter().find(|(s, _)| *s == run.steps) {
        if Manifest::verify(dir).is_ok() {
            let st = TrainState::read(&dir.join("state.json")).map_err(|e| SweepError::Train {
                run: run.name.clone(),
                source: Box::new(e),
            })?;
            if let (true, Some(v)) = (st.step == run.steps, st.last_val_loss) {
                return Ok(Found::Finished {
                    val_loss: v,
                    recipe_sha256: st.recipe_sha256,
                });
            }
        }
    }
    Ok(Found::Partial(newest))
}

/// Trains every run of `runs` (from [`super::expand`]) that is not finished, then writes
/// `summary.csv` and `sweep.json` into `opts.out`. `on_event` sees each run start and end.
pub fn run_sweep(
    description: &str,
    runs: &[PlannedRun],
    opts: &SweepOptions,
    on_event: &mut dyn FnMut(SweepEvent<'_>),
) -> Result<SweepReport, SweepError> {
    std::fs::create_dir_all(&opts.out).map_err(|source| SweepError::Io {
        path: opts.out.clone(),
        source,
    })?;
    let mut datasets: BTreeMap<String, TokenDataset> = BTreeMap::new();
    let mut report = SweepReport {
        description: description.to_string(),
        out: opts.out.clone(),
        runs: Vec::new(),
        planned: runs.len(),
        interrupted: false,
        summary_csv: None,
        points: Vec::new(),
    };
    let total = runs.len();
    for (index, run) in runs.iter().enumerate() {
        on_event(SweepEvent::Start { index, total, run });
        let outcome = run_one(run, opts, &mut datasets)?;
        let stop = matches!(outcome.status, RunStatus::Interrupted { .. });
        on_event(SweepEvent::Done {
            index,
            total,
            outcome: &outcome,
        });
        report.runs.push(outcome);
        if stop {
            report.interrupted = true;
            break;
        }
    }
    if !report.interrupted {
        report.points = summary_points(runs, &report.runs, &opts.root)?;
        let csv = opts.out.join("summary.csv");
        write_points_csv(&report.points, &csv)?;
        report.summary_csv = Some(csv);
    }
    let json = opts.out.join("sweep.json");
    let text = serde_json::to_string_pretty(&report).map_err(|e| SweepError::Io {
        path: json.clone(),
        source: std::io::Error::other(e),
    })?;
    std::fs::write(&json, text).map_err(|source| SweepError::Io { path: json, source })?;
    Ok(report)
}

fn run_one(
    run: &PlannedRun,
    opts: &SweepOptions,
    datasets: &mut BTreeMap<String, TokenDataset>,
) -> Result<RunOutcome, SweepError> {
    let c = &run.recipe.compression;
    let mut outcome = RunOutcome {
        run: run.name.clone(),
        size: run.size.clone(),
        budget: run.budget.clone(),
        format: run.format.clone(),
        weight_format: c.weight.clone().unwrap_or_else(|| "none".into()),
        act_format: c.input.clone().unwrap_or_else(|| "none".into()),
        n_params: run.n_params,
        steps: run.steps,
        tokens: run.tokens,
        lr: run.lr,
        val_loss: None,
        status: RunStatus::Skipped,
        wall_s: 0.0,
        tok_s: 0.0,
        warnings: Vec::new(),
    };
    let from_step = match inspect(run)? {
        Found::Finished {
            val_loss,
            recipe_sha256,
        } => {
            if recipe_sha256 != sha256_hex(run.recipe_toml.as_bytes()) {
                outcome.warnings.push(format!(
                    "{}: finished with a different resolved recipe than the plan now gives; \
                     delete the run directory to retrain it",
                    run.dir.display()
                ));
            }
            outcome.val_loss = Some(val_loss);
            return Ok(outcome);
        }
        Found::Partial(step) => Some(step),
        Found::Empty => {
            // Records of an attempt that died before its first checkpoint describe steps that
            // are about to be redone.
            let stale = run.dir.join("metrics.jsonl");
            if stale.exists() {
                std::fs::remove_file(&stale).map_err(|source| SweepError::Io {
                    path: stale.clone(),
                    source,
                })?;
            }
            None
        }
    };
    let key = toml::to_string(&run.recipe.data).unwrap_or_else(|_| run.recipe.data.corpus.clone());
    if !datasets.contains_key(&key) {
        let d = load_dataset(&run.recipe.data, &opts.root).map_err(|e| SweepError::Train {
            run: run.name.clone(),
            source: Box::new(e),
        })?;
        datasets.insert(key.clone(), d);
    }
    let data = &datasets[&key];
    let mut t = TrainOptions::new(&run.dir);
    t.resume = Resume::Auto;
    t.progress = opts.progress;
    t.stop = opts.stop.clone();
    t.stop_after = opts.stop_after_steps;
    let s = train(&run.recipe, &run.recipe_toml, data, &t).map_err(|e| SweepError::Train {
        run: run.name.clone(),
        source: Box::new(e),
    })?;
    outcome.wall_s = s.wall_s;
    outcome.tok_s = s.tok_s;
    outcome.warnings = s.warnings;
    if s.interrupted || s.steps < run.steps {
        outcome.status = RunStatus::Interrupted { at_step: s.steps };
        return Ok(outcome);
    }
    outcome.status = match from_step {
        Some(from_step) => RunStatus::Resumed { from_step },
        None => RunStatus::Trained,
    };
    // The loss is read back from the final checkpoint (as for a skipped run), so a sweep that
    // trained a run and one that skipped it write the same summary.
    match inspect(run)? {
        Found::Finished { val_loss, .. } => outcome.val_loss = Some(val_loss),
        _ => {
            return Err(SweepError::run_dir(
                &run.name,
                &run.dir,
                format!(
                    "training returned but step-{:08} does not verify or has no validation loss",
                    run.steps
                ),
                "check [eval] of the recipe (batches ≥ 1) and rerun the sweep",
            ));
        }
    }
    Ok(outcome)
}

/// Points of the summary: one per run, the final validation loss, and the weight format's GMSE
/// for quantized recipes (input of `--rho capacity`).
fn summary_points(
    runs: &[PlannedRun],
    outcomes: &[RunOutcome],
    root: &Path,
) -> Result<Vec<Point>, SweepError> {
    let mut gmse: BTreeMap<String, f64> = BTreeMap::new();
    let mut points = Vec::new();
    for (run, o) in runs.iter().zip(outcomes) {
        let Some(loss) = o.val_loss else { continue };
        let g = match &run.recipe.compression.weight {
            Some(w) => Some(match gmse.get(w) {
                Some(g) => *g,
                None => {
                    let g = measure_gmse(run, w, root)?;
                    gmse.insert(w.clone(), g);
                    g
                }
            }),
            None => None,
        };
        points.push(Point {
            run: o.run.clone(),
            format: o.format.clone(),
            n_params: o.n_params as f64,
            tokens: o.tokens as f64,
            loss,
            weight_format: Some(o.weight_format.clone()),
            act_format: Some(o.act_format.clone()),
            sparsity: None,
            gmse: g,
        });
    }
    Ok(points)
}

fn measure_gmse(run: &PlannedRun, format: &str, root: &Path) -> Result<f64, SweepError> {
    let err = |message: String| SweepError::Gmse {
        run: run.name.clone(),
        format: format.to_string(),
        message,
    };
    let mut reg = lowbit_formats::GridRegistry::builtin()
        .with_dir(&root.join("grids"))
        .map_err(|e| err(e.to_string()))?;
    if let Some(f) = &run.recipe.compression.weight_grid_file {
        reg = reg
            .with_file(&root.join(f))
            .map_err(|e| err(e.to_string()))?;
    }
    let f = lowbit_formats::Format::parse_with(format, &reg).map_err(|e| err(e.to_string()))?;
    let g = lowbit_formats::gmse::gmse(&f, GMSE_SAMPLES, 0).map_err(|e| err(e.to_string()))?;
    Ok(g.gmse)
}
