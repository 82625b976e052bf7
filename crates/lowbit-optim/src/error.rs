//! Errors of the optimizers: each names the parameter or state tensor it is about.

use thiserror::Error;

/// Optimizer errors.
#[derive(Debug, Error)]
pub enum OptimError {
    /// A state tensor the optimizer does not write, or for a parameter the module lacks.
    #[error("optimizer state: unexpected tensor `{tensor}`: {reason}")]
    UnexpectedState {
        /// The tensor's name in the state dict.
        tensor: String,
        /// Why it is not expected.
        reason: String,
    },
    /// A parameter's state is incomplete (e.g. `NAME.exp_avg` without `NAME.exp_avg_sq`).
    #[error("optimizer state of `{param}`: `{tensor}` is missing")]
    MissingState {
        /// The parameter's HF name.
        param: String,
        /// The missing tensor's name.
        tensor: String,
    },
    /// A state tensor whose length is not its parameter's number of values.
    #[error(
        "optimizer state of `{param}`: `{tensor}` has {found} values, the parameter has {expected}"
    )]
    StateSize {
        /// The parameter's HF name.
        param: String,
        /// The tensor's name in the state dict.
        tensor: String,
        /// Values of the parameter.
        expected: usize,
        /// Values of the state tensor.
        found: usize,
    },
    /// A state tensor could not be read back from the device.
    #[error("optimizer state: cannot read `{tensor}` back from the device: {message}")]
    Readback {
        /// The tensor's name in the state dict.
        tensor: String,
        /// The backend's message.
        message: String,
    },
    /// The squared gradient norms could not be read back from the device. This is an error, not
    /// a zero norm: a zero would skip the clip and pass the non-finite guard unseen.
    #[error("gradient norms: cannot read the squared norms back from the device: {0}")]
    GradNorm(String),
    /// The module could not be read or rebuilt (a V-step on a coded layer).
    #[error("optimizer step: {0}")]
    Module(String),
    /// A parameter group with a bad glob or setting.
    #[error("parameter group {index} (`{pattern}`): {message}")]
    Group {
        /// Position in the group list (0-based).
        index: usize,
        /// The group's glob.
        pattern: String,
        /// What is wrong and what to change.
        message: String,
    },
}
