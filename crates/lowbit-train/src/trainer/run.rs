//! `lowbit train`: the LM task ([`LmTask`]) over a recipe — devices, the run's grid registry and
//! model configuration, resume or a fresh start — handed to the generic step loop
//! ([`super::step_loop`]).

use super::build::llama_config_with;
use super::error::{TrainError, io_err};
use super::lm::LmTask;
use super::options::{TrainOptions, TrainSummary};
use super::resume::check_resume_recipe;
use super::runner::{ResumeCheck, TaskRun, train_task};
use super::state::TrainState;
use super::step_loop::LoopConfig;
use crate::checkpoint::CheckpointStore;
use crate::recipe::Recipe;
use lowbit_data::{Sampler, TokenDataset};
use lowbit_optim::{AdamW, AdamWConfig};
use std::path::Path;
use std::time::Instant;

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
    let store = CheckpointStore::new(run_dir, recipe.checkpoint.keep_last);
    // The run's one grid registry (recipe/grids.rs), built once here.
    let reg = crate::recipe::recipe_registry(recipe, Path::new(""))
        .map_err(|(key, message)| TrainError::Unsupported { key, message })?;
    let cfg = llama_config_with(recipe, data.tokenizer.vocab_size(), &reg)?;
    let cfg = super::grids::resumed_config(cfg, &opts.resume, run_dir, &store, &mut warnings);
    let micro_batches = t.grad_accum.max(1);
    let micro = t.batch_size / micro_batches;
    let sampler = Sampler {
        seed: t.seed,
        batch: micro,
        seq_len: t.seq_len,
    };
    let task = LmTask {
        cfg: &cfg,
        seed: t.seed,
        data,
        sampler,
        val_sampler: Sampler {
            batch: t.batch_size,
            ..sampler
        },
        eval_batches: recipe.eval.batches,
        micro_batches,
    };
    let mut check = LmResume {
        recipe,
        allow_recipe_change: opts.allow_recipe_change,
        cfg: &cfg,
        micro,
        seq_len: t.seq_len,
    };
    let mut fresh_state = TrainState::fresh(t.seed, micro, micro_batches, t.seq_len);
    fresh_state.grids = super::grids::state_grids(&cfg);
    let run = TaskRun {
        loop_cfg: LoopConfig::from_sections(t, &recipe.eval, &recipe.log, &recipe.checkpoint),
        optimizer: Box::new(AdamW::new(AdamWConfig {
            beta1: t.beta1,
            beta2: t.beta2,
            eps: t.eps,
            weight_decay: t.weight_decay,
            weight_decay_rule: t.weight_decay_rule,
        })),
        keep_last: recipe.checkpoint.keep_last,
        recipe_toml,
        fresh_state,
        devices,
    };
    let mut summary = train_task(&task, run, opts, &mut check)?;
    warnings.append(&mut summary.warnings);
    summary.warnings = warnings;
    summary.wall_s = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// LM resume rules: the checkpoint's recipe must describe the same model (keys outside
/// `RESUME_MAY_CHANGE` refused unless allowed), and the data layout must match.
struct LmResume<'a> {
    recipe: &'a Recipe,
    allow_recipe_change: bool,
    cfg: &'a lowbit_nn::llama::LlamaConfig,
    micro: usize,
    seq_len: usize,
}

impl ResumeCheck for LmResume<'_> {
    fn before(&mut self, dir: &Path) -> Result<Vec<String>, TrainError> {
        check_resume_recipe(dir, self.recipe, self.allow_recipe_change)
    }

    fn after(&mut self, state: &mut TrainState) -> Result<(), TrainError> {
        state.grids = super::grids::state_grids(self.cfg);
        if state.sampler.micro_batch != self.micro || state.sampler.seq_len != self.seq_len {
            return Err(TrainError::Unsupported {
                key: "train.batch_size".into(),
                message: format!(
                    "the checkpoint was trained with micro-batch {} × seq_len {}; resume with \
                     the same batch_size / grad_accum / seq_len",
                    state.sampler.micro_batch, state.sampler.seq_len
                ),
            });
        }
        Ok(())
    }
}
