//! Quantization on tensors: fake quantization, gradient estimators, Hadamard rotation.

pub mod estimator;
pub mod fake;
pub mod hadamard;
pub mod health;
pub mod mask;

#[cfg(test)]
mod fake_tests;
