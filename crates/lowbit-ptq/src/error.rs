//! Typed errors of the PTQ crate: every variant names what was wrong with the input.

use lowbit_formats::FormatError;
use thiserror::Error;

/// Errors of [`crate::gptq`], [`crate::rtn`], [`crate::HessianAccumulator`] and the quantizers.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PtqError {
    /// A buffer does not have the length its shape implies.
    #[error("{what} has {len} values, expected {expected} ({shape})")]
    Shape {
        /// Which input (`"weight"`, `"hessian"`, `"batch"`).
        what: &'static str,
        /// Its length.
        len: usize,
        /// The length the shape implies.
        expected: usize,
        /// The shape, in words (e.g. `"[16, 64]"`).
        shape: String,
    },
    /// The group size does not divide the number of input columns.
    #[error("group size {group} does not divide d_in = {cols}: pick a group that divides {cols}")]
    GroupSize {
        /// Group size (the format's block).
        group: usize,
        /// Number of columns of the weight (d_in).
        cols: usize,
    },
    /// The requested group size is not the format's block size (a GPTQ group is one block).
    #[error(
        "group size {group} differs from the block size {block} of `{format}`: GPTQ groups are the format's blocks (use `{format}:block={group}` or group {block})"
    )]
    GroupMismatch {
        /// Requested group size.
        group: usize,
        /// The format's block size.
        block: usize,
        /// Format name.
        format: String,
    },
    /// An input holds NaN or ±Inf.
    #[error("non-finite value {value} at index {index} of the {what}")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Flat index of the first offending value.
        index: usize,
        /// The value.
        value: f32,
    },
    /// A Cholesky factorisation met a non-positive (or non-finite) pivot.
    #[error(
        "{stage} is not positive definite (pivot {pivot} at column {index}): the Hessian needs more samples or a larger damping"
    )]
    NotPositiveDefinite {
        /// Which matrix: `"damped H"` or `"H^-1"`.
        stage: &'static str,
        /// Column (in processing order) of the failing pivot.
        index: usize,
        /// The pivot value before the square root.
        pivot: f64,
    },
    /// An option is out of its valid range.
    #[error("invalid option: {reason}")]
    InvalidOption {
        /// What is wrong and the valid range.
        reason: String,
    },
    /// The format cannot be driven one column at a time.
    #[error("format `{format}` is not supported by GPTQ; supported: {supported}")]
    Unsupported {
        /// The rejected format.
        format: String,
        /// The supported formats, in words.
        supported: &'static str,
    },
    /// A format block's columns belong to different GPTQ groups (act-order without static
    /// groups), so the result has no block-wise coded form.
    #[error(
        "block {block} is not one group: column {column} is in group {group}, the block's first column in group {expected} (act-order needs static groups for coded parts)"
    )]
    NotContiguous {
        /// Block index along a row (original column order).
        block: usize,
        /// First column of the block in another group.
        column: usize,
        /// That column's group.
        group: u32,
        /// The group of the block's first column.
        expected: u32,
    },
    /// A Hadamard rotation block that is not a power of two dividing d_in.
    #[error(
        "rotation block {block} must be a power of two dividing d_in = {cols} (e.g. the format's block 16 / 32, or 128)"
    )]
    Rotation {
        /// Columns (d_in) of the rotated tensor.
        cols: usize,
        /// The requested block.
        block: usize,
    },
    /// An error of lowbit-formats.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// k-means needs at least as many weight groups as codebook entries.
    #[error(
        "AQLM k-means needs at least {codebook_size} groups of {group} weights, the layer has {groups}: use fewer bits per codebook or a larger layer"
    )]
    TooFewGroups {
        /// Number of groups (d_out · d_in / group).
        groups: usize,
        /// Codebook size 2^B.
        codebook_size: usize,
        /// Group size G.
        group: usize,
    },
}

/// The first non-finite value of `x`, as an error naming `what`.
pub(crate) fn check_finite(what: &'static str, x: &[f32]) -> Result<(), PtqError> {
    match x.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(PtqError::NonFinite {
            what,
            index,
            value: x[index],
        }),
        None => Ok(()),
    }
}

/// `len == rows · cols`, else a [`PtqError::Shape`].
pub(crate) fn check_shape(
    what: &'static str,
    len: usize,
    rows: usize,
    cols: usize,
) -> Result<(), PtqError> {
    let expected = rows.checked_mul(cols);
    if expected != Some(len) || rows == 0 || cols == 0 {
        return Err(PtqError::Shape {
            what,
            len,
            expected: expected.unwrap_or(usize::MAX),
            shape: format!("[{rows}, {cols}], both > 0"),
        });
    }
    Ok(())
}
