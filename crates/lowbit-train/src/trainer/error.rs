//! Trainer errors: each says what failed and, where there is one, the fix.

use crate::CheckpointError;
use std::path::PathBuf;
use thiserror::Error;

/// Why a run stopped with an error.
#[derive(Debug, Error)]
pub enum TrainError {
    /// The recipe's corpus is not there.
    #[error("data.corpus `{corpus}`: {path} does not exist; fix: {fix}")]
    MissingData {
        /// The recipe value.
        corpus: String,
        /// Where it was looked for.
        path: PathBuf,
        /// What to run or change.
        fix: String,
    },
    /// Tokenizing, sharding or sampling failed.
    #[error(transparent)]
    Data(#[from] lowbit_data::DataError),
    /// Building or running the model failed.
    #[error(transparent)]
    Model(#[from] lowbit_nn::NnError),
    /// Saving or finding a checkpoint failed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The optimizer state of a checkpoint is unusable.
    #[error(transparent)]
    Optim(#[from] lowbit_optim::OptimError),
    /// A checkpoint's `state.json` is unusable.
    #[error("{path}: {message}")]
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The recipe asks for something the trainer cannot do.
    #[error("recipe key `{key}`: {message}")]
    Unsupported {
        /// The recipe key.
        key: String,
        /// Why, and what to use instead.
        message: String,
    },
    /// A forward activation or weight, the loss or the gradient norm was NaN/Inf and the recipe
    /// says `on_non_finite = "stop"`.
    #[error(
        "step {step}: non-finite {what}; the step was refused and the last good state saved to {checkpoint}{layers}"
    )]
    NonFinite {
        /// The refused step (1-based).
        step: u64,
        /// What was non-finite: `loss (NaN)`, `grad_norm (inf)`, or `activation or weight in the
        /// forward pass (…)`.
        what: String,
        /// Parameters with non-finite gradients, if any.
        layers: String,
        /// The checkpoint holding the last good state.
        checkpoint: String,
    },
    /// A resume whose recipe changes keys a resume may not change.
    #[error(
        "{checkpoint}: the recipe differs from the one this checkpoint was trained with in {keys}; \
         fix: resume with the checkpoint's recipe ({checkpoint}/recipe.resolved.toml), start a new \
         run (--run-name), or pass --allow-recipe-change to continue with the new values"
    )]
    RecipeChanged {
        /// The checkpoint directory.
        checkpoint: String,
        /// The differing keys, dotted, comma-separated.
        keys: String,
    },
    /// Writing metrics or the run directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}
