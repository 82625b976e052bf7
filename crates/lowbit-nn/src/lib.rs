//! lowbit-nn: the tensor side of lowbit's quantization-aware training, on Burn 0.22.
//!
//! * [`quant::fake`] — fake quantization along the last (reduction) dimension, equal bit for bit
//!   to [`lowbit_formats::Format::fake_quant`] (tensor ops where exact, host round-trip otherwise).
//! * [`quant::estimator`] — gradient estimators written as `pass + (q − pass).detach()`.
//! * [`fused`] — fused causal-softmax and cross-entropy kernels with their backward passes.
//! * [`quant::hadamard`] — block Walsh–Hadamard rotation (QuEST, Panferov et al. 2025).
//!
//! See `README.md` beside this crate for requirements, limits and evidence.

pub mod capture;
pub mod compressed_linear;
pub mod error;
pub mod fused;
pub mod hf;
pub mod llama;
pub mod lsq_init;
pub mod quant;
pub mod weight;

pub use compressed_linear::{CompressedLinear, CompressedLinearConfig, LinearFormats};
pub use error::NnError;
