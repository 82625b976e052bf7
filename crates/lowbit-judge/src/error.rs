//! Typed errors of the judge crate: each names the file (and line) or the input that was wrong.

use std::path::PathBuf;
use thiserror::Error;

/// Errors of task generation, data files, mining, features, the head and judge decoding.
#[derive(Debug, Error)]
pub enum JudgeError {
    /// A file could not be read or written.
    #[error("{}: {err}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        err: std::io::Error,
    },
    /// A line of a jsonl file is not what it should be.
    #[error("{}:{line}: {msg}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong and how to fix it.
        msg: String,
    },
    /// A file is malformed as a whole (empty, wrong tensors, inconsistent shapes).
    #[error("{}: {msg}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        msg: String,
    },
    /// Inputs that do not fit together (vocabularies, dimensions, options).
    #[error("{0}")]
    Input(String),
    /// The numerical solver failed.
    #[error("solver: {0}")]
    Solver(String),
    /// A model call failed.
    #[error(transparent)]
    Nn(#[from] lowbit_nn::NnError),
}

/// Maps an I/O error on `path` to [`JudgeError::Io`].
pub fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> JudgeError + '_ {
    move |err| JudgeError::Io {
        path: path.to_path_buf(),
        err,
    }
}
