//! Errors of the scaling crate. Every variant names what is wrong and what to change.

use std::path::PathBuf;

/// Result with [`ScalingError`].
pub type Result<T, E = ScalingError> = std::result::Result<T, E>;

/// Everything that can go wrong when loading run data, fitting a law or drawing its plots.
#[derive(Debug, thiserror::Error)]
pub enum ScalingError {
    /// The data file could not be read (or a plot/output file not written).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// The CSV header lacks a required column.
    #[error(
        "{}: missing column `{column}`; the header must name run, format, n_params, tokens, loss \
         (optional: weight_format, act_format, sparsity, gmse) — add the column",
        path.display()
    )]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The missing column.
        column: &'static str,
    },
    /// A line could not be parsed as CSV or JSON.
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What the parser said, and the fix.
        message: String,
    },
    /// A field holds a value that is not allowed.
    #[error("{}:{line}: {field} = `{value}` {problem}; {fix}", path.display())]
    BadValue {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The column.
        field: &'static str,
        /// The offending text.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
        /// What to change.
        fix: &'static str,
    },
    /// Points in the data disagree with each other or with the law (e.g. two GMSEs for a format).
    #[error("{message}")]
    Data {
        /// What is wrong and what to change.
        message: String,
    },
    /// A configuration value is out of range.
    #[error("invalid fit configuration: {message}")]
    Config {
        /// What is wrong and what to change.
        message: String,
    },
    /// No start of the optimiser reached a finite objective.
    #[error("fit failed: {message}")]
    FitFailed {
        /// What happened.
        message: String,
    },
    /// Drawing a plot failed.
    #[error("plot {}: {message}", path.display())]
    Plot {
        /// The plot file.
        path: PathBuf,
        /// What the backend said.
        message: String,
    },
}

impl ScalingError {
    /// A [`ScalingError::Data`] from a message.
    pub(crate) fn data(message: impl Into<String>) -> Self {
        Self::Data {
            message: message.into(),
        }
    }

    /// A [`ScalingError::Config`] from a message.
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::Config {
            message: message.into(),
        }
    }
}
