//! The step loop (DESIGN.md §2): batch(seed, step) → forward → cross-entropy → backward →
//! non-finite guard → global clip → AdamW → metrics → eval → checkpoint.
//!
//! Burn's epoch-based `Learner` is not used: lowbit needs step checkpoints, a data cursor that is
//! the step counter, and a guard that refuses a step before the optimizer sees it.

use super::build::{init_model, llama_config};
use super::error::{TrainError, io_err};
use super::progress::Reporter;
use super::state::{BURN_VERSION, RngState, SamplerState, TrainState};
use crate::checkpoint::{CheckpointError, CheckpointStore, Manifest, sha256_hex};
use crate::metrics::{MetricsSink, Record};
use crate::recipe::{NonFinitePolicy, Recipe};
use crate::schedule::OneCycle;
use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use lowbit_data::{Batch, Sampler, TokenDataset};
use lowbit_nn::capture::{HealthRecorder, with_recorder};
use lowbit_nn::hf::{SaveOptions, SpecialTokens, read_safetensors, write_safetensors};
use lowbit_nn::llama::{Llama, LlamaConfig, cross_entropy};
use lowbit_optim::{AdamW, AdamWConfig, GradNorms, Optimizer, clip_factor, grad_norms};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

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

fn tokens_tensor(ids: &[u32], rows: usize, device: &Device) -> Tensor<2, Int> {
    let v: Vec<i64> = ids.iter().map(|&t| t as i64).collect();
    let n = v.len();
    Tensor::<1, Int>::from_data(TensorData::new(v, [n]), device).reshape([rows, n / rows])
}

fn scalar(t: Tensor<1>) -> Result<f64, TrainError> {
    let v = t
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| lowbit_nn::NnError::Config(format!("cannot read the loss: {e:?}")))?;
    Ok(v.first().copied().unwrap_or(f32::NAN) as f64)
}

/// Mean next-token cross-entropy of `model` over the first `batches` validation batches.
pub fn validation_loss(
    model: &Llama,
    data: &TokenDataset,
    sampler: &Sampler,
    batches: usize,
    device: &Device,
) -> Result<f64, TrainError> {
    let mut sum = 0.0;
    let mut n = 0usize;
    for i in 0..batches.max(1) {
        let Batch { inputs, targets } = sampler.val_batch(&data.val, i)?;
        let rows = inputs.len() / sampler.seq_len;
        let logits = model.forward(tokens_tensor(&inputs, rows, device))?;
        sum += scalar(cross_entropy(logits, tokens_tensor(&targets, rows, device)))?;
        n += 1;
    }
    Ok(sum / n as f64)
}

/// Quantization health of every compressed layer on the first validation batch, as scalars:
/// `health/<layer>/{input,weight}_{rel_mse,clipped}` (and `_grid1` for two-grid formats: the
/// fraction of blocks on the second grid), plus layer means `health/{input,weight}_rel_mse`.
pub fn health_scalars(
    model: &Llama,
    data: &TokenDataset,
    sampler: &Sampler,
    device: &Device,
) -> Result<std::collections::BTreeMap<String, f64>, TrainError> {
    let mut out = std::collections::BTreeMap::new();
    let Batch { inputs, .. } = sampler.val_batch(&data.val, 0)?;
    let rows = inputs.len() / sampler.seq_len;
    let x = tokens_tensor(&inputs, rows, device);
    let (logits, h) = with_recorder(HealthRecorder::default(), || model.forward(x))?;
    logits?;
    for (kind, map) in [("input", &h.input), ("weight", &h.weight)] {
        let mut sum = 0.0;
        for (layer, q) in map {
            let short = layer.trim_start_matches("model.");
            out.insert(format!("health/{short}/{kind}_rel_mse"), q.relative_mse());
            out.insert(
                format!("health/{short}/{kind}_clipped"),
                q.clipped_fraction(),
            );
            if q.selectors.len() == 2 {
                let n = (q.selectors[0] + q.selectors[1]).max(1) as f64;
                out.insert(
                    format!("health/{short}/{kind}_grid1"),
                    q.selectors[1] as f64 / n,
                );
            }
            sum += q.relative_mse();
        }
        if !map.is_empty() {
            out.insert(format!("health/{kind}_rel_mse"), sum / map.len() as f64);
        }
    }
    Ok(out)
}

/// The parts of every checkpoint that do not change during a run.
struct Checkpointer<'a> {
    store: CheckpointStore,
    cfg: &'a LlamaConfig,
    recipe_toml: &'a str,
    data: &'a TokenDataset,
}

fn write_err(path: &Path, e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

impl Checkpointer<'_> {
    /// Writes `step-%08d/`: an HF directory (config.json, model.safetensors, tokenizer.json)
    /// plus optimizer.safetensors, state.json and the resolved recipe, then the manifest and
    /// `LATEST`.
    fn save(
        &self,
        model: &Llama,
        opt: &dyn Optimizer<Llama>,
        state: &TrainState,
    ) -> Result<PathBuf, TrainError> {
        let special = SpecialTokens {
            bos_token_id: None,
            eos_token_ids: vec![self.data.tokenizer.eot()],
        };
        let opt_state = opt.state_dict()?;
        let state_json = serde_json::to_string_pretty(state).map_err(|e| TrainError::State {
            path: PathBuf::from("state.json"),
            message: e.to_string(),
        })?;
        Ok(self.store.save_with(state.step, |dir| {
            let opts = SaveOptions {
                special: special.clone(),
                ..SaveOptions::default()
            };
            lowbit_nn::hf::save_dir_with(model, self.cfg, dir, &opts)
                .map_err(|e| write_err(dir, e))?;
            let o = dir.join("optimizer.safetensors");
            write_safetensors(&o, &opt_state, Default::default()).map_err(|e| write_err(&o, e))?;
            let t = dir.join("tokenizer.json");
            self.data.tokenizer.save(&t).map_err(|e| write_err(&t, e))?;
            let s = dir.join("state.json");
            std::fs::write(&s, &state_json).map_err(|e| write_err(&s, e))?;
            let r = dir.join("recipe.resolved.toml");
            std::fs::write(&r, self.recipe_toml).map_err(|e| write_err(&r, e))?;
            Ok(())
        })?)
    }
}

/// Loaded resume point.
struct Restored {
    model: Llama,
    opt: Box<dyn Optimizer<Llama>>,
    state: TrainState,
}

fn restore(
    dir: &Path,
    cfg: &LlamaConfig,
    adam: AdamWConfig,
    ad: &Device,
    device: &Device,
) -> Result<Restored, TrainError> {
    let mut state = TrainState::read(&dir.join("state.json"))?;
    state.grids = super::grids::state_grids(cfg);
    let model = cfg.init(ad)?;
    let tensors = read_safetensors(&dir.join("model.safetensors"))?;
    let model = lowbit_nn::hf::load_state_dict(model, &tensors)?;
    let mut opt = AdamW::new(adam);
    let moments = read_safetensors(&dir.join("optimizer.safetensors"))?;
    opt.load_state_dict(&model, &moments, state.optimizer_steps, device)?;
    let opt = Box::new(opt);
    Ok(Restored { model, opt, state })
}

/// Compares the checkpoint's resolved recipe with `recipe` (crate::recipe::resume_changes):
/// keys outside the resume allow-list are an error unless `allow`; returns the warnings to
/// report (allowed changes, and refused ones when `allow` overrides).
fn check_resume_recipe(
    dir: &Path,
    recipe: &Recipe,
    allow: bool,
) -> Result<Vec<String>, TrainError> {
    let path = dir.join("recipe.resolved.toml");
    let old = std::fs::read_to_string(&path).map_err(io_err(&path))?;
    let (refused, allowed) =
        crate::recipe::resume_changes(&old, recipe).map_err(|message| TrainError::State {
            path: path.clone(),
            message,
        })?;
    let mut warnings = Vec::new();
    if !allowed.is_empty() {
        warnings.push(format!(
            "{}: resuming with changed {}",
            dir.display(),
            allowed.join(", ")
        ));
    }
    if !refused.is_empty() {
        if !allow {
            return Err(TrainError::RecipeChanged {
                checkpoint: dir.display().to_string(),
                keys: refused.join(", "),
            });
        }
        warnings.push(format!(
            "{}: resuming with a recipe that changes {} (--allow-recipe-change); the model is \
             rebuilt from the new recipe",
            dir.display(),
            refused.join(", ")
        ));
    }
    Ok(warnings)
}

/// Whether a model error is a non-finite value (a quantizer refusing NaN/Inf in its input).
fn is_non_finite(e: &lowbit_nn::NnError) -> bool {
    matches!(
        e,
        lowbit_nn::NnError::NonFinite
            | lowbit_nn::NnError::Format(lowbit_formats::FormatError::NonFinite { .. })
    )
}

/// Testing hook of [`TrainOptions::inject_nan_activation_at`]: a copy of `model` whose embedding
/// row `token` is NaN (the copy shares every other tensor).
fn poison_embedding_row(model: &Llama, token: u32) -> Llama {
    let mut m = model.clone();
    let t = token as usize;
    m.embed_tokens.weight = m.embed_tokens.weight.map(|w| {
        let [_, d] = w.dims();
        let nan = Tensor::<2>::full([1, d], f32::NAN, &w.device());
        w.slice_assign([t..t + 1, 0..d], nan)
    });
    m
}

/// Trains `recipe` on `data`. `recipe_toml` is the resolved recipe (written to the run
/// directory and hashed into every checkpoint).
pub fn train(
    recipe: &Recipe,
    recipe_toml: &str,
    data: &TokenDataset,
    opts: &TrainOptions,
) -> Result<TrainSummary, TrainError> {
    let started = Instant::now();
    let t = &recipe.train;
    let mut warnings = Vec::new();
    let devices =
        crate::device::parse_devices(&t.devices).map_err(|e| TrainError::Unsupported {
            key: "train.devices".into(),
            message: e.to_string(),
        })?;
    let run_dir = &opts.run_dir;
    std::fs::create_dir_all(run_dir).map_err(io_err(run_dir))?;
    let recipe_sha256 = sha256_hex(recipe_toml.as_bytes());
    let store = CheckpointStore::new(run_dir, recipe.checkpoint.keep_last);
    let cfg = llama_config(recipe, data.tokenizer.vocab_size())?;
    let cfg = super::grids::resumed_config(cfg, &opts.resume, run_dir, &store, &mut warnings);
    let ckpt = Checkpointer {
        store: store.clone(),
        cfg: &cfg,
        recipe_toml,
        data,
    };
    let device = devices[0].clone();
    let ad = device.clone().autodiff();
    let adam = AdamWConfig {
        beta1: t.beta1,
        beta2: t.beta2,
        eps: t.eps,
        weight_decay: t.weight_decay,
        weight_decay_rule: t.weight_decay_rule,
    };
    let micro_batches = t.grad_accum.max(1);
    let micro = t.batch_size / micro_batches;
    let parallel = if devices.len() > 1 {
        Some(super::ddp::Parallel::start(devices.clone(), micro_batches)?)
    } else {
        None
    };
    let sampler = Sampler {
        seed: t.seed,
        batch: micro,
        seq_len: t.seq_len,
    };
    let val_sampler = Sampler {
        batch: t.batch_size,
        ..sampler
    };

    // Start: fresh or from a verified checkpoint.
    let resume_dir = match &opts.resume {
        Resume::Never => {
            if store.has_checkpoints() {
                return Err(TrainError::Checkpoint(CheckpointError::Corrupt {
                    path: run_dir.clone(),
                    reason: "the run directory already has checkpoints; pass `--resume auto` to \
                             continue it or `--run-name` to start a new run"
                        .into(),
                }));
            }
            None
        }
        Resume::Auto => store.resume_point()?.map(|r| {
            warnings.extend(r.warnings);
            r.dir
        }),
        Resume::From(dir) => {
            Manifest::verify(dir)?;
            Some(dir.clone())
        }
    };
    let (mut model, mut opt, mut state) = match &resume_dir {
        Some(dir) => {
            // Before building anything from the new recipe: it must describe the same model.
            warnings.extend(check_resume_recipe(dir, recipe, opts.allow_recipe_change)?);
            let r = restore(dir, &cfg, adam, &ad, &device)?;
            if r.state.sampler.micro_batch != micro || r.state.sampler.seq_len != t.seq_len {
                return Err(TrainError::Unsupported {
                    key: "train.batch_size".into(),
                    message: format!(
                        "the checkpoint was trained with micro-batch {} × seq_len {}; resume with \
                         the same batch_size / grad_accum / seq_len",
                        r.state.sampler.micro_batch, r.state.sampler.seq_len
                    ),
                });
            }
            (r.model, r.opt, r.state)
        }
        None => {
            let model = init_model(&cfg, t.seed, &ad)?;
            let state = TrainState {
                version: 1,
                step: 0,
                optimizer_steps: 0,
                tokens_seen: 0,
                sampler: SamplerState {
                    cursor: 0,
                    micro_batch: micro,
                    micro_batches,
                    seq_len: t.seq_len,
                },
                rng: RngState {
                    init_seed: t.seed,
                    data_seed: t.seed,
                },
                grids: super::grids::state_grids(&cfg),
                recipe_sha256: recipe_sha256.clone(),
                lowbit_version: env!("CARGO_PKG_VERSION").into(),
                burn_version: BURN_VERSION.into(),
                last_loss: None,
                last_val_loss: None,
            };
            let opt: Box<dyn Optimizer<Llama>> = Box::new(AdamW::new(adam));
            (model, opt, state)
        }
    };
    state.recipe_sha256 = recipe_sha256;
    let resolved = run_dir.join("recipe.resolved.toml");
    std::fs::write(&resolved, recipe_toml).map_err(io_err(&resolved))?;
    let mut sink = MetricsSink::open(run_dir, resume_dir.as_ref().map(|_| state.step))
        .map_err(io_err(run_dir))?;
    let sched = OneCycle {
        max_lr: t.lr,
        total: t.steps,
        warmup_frac: t.warmup_frac,
        initial_div: t.initial_lr_div,
        final_frac: t.final_lr_frac,
    };
    let tokens_per_step = (t.batch_size * t.seq_len) as u64;
    let mut reporter = Reporter::new(opts.progress, state.step, t.steps);
    let mut last_ckpt = resume_dir.clone();
    let mut interrupted = false;
    let mut window_start = Instant::now();
    let mut window_tokens = 0u64;
    let mut train_time = 0.0f64;
    let mut train_tokens = 0u64;
    let start_step = state.step;

    while state.step < t.steps {
        if opts.stop.load(Ordering::SeqCst) || opts.stop_after.is_some_and(|s| state.step >= s) {
            interrupted = true;
            break;
        }
        let step_started = Instant::now();
        let step = state.step; // 0-based index of this step
        let lr = sched.lr(step);
        // The forward pass may refuse a non-finite activation or weight (the quantizers'
        // `NonFinite`): that is a refused step like a NaN loss, not the end of the run.
        let poisoned = if opts.inject_nan_activation_at == Some(step + 1) {
            let b = sampler.batch(&data.train, state.sampler.cursor, "train")?;
            let token = b.inputs.first().copied().unwrap_or(0);
            Some(poison_embedding_row(&model, token))
        } else {
            None
        };
        let fwd_model = poisoned.as_ref().unwrap_or(&model);
        let mut forward_error = None;
        let (grads, loss_sum) = match &parallel {
            Some(p) => {
                let batches = (0..micro_batches as u64)
                    .map(|k| sampler.batch(&data.train, state.sampler.cursor + k, "train"))
                    .collect::<Result<Vec<_>, _>>()?;
                match p.grads(fwd_model, &batches, micro, tokens_tensor, scalar) {
                    Ok(r) => r,
                    Err(TrainError::Model(e)) if is_non_finite(&e) => {
                        forward_error = Some(e.to_string());
                        (GradientsParams::new(), f64::NAN)
                    }
                    Err(e) => return Err(e),
                }
            }
            None => {
                let mut accum = GradientsAccumulator::<Llama>::new();
                let mut loss_sum = 0.0;
                for k in 0..micro_batches as u64 {
                    let b = sampler.batch(&data.train, state.sampler.cursor + k, "train")?;
                    let logits = match fwd_model.forward(tokens_tensor(&b.inputs, micro, &ad)) {
                        Ok(l) => l,
                        Err(e) if is_non_finite(&e) => {
                            forward_error = Some(e.to_string());
                            loss_sum = f64::NAN;
                            break;
                        }
                        Err(e) => return Err(e.into()),
                    };
                    let loss = cross_entropy(logits, tokens_tensor(&b.targets, micro, &ad));
                    loss_sum += scalar(loss.clone())?;
                    let grads = GradientsParams::from_grads(loss.backward(), fwd_model);
                    accum.accumulate(fwd_model, grads);
                }
                (accum.grads(), loss_sum)
            }
        };
        drop(poisoned);
        let mut loss = loss_sum / micro_batches as f64;
        if opts.inject_nan_at == Some(step + 1) {
            loss = f64::NAN;
        }
        let norms = match forward_error {
            // No gradients exist: the norm is unknown, not zero.
            Some(_) => GradNorms {
                total: f64::NAN,
                per_param: Vec::new(),
            },
            None => grad_norms(&model, &grads)?,
        };
        let grad_norm = norms.total / micro_batches as f64;
        state.step += 1;
        state.sampler.cursor += micro_batches as u64;
        state.tokens_seen += tokens_per_step;

        // The one guard: a non-finite forward value, loss or gradient norm refuses the step.
        let refused = if let Some(e) = &forward_error {
            Some(format!("activation or weight in the forward pass ({e})"))
        } else if !loss.is_finite() {
            Some(format!("loss ({loss})"))
        } else if !grad_norm.is_finite() {
            Some(format!("grad_norm ({grad_norm})"))
        } else {
            None
        };
        let layers = norms.non_finite().join(", ");
        if let Some(what) = &refused {
            reporter.warn(&format!(
                "step {}: non-finite {what}; step refused{}",
                state.step,
                if layers.is_empty() {
                    String::new()
                } else {
                    format!(" (non-finite gradients in {layers})")
                }
            ));
            if t.on_non_finite == NonFinitePolicy::Stop {
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
                sink.write(&rec).map_err(io_err(run_dir))?;
                // Save the last good state under the steps completed before this one.
                state.step -= 1;
                state.sampler.cursor -= micro_batches as u64;
                state.tokens_seen -= tokens_per_step;
                let dir = ckpt.save(&model, &opt, &state)?;
                return Err(TrainError::NonFinite {
                    step: state.step + 1,
                    what: what.clone(),
                    layers: if layers.is_empty() {
                        String::new()
                    } else {
                        format!("; non-finite gradients in {layers}")
                    },
                    checkpoint: dir.display().to_string(),
                });
            }
            // skip: the optimizer never sees these gradients; the step's hooks (eval, log,
            // checkpoint — the final ones too) still run below.
        } else {
            let scale = clip_factor(grad_norm, t.grad_clip) / micro_batches as f64;
            model = opt.step(model, grads, lr, scale)?;
            state.optimizer_steps = opt.steps();
            state.last_loss = Some(loss);
            let dt = step_started.elapsed().as_secs_f64();
            train_time += dt;
            train_tokens += tokens_per_step;
            window_tokens += tokens_per_step;
        }

        let is_last = state.step == t.steps;
        let do_eval = is_last || state.step % recipe.eval.every_steps.max(1) == 0;
        let do_log =
            refused.is_some() || do_eval || state.step % recipe.log.every_steps.max(1) == 0;
        let mut val_loss = None;
        let mut extra = std::collections::BTreeMap::new();
        if do_eval {
            let valid = model.valid();
            let v = validation_loss(&valid, data, &val_sampler, recipe.eval.batches, &device)?;
            state.last_val_loss = Some(v);
            val_loss = Some(v);
            extra = health_scalars(&valid, data, &val_sampler, &device)?;
        }
        if do_log {
            let secs = window_start.elapsed().as_secs_f64().max(1e-9);
            if refused.is_some() {
                extra.insert("non_finite".into(), 1.0);
                extra.insert("non_finite_layers".into(), norms.non_finite().len() as f64);
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
            sink.write(&rec).map_err(io_err(run_dir))?;
            if refused.is_none() {
                reporter.log(&rec);
                window_start = Instant::now();
                window_tokens = 0;
            }
        }
        if refused.is_none() {
            reporter.step(state.step, loss);
        }
        if is_last || state.step % recipe.checkpoint.every_steps.max(1) == 0 {
            last_ckpt = Some(ckpt.save(&model, &opt, &state)?);
        }
    }
    if interrupted && state.step > start_step {
        last_ckpt = Some(ckpt.save(&model, &opt, &state)?);
        reporter.warn(&format!(
            "stopped at step {}; checkpoint {} (continue with --resume auto)",
            state.step,
            last_ckpt
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ));
    }
    reporter.finish();
    Ok(TrainSummary {
        run_dir: run_dir.clone(),
        steps: state.step,
        tokens: state.tokens_seen,
        final_loss: state.last_loss,
        val_loss: state.last_val_loss,
        val_ppl: state.last_val_loss.map(f64::exp),
        wall_s: started.elapsed().as_secs_f64(),
        tok_s: if train_time > 0.0 {
            train_tokens as f64 / train_time
        } else {
            0.0
        },
        interrupted,
        checkpoint: last_ckpt,
        warnings,
    })
}
