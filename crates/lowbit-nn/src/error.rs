//! Typed errors of lowbit-nn.

use lowbit_formats::FormatError;
use std::path::PathBuf;

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
    /// A model or generation configuration that cannot be built (inconsistent dimensions, bad
    /// sampling settings).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A Hadamard rotation that does not exist (non-power-of-two order or block).
    #[error("Hadamard rotation: {0}")]
    Hadamard(String),
    /// A format the tensor fake-quantizer has no tensor path for (it runs on the host).
    #[error("`{format}` has no tensor path ({why}); use the host path (fake_quant)")]
    NoTensorPath {
        /// Canonical format name.
        format: String,
        /// Which part runs on the host.
        why: String,
    },
    /// The capture scope was disturbed (see `capture`).
    #[error("capture: {0}")]
    Capture(String),
    /// A loaded model whose tensors disagree with its config.json.
    #[error("model does not match its config: {0}")]
    ModelMismatch(String),
    /// An estimator that cannot be used with the layer's format (LSQ on a non-integer grid).
    #[error("estimator: {0}")]
    Estimator(String),
    /// A compression-policy key (`weight`, `input`, `include`, `exclude`) that does not resolve.
    #[error("compression policy `{key}`: {message}")]
    Policy {
        /// The policy key (the recipe's `compression.<key>`).
        key: &'static str,
        /// What is wrong, and the fix.
        message: String,
    },
    /// A coded weight that cannot be built or is inconsistent.
    #[error("coded weight: {0}")]
    Coded(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A required file does not exist.
    #[error("{} not found ({what})", path.display())]
    MissingFile {
        /// The file that was looked for.
        path: PathBuf,
        /// What it should hold, e.g. "model config".
        what: String,
    },
    /// A checkpoint file is malformed (bad safetensors header, unsupported dtype, bad index).
    #[error("{}: {message}", path.display())]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A `config.json` field has a value lowbit's Llama does not support.
    #[error("unsupported config field `{field}`: {message}")]
    UnsupportedConfig {
        /// The field, dotted for nested ones (`rope_parameters.rope_type`).
        field: String,
        /// What was found and what is supported.
        message: String,
    },
    /// A tensor's values could not be read back from the device, or do not fit their stored
    /// element type.
    #[error("cannot read tensor {what}: {reason}")]
    TensorData {
        /// The tensor (HF name, or what it holds).
        what: String,
        /// Why.
        reason: String,
    },
    /// A state dict does not match the model: missing, mis-shaped, mis-typed or unknown tensors
    /// (all of them named).
    #[error("state dict does not match the model: {0}")]
    StateDict(String),
    /// Token ids or sequence lengths the model cannot take.
    #[error("invalid input: {0}")]
    Input(String),
}
