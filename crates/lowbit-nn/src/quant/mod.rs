//! Quantization on tensors: fake quantization, gradient estimators, Hadamard rotation.

pub mod estimator;
pub mod fake;
pub mod hadamard;
pub mod quest;

#[cfg(test)]
mod fake_tests;
