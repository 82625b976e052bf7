//! Typed errors of the formats crate. Every variant says what was wrong and how to fix it.

use thiserror::Error;

/// Errors returned by encoding, decoding, parsing format names and loading grid files.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum FormatError {
    /// The input contains NaN or ±Inf; lowbit refuses to encode it (see FORMATS.md).
    #[error(
        "non-finite value {value} at index {index}: formats encode finite values only (check the tensor for NaN/Inf first)"
    )]
    NonFinite {
        /// Flat index of the first offending value.
        index: usize,
        /// The offending value.
        value: f32,
    },
    /// The row length is not a multiple of the block size.
    #[error(
        "row length {cols} is not a multiple of the block size {block} of format `{format}`: pick a block that divides {cols} (e.g. `{format}:block=N`)"
    )]
    BlockMismatch {
        /// Canonical format name.
        format: String,
        /// Row length (reduction dimension).
        cols: usize,
        /// Block size of the format.
        block: usize,
    },
    /// The flat length is not a multiple of the row length.
    #[error("tensor of {len} values cannot be split into rows of {cols}")]
    ShapeMismatch {
        /// Number of values.
        len: usize,
        /// Requested row length.
        cols: usize,
    },
    /// The format name could not be parsed.
    #[error("unknown format `{name}`: {reason}. Known formats: {known}")]
    UnknownFormat {
        /// What the user wrote.
        name: String,
        /// Why it was rejected.
        reason: String,
        /// Comma-separated list of valid names.
        known: String,
    },
    /// A parameter of a format is out of its valid range.
    #[error("invalid parameter for format `{format}`: {reason}")]
    InvalidParameter {
        /// The format being configured.
        format: String,
        /// What is wrong and the valid range.
        reason: String,
    },
    /// A vector-quantization format name that is not `vq:MxBgG`.
    #[error("bad AQLM format name `{name}`: {reason} (expected `vq:MxBgG`, e.g. `vq:2x8g8`)")]
    VqName {
        /// The rejected name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Encoded data does not match the format that is decoding it.
    #[error("encoded data does not match format `{format}`: {reason}")]
    CorruptEncoding {
        /// The decoding format.
        format: String,
        /// What does not match.
        reason: String,
    },
    /// A grid file could not be read or is invalid.
    #[error("grid file {path}: {reason}")]
    GridFile {
        /// Path of the grid file (or `<builtin NAME>`).
        path: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
}
