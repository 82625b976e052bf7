//! Where a run starts: the checkpoint to resume from (verified), whether the recipe may resume
//! it, and restoring a task's model, the optimizer and `state.json` from it.

use super::error::{TrainError, io_err};
use super::options::Resume;
use super::state::TrainState;
use super::task::Task;
use crate::checkpoint::{CheckpointError, CheckpointStore, Manifest};
use crate::recipe::Recipe;
use burn::tensor::Device;
use lowbit_nn::hf::read_safetensors;
use lowbit_optim::Optimizer;
use std::path::{Path, PathBuf};

/// The verified checkpoint `resume` names in `store`, or `None` for a fresh start; a fresh run
/// refuses a run directory that already has checkpoints. Fallbacks past corrupt checkpoints add
/// to `warnings`.
pub(super) fn resume_point(
    resume: &Resume,
    store: &CheckpointStore,
    run_dir: &Path,
    warnings: &mut Vec<String>,
) -> Result<Option<PathBuf>, TrainError> {
    match resume {
        Resume::Never => {
            if store.has_checkpoints() {
                return Err(TrainError::Checkpoint(CheckpointError::Corrupt {
                    path: run_dir.to_path_buf(),
                    reason: "the run directory already has checkpoints; pass `--resume auto` to \
                             continue it or `--run-name` to start a new run"
                        .into(),
                }));
            }
            Ok(None)
        }
        Resume::Auto => Ok(store.resume_point()?.map(|r| {
            warnings.extend(r.warnings);
            r.dir
        })),
        Resume::From(dir) => {
            Manifest::verify(dir)?;
            Ok(Some(dir.clone()))
        }
    }
}

/// Compares the checkpoint's resolved recipe with `recipe` (crate::recipe::resume_changes):
/// keys outside the resume allow-list are an error unless `allow`; returns the warnings to
/// report (allowed changes, and refused ones when `allow` overrides).
pub(super) fn check_resume_recipe(
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

/// A restored model, its optimizer and `state.json`.
type Restored<M> = (M, Box<dyn Optimizer<M>>, TrainState);

/// The task's model and `state.json` of checkpoint `dir`, with `opt` (fresh, configured)
/// given the checkpoint's optimizer state.
pub(super) fn restore<T: Task>(
    task: &T,
    dir: &Path,
    mut opt: Box<dyn Optimizer<T::Model>>,
    ad: &Device,
    device: &Device,
) -> Result<Restored<T::Model>, TrainError> {
    let state = TrainState::read(&dir.join("state.json"))?;
    let model = task.load_model(dir, ad)?;
    let moments = read_safetensors(&dir.join("optimizer.safetensors"))?;
    opt.load_state_dict(&model, &moments, state.optimizer_steps, device)?;
    Ok((model, opt, state))
}
