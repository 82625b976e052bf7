//! Typed errors of the data pipeline; each names the file and the fix.

use std::path::PathBuf;
use thiserror::Error;

/// Errors of corpus loading, tokenization, shards and sampling.
#[derive(Debug, Error)]
pub enum DataError {
    /// A file could not be read or written.
    #[error("{path}: {err}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error (shown in the message, so not chained as a source).
        err: std::io::Error,
    },
    /// The corpus directory has no text.
    #[error(
        "{path}: no *.txt documents found; run `datasets/prepare.sh` (or `lowbit data prepare NAME`) first"
    )]
    EmptyCorpus {
        /// The directory searched.
        path: PathBuf,
    },
    /// The tokenizer failed to train, load or encode.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A shard is corrupt or does not match its header.
    #[error("{path}: corrupt token shard: {reason}; delete the cache directory to rebuild it")]
    CorruptShard {
        /// The shard file.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// The token stream is too short for the requested batch.
    #[error(
        "{split} split has {tokens} tokens, fewer than seq_len + 1 = {need}: use a larger corpus or a shorter seq_len"
    )]
    TooFewTokens {
        /// `train` or `val`.
        split: String,
        /// Tokens available.
        tokens: usize,
        /// Tokens needed.
        need: usize,
    },
}

pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |err| DataError::Io {
        path: path.to_path_buf(),
        err,
    }
}
