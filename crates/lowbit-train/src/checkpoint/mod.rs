//! Checkpoint directories `step-%08d/` with a SHA-256 manifest, written atomically and verified
//! on load (DESIGN.md §3 "Checkpoints"; the write/fsync/rename discipline follows what
//! torchtitan's DCP and llm.c do to survive a crash at any instant).

mod manifest;
mod store;

pub use manifest::{FileEntry, Manifest, sha256_hex};
pub use store::{CheckpointStore, Resumed};

use std::path::PathBuf;
use thiserror::Error;

/// Checkpoint errors; each names the path.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// A file operation failed.
    #[error("{path}: {err}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        err: std::io::Error,
    },
    /// A checkpoint failed verification.
    #[error("{path}: checkpoint is incomplete or corrupt: {reason}")]
    Corrupt {
        /// The checkpoint directory.
        path: PathBuf,
        /// What failed (missing file, size or SHA-256 mismatch, bad manifest).
        reason: String,
    },
    /// A file of a checkpoint could not be written.
    #[error("{path}: cannot write checkpoint file: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file name is not allowed inside a checkpoint.
    #[error("invalid checkpoint file name `{0}`: plain file names only")]
    BadName(String),
}

pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |err| CheckpointError::Io {
        path: path.to_path_buf(),
        err,
    }
}
