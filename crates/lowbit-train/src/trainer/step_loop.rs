//! The step loop, for any [`Task`] (DESIGN.md §2): micro-batches → gradients → non-finite guard
//! → global clip → optimizer → metrics → eval → checkpoint, until the last step or a stop.
//!
//! Burn's epoch-based `Learner` is not used: lowbit needs step checkpoints, a data cursor that is
//! the step counter, and a guard that refuses a step before the optimizer sees it.

use super::checkpointer::Checkpointer;
use super::ddp::Parallel;
use super::error::{TrainError, io_err};
use super::options::TrainOptions;
use super::progress::Reporter;
use super::state::TrainState;
use super::step::{refusal, step_grads};
use super::task::Task;
use crate::metrics::{MetricsSink, Record};
use crate::recipe::NonFinitePolicy;
use crate::schedule::OneCycle;
use burn::module::Module;
use burn::tensor::Device;
use lowbit_optim::{GradNorms, Optimizer, clip_factor, grad_norms};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// The loop's settings (from a recipe's `train`, `eval`, `log`, `checkpoint` sections).
#[derive(Debug, Clone)]
pub struct LoopConfig {
    /// Optimizer steps of the whole run.
    pub steps: u64,
    /// Learning-rate schedule.
    pub schedule: OneCycle,
    /// Micro-batches per step (gradient accumulation).
    pub micro_batches: usize,
    /// Global gradient-norm clip.
    pub grad_clip: f64,
    /// What a refused step does.
    pub on_non_finite: NonFinitePolicy,
    /// Evaluate every this many steps (and at the last).
    pub eval_every: u64,
    /// Log every this many steps.
    pub log_every: u64,
    /// Checkpoint every this many steps (and at the last).
    pub checkpoint_every: u64,
}

impl LoopConfig {
    /// The settings of a recipe's `train`, `eval`, `log` and `checkpoint` sections (OneCycle
    /// schedule over `train.steps`).
    pub fn from_sections(
        t: &crate::recipe::TrainSection,
        eval: &crate::recipe::EvalSection,
        log: &crate::recipe::LogSection,
        checkpoint: &crate::recipe::CheckpointSection,
    ) -> Self {
        Self {
            steps: t.steps,
            schedule: OneCycle {
                max_lr: t.lr,
                total: t.steps,
                warmup_frac: t.warmup_frac,
                initial_div: t.initial_lr_div,
                final_frac: t.final_lr_frac,
            },
            micro_batches: t.grad_accum.max(1),
            grad_clip: t.grad_clip,
            on_non_finite: t.on_non_finite,
            eval_every: eval.every_steps,
            log_every: log.every_steps,
            checkpoint_every: checkpoint.every_steps,
        }
    }
}

/// Where the loop starts: fresh, or restored from a checkpoint.
pub struct Start<M> {
    /// The model (on the autodiff device).
    pub model: M,
    /// The optimizer with its state.
    pub opt: Box<dyn Optimizer<M>>,
    /// Step counters, data cursor, RNG seeds.
    pub state: TrainState,
    /// The checkpoint this start was restored from.
    pub resumed_from: Option<PathBuf>,
}

/// What the loop did.
pub(super) struct LoopOutcome {
    /// The final state.
    pub state: TrainState,
    /// Stopped early (signal or `stop_after`).
    pub interrupted: bool,
    /// The last checkpoint written (or resumed from).
    pub checkpoint: Option<PathBuf>,
    /// Seconds spent in accepted steps, and their tokens.
    pub train_time: f64,
    /// Tokens of accepted steps.
    pub train_tokens: u64,
}

/// Everything the loop needs besides the start point.
pub(super) struct Env<'a, T: Task> {
    /// The objective.
    pub task: &'a T,
    /// Settings.
    pub cfg: &'a LoopConfig,
    /// Checkpoint writer.
    pub ckpt: &'a Checkpointer<'a, T>,
    /// Caller options (stop flag, test hooks).
    pub opts: &'a TrainOptions,
    /// Inference device (evaluation).
    pub device: &'a Device,
    /// Autodiff device (training).
    pub ad: &'a Device,
    /// Data-parallel workers, if more than one device.
    pub parallel: Option<&'a Parallel>,
}

/// Runs steps from `start.state.step` to `cfg.steps`, writing metrics to `sink`.
pub(super) fn run_loop<T: Task>(
    env: &Env<'_, T>,
    start: Start<T::Model>,
    sink: &mut MetricsSink,
    reporter: &mut Reporter,
) -> Result<LoopOutcome, TrainError> {
    let Env {
        task,
        cfg,
        ckpt,
        opts,
        ..
    } = env;
    let Start {
        mut model,
        mut opt,
        mut state,
        resumed_from,
    } = start;
    let micro_batches = cfg.micro_batches.max(1);
    let tokens_per_step = task.tokens_per_step();
    let mut last_ckpt = resumed_from;
    let mut interrupted = false;
    let mut window_start = Instant::now();
    let mut window_tokens = 0u64;
    let mut train_time = 0.0f64;
    let mut train_tokens = 0u64;
    let start_step = state.step;

    while state.step < cfg.steps {
        if opts.stop.load(Ordering::SeqCst) || opts.stop_after.is_some_and(|s| state.step >= s) {
            interrupted = true;
            break;
        }
        let step_started = Instant::now();
        let step = state.step; // 0-based index of this step
        let lr = cfg.schedule.lr(step);
        let cursor = state.sampler.cursor;
        let poisoned = (opts.inject_nan_activation_at == Some(step + 1))
            .then(|| task.poisoned(&model, cursor))
            .flatten();
        let fwd_model = poisoned.as_ref().unwrap_or(&model);
        let g = step_grads(
            *task,
            fwd_model,
            cursor,
            micro_batches,
            env.ad,
            env.parallel,
        )?;
        drop(poisoned);
        let mut loss = g.loss_sum / micro_batches as f64;
        if opts.inject_nan_at == Some(step + 1) {
            loss = f64::NAN;
        }
        let norms = match g.forward_error {
            // No gradients exist: the norm is unknown, not zero.
            Some(_) => GradNorms {
                total: f64::NAN,
                per_param: Vec::new(),
            },
            None => grad_norms(&model, &g.grads)?,
        };
        let grad_norm = norms.total / micro_batches as f64;
        state.step += 1;
        state.sampler.cursor += micro_batches as u64;
        state.tokens_seen += tokens_per_step;

        let refused = refusal(&g.forward_error, loss, grad_norm);
        let layers = norms.non_finite().join(", ");
        let in_layers = |sep: &str| {
            if layers.is_empty() {
                String::new()
            } else {
                format!("{sep}non-finite gradients in {layers}")
            }
        };
        if let Some(what) = &refused {
            let detail = in_layers(" (");
            let close = if detail.is_empty() { "" } else { ")" };
            reporter.warn(&format!(
                "step {}: non-finite {what}; step refused{detail}{close}",
                state.step
            ));
            if cfg.on_non_finite == NonFinitePolicy::Stop {
                let mut rec = Record {
                    step: state.step,
                    tokens: state.tokens_seen,
                    loss,
                    lr,
                    grad_norm,
                    tok_s: 0.0,
                    val_loss: None,
                    val_ppl: None,
                    extra: Default::default(),
                };
                rec.extra.insert("non_finite".into(), 1.0);
                rec.extra
                    .insert("non_finite_layers".into(), norms.non_finite().len() as f64);
                sink.write(&rec).map_err(io_err(&opts.run_dir))?;
                // Save the last good state under the steps completed before this one.
                state.step -= 1;
                state.sampler.cursor -= micro_batches as u64;
                state.tokens_seen -= tokens_per_step;
                let dir = ckpt.save(&model, opt.as_ref(), &state)?;
                return Err(TrainError::NonFinite {
                    step: state.step + 1,
                    what: what.clone(),
                    layers: in_layers("; "),
                    checkpoint: dir.display().to_string(),
                });
            }
            // skip: the optimizer never sees these gradients; the step's hooks (eval, log,
            // checkpoint — the final ones too) still run below.
        } else {
            let scale = clip_factor(grad_norm, cfg.grad_clip) / micro_batches as f64;
            model = opt.step(model, g.grads, lr, scale)?;
            state.optimizer_steps = opt.steps();
            state.last_loss = Some(loss);
            let dt = step_started.elapsed().as_secs_f64();
            train_time += dt;
            train_tokens += tokens_per_step;
            window_tokens += tokens_per_step;
        }

        let is_last = state.step == cfg.steps;
        let do_eval = is_last || state.step % cfg.eval_every.max(1) == 0;
        let do_log = refused.is_some() || do_eval || state.step % cfg.log_every.max(1) == 0;
        let mut val_loss = None;
        let mut extra = std::collections::BTreeMap::new();
        if do_eval {
            let e = task.evaluate(&model.valid(), env.device)?;
            state.last_val_loss = Some(e.loss);
            val_loss = Some(e.loss);
            extra = e.scalars;
        }
        if do_log {
            let secs = window_start.elapsed().as_secs_f64().max(1e-9);
            if refused.is_some() {
                extra.insert("non_finite".into(), 1.0);
                extra.insert("non_finite_layers".into(), norms.non_finite().len() as f64);
            } else {
                extra.extend(opt.step_scalars());
            }
            let rec = Record {
                step: state.step,
                tokens: state.tokens_seen,
                loss,
                lr,
                grad_norm,
                tok_s: if refused.is_some() {
                    0.0
                } else {
                    window_tokens as f64 / secs
                },
                val_loss,
                val_ppl: val_loss.map(f64::exp),
                extra: std::mem::take(&mut extra),
            };
            sink.write(&rec).map_err(io_err(&opts.run_dir))?;
            if refused.is_none() {
                reporter.log(&rec);
                window_start = Instant::now();
                window_tokens = 0;
            }
        }
        if refused.is_none() {
            reporter.step(state.step, loss);
        }
        if is_last || state.step % cfg.checkpoint_every.max(1) == 0 {
            last_ckpt = Some(ckpt.save(&model, opt.as_ref(), &state)?);
        }
    }
    if interrupted && state.step > start_step {
        last_ckpt = Some(ckpt.save(&model, opt.as_ref(), &state)?);
        reporter.warn(&format!(
            "stopped at step {}; checkpoint {} (continue with --resume auto)",
            state.step,
            last_ckpt
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ));
    }
    Ok(LoopOutcome {
        state,
        interrupted,
        checkpoint: last_ckpt,
        train_time,
        train_tokens,
    })
}
