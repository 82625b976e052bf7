//! [`train_task`]: a whole run of any [`Task`] — resume point, restore or fresh start, metrics,
//! progress, the step loop — so every command that trains (`lowbit train`, `finetune`, `judge
//! train`) gets checkpoints, bit-identical resume, the guard, metrics.jsonl, TensorBoard and the
//! progress bar from one place. The caller supplies what is specific: the task, the settings, the
//! fresh state, and a check of a checkpoint before it is resumed.

use super::checkpointer::Checkpointer;
use super::ddp::Parallel;
use super::error::{TrainError, io_err};
use super::options::{TrainOptions, TrainSummary};
use super::progress::Reporter;
use super::resume::{restore, resume_point};
use super::state::TrainState;
use super::step_loop::{Env, LoopConfig, Start, run_loop};
use super::task::Task;
use crate::checkpoint::{CheckpointStore, sha256_hex};
use crate::metrics::MetricsSink;
use burn::tensor::Device;
use lowbit_optim::Optimizer;
use std::path::Path;
use std::time::Instant;

/// What a run of a task is, besides the task.
pub struct TaskRun<'a, M> {
    /// Loop settings.
    pub loop_cfg: LoopConfig,
    /// The optimizer, fresh and configured (which parameters it trains, and how: e.g. AdamW with
    /// parameter groups); a resumed run loads the checkpoint's state into it.
    pub optimizer: Box<dyn Optimizer<M>>,
    /// Checkpoints kept.
    pub keep_last: usize,
    /// The resolved recipe (hashed into `state.json`, copied into every checkpoint).
    pub recipe_toml: &'a str,
    /// The state of step 0 (seeds, data cursor layout).
    pub fresh_state: TrainState,
    /// Devices: the first trains; two or more run data-parallel.
    pub devices: Vec<Device>,
}

/// What the caller checks when a run resumes.
pub trait ResumeCheck {
    /// Before anything is built from checkpoint `dir`: may it be resumed with this run's
    /// settings? Returns warnings (e.g. allowed recipe changes).
    fn before(&mut self, _dir: &Path) -> Result<Vec<String>, TrainError> {
        Ok(Vec::new())
    }

    /// After restoring: checks or adjusts the restored state.
    fn after(&mut self, _state: &mut TrainState) -> Result<(), TrainError> {
        Ok(())
    }
}

/// No checks: any checkpoint of the run directory resumes as it is.
pub struct NoResumeCheck;

impl ResumeCheck for NoResumeCheck {}

/// Runs `task` in `opts.run_dir`: resumes from the checkpoint `opts.resume` names (after
/// `check`) or starts fresh, then steps to `run.loop_cfg.steps` or a stop.
///
/// # Errors
/// Checkpoint, state and I/O errors; a refused step under `on_non_finite = "stop"`; whatever
/// the task or `check` report.
pub fn train_task<T: Task>(
    task: &T,
    run: TaskRun<'_, T::Model>,
    opts: &TrainOptions,
    check: &mut dyn ResumeCheck,
) -> Result<TrainSummary, TrainError> {
    let started = Instant::now();
    let mut warnings = Vec::new();
    let run_dir = &opts.run_dir;
    std::fs::create_dir_all(run_dir).map_err(io_err(run_dir))?;
    let device = run
        .devices
        .first()
        .cloned()
        .ok_or_else(|| TrainError::Unsupported {
            key: "train.devices".into(),
            message: "no devices".into(),
        })?;
    let ad = device.clone().autodiff();
    let parallel = if run.devices.len() > 1 {
        Some(Parallel::start(
            run.devices.clone(),
            run.loop_cfg.micro_batches,
        )?)
    } else {
        None
    };
    let store = CheckpointStore::new(run_dir, run.keep_last);
    let ckpt = Checkpointer {
        store: store.clone(),
        task,
        recipe_toml: run.recipe_toml,
    };
    let resume_dir = resume_point(&opts.resume, &store, run_dir, &mut warnings)?;
    let (model, opt, mut state) = match &resume_dir {
        Some(dir) => {
            warnings.extend(check.before(dir)?);
            let (model, opt, mut state) = restore(task, dir, run.optimizer, &ad, &device)?;
            check.after(&mut state)?;
            (model, opt, state)
        }
        None => (task.init_model(&ad)?, run.optimizer, run.fresh_state),
    };
    state.recipe_sha256 = sha256_hex(run.recipe_toml.as_bytes());
    let resolved = run_dir.join("recipe.resolved.toml");
    std::fs::write(&resolved, run.recipe_toml).map_err(io_err(&resolved))?;
    let mut sink = MetricsSink::open(run_dir, resume_dir.as_ref().map(|_| state.step))
        .map_err(io_err(run_dir))?;
    let mut reporter = Reporter::new(opts.progress, state.step, run.loop_cfg.steps);
    let env = Env {
        task,
        cfg: &run.loop_cfg,
        ckpt: &ckpt,
        opts,
        device: &device,
        ad: &ad,
        parallel: parallel.as_ref(),
    };
    let start = Start {
        model,
        opt,
        state,
        resumed_from: resume_dir,
    };
    let out = run_loop(&env, start, &mut sink, &mut reporter)?;
    reporter.finish();
    let state = out.state;
    Ok(TrainSummary {
        run_dir: run_dir.clone(),
        steps: state.step,
        tokens: state.tokens_seen,
        final_loss: state.last_loss,
        val_loss: state.last_val_loss,
        val_ppl: state.last_val_loss.map(f64::exp),
        wall_s: started.elapsed().as_secs_f64(),
        tok_s: if out.train_time > 0.0 {
            out.train_tokens as f64 / out.train_time
        } else {
            0.0
        },
        interrupted: out.interrupted,
        checkpoint: out.checkpoint,
        warnings,
    })
}
