//! Typed errors of lowbit-nn.

use lowbit_formats::FormatError;

/// Errors returned by the tensor quantizers.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    /// The underlying format rejected the input (block mismatch, non-finite value, …).
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The last dimension is not a multiple of the format's block size.
    #[error(
        "last dimension {cols} is not a multiple of block size {block}; pad or pick another format"
    )]
    BlockMismatch {
        /// Size of the last dimension.
        cols: usize,
        /// Block size of the format.
        block: usize,
    },
    /// The input contains NaN or ±Inf.
    #[error("input contains a non-finite value (NaN or ±Inf)")]
    NonFinite,
    /// A tensor has no elements or a zero-sized last dimension.
    #[error("tensor has shape {shape:?}; need a non-empty last dimension")]
    Empty {
        /// The offending shape.
        shape: Vec<usize>,
    },
    /// Invalid estimator / rotation configuration.
    #[error("invalid configuration: {0}")]
    Config(String),
}
