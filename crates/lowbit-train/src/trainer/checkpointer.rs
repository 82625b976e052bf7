//! Writing one checkpoint step of any task: the task's model files, then what the loop owns —
//! `optimizer.safetensors`, `state.json`, `recipe.resolved.toml` — and the manifest and `LATEST`
//! (atomically, through [`CheckpointStore::save_with`]).

use super::error::TrainError;
use super::state::TrainState;
use super::task::Task;
use crate::checkpoint::{CheckpointError, CheckpointStore};
use lowbit_nn::hf::write_safetensors;
use lowbit_optim::Optimizer;
use std::path::{Path, PathBuf};

/// The parts of every checkpoint that do not change during a run.
pub(super) struct Checkpointer<'a, T: Task> {
    /// The run's checkpoint directory.
    pub store: CheckpointStore,
    /// What writes the model's files.
    pub task: &'a T,
    /// The resolved recipe, copied into every step.
    pub recipe_toml: &'a str,
}

fn write_err(path: &Path, e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

impl<T: Task> Checkpointer<'_, T> {
    /// Writes `step-%08d/` for `state.step`.
    pub fn save(
        &self,
        model: &T::Model,
        opt: &dyn Optimizer<T::Model>,
        state: &TrainState,
    ) -> Result<PathBuf, TrainError> {
        let opt_state = opt.state_dict()?;
        let state_json = serde_json::to_string_pretty(state).map_err(|e| TrainError::State {
            path: PathBuf::from("state.json"),
            message: e.to_string(),
        })?;
        Ok(self.store.save_with(state.step, |dir| {
            self.task.save_model(model, dir)?;
            let o = dir.join("optimizer.safetensors");
            write_safetensors(&o, &opt_state, Default::default()).map_err(|e| write_err(&o, e))?;
            let s = dir.join("state.json");
            std::fs::write(&s, &state_json).map_err(|e| write_err(&s, e))?;
            let r = dir.join("recipe.resolved.toml");
            std::fs::write(&r, self.recipe_toml).map_err(|e| write_err(&r, e))?;
            Ok(())
        })?)
    }
}
