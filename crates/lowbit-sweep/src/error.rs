//! Sweep errors: each names the plan file or the run, the key where there is one, and the fix.

use std::path::{Path, PathBuf};

/// Why a sweep could not be planned or run.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The plan file is malformed or inconsistent.
    #[error("{}: {}{message} (fix: {fix})", path.display(), key.as_ref().map(|k| format!("key `{k}`: ")).unwrap_or_default())]
    Plan {
        /// The plan file.
        path: PathBuf,
        /// Dotted key, when one is to blame.
        key: Option<String>,
        /// What is wrong.
        message: String,
        /// How to fix it.
        fix: String,
    },
    /// A recipe of the plan, with the sweep's overrides, does not load.
    #[error("{plan}: key `{key}`: {source}")]
    Recipe {
        /// The plan file.
        plan: PathBuf,
        /// The plan key that named the recipe (e.g. `recipes[1]`).
        key: String,
        /// The recipe loader's error (names the recipe file or `--set` and the key).
        source: Box<lowbit_train::RecipeError>,
    },
    /// Training one run failed.
    #[error("run {run}: {source}")]
    Train {
        /// The run name.
        run: String,
        /// The trainer's error.
        source: Box<lowbit_train::TrainError>,
    },
    /// A run directory holds something the sweep cannot continue from.
    #[error("run {run} ({}): {message}; fix: {fix}", dir.display())]
    RunDir {
        /// The run name.
        run: String,
        /// Its directory.
        dir: PathBuf,
        /// What is wrong.
        message: String,
        /// What to do.
        fix: String,
    },
    /// Measuring a format's GMSE failed.
    #[error("run {run}: compression.weight `{format}`: cannot measure its GMSE: {message}")]
    Gmse {
        /// The run name.
        run: String,
        /// The weight format.
        format: String,
        /// The formats crate's error.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Writing the summary failed.
    #[error(transparent)]
    Scaling(#[from] lowbit_scaling::ScalingError),
}

impl SweepError {
    pub(crate) fn plan(
        path: &Path,
        key: Option<&str>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::Plan {
            path: path.to_path_buf(),
            key: key.map(str::to_string),
            message: message.into(),
            fix: fix.into(),
        }
    }

    pub(crate) fn run_dir(run: &str, dir: &Path, message: String, fix: &str) -> Self {
        Self::RunDir {
            run: run.to_string(),
            dir: dir.to_path_buf(),
            message,
            fix: fix.to_string(),
        }
    }
}
