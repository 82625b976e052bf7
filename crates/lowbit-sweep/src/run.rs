//! The sweep driver: train every planned run through `lowbit-train` (sequentially; each run
//! uses every core), skipping finished runs and resuming unfinished ones, then write the summary
//! CSV in the fitting schema (`summary.csv`) and a report of what happened (`sweep.json`).

use crate::error::SweepError;
use crate::expand::PlannedRun;
use crate::outcome::{RunOutcome, RunStatus, SweepEvent, SweepOptions, SweepReport};
use crate::summary::summary_points;
use lowbit_data::TokenDataset;
use lowbit_scaling::write_points_csv;
use lowbit_train::checkpoint::Manifest;
use lowbit_train::trainer::{Resume, TrainOptions, TrainState, load_dataset, train};
use lowbit_train::{CheckpointStore, checkpoint::sha256_hex};
use std::collections::BTreeMap;

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

/// Trains every run of `runs` (from [`crate::expand()`]) that is not finished, then writes
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
