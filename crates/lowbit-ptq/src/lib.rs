//! # lowbit-ptq
//!
//! Post-training quantization math on the host, in f32, with no tensor library: the GPTQ
//! Hessian ([`HessianAccumulator`], [`hessian`]) and column loop ([`gptq`]; Frantar, Ashkboos,
//! Hoefler, Alistarh, "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
//! Transformers", ICLR 2023, Algorithm 1) over lowbit's exact formats ([`FormatQuantizer`]),
//! plus the round-to-nearest baseline ([`rtn`]) and GPTQ's objective
//! ([`relative_output_error`]); results as exact coded parts ([`GptqResult::coded_parts`]);
//! FP-Quant's MSE block-scale search ([`ScaleSearch`]); block Hadamard rotations
//! ([`block_hadamard_rows`], [`rotate_hessian`]) and MR-GPTQ ([`mr_gptq`]; Egiazarian et al.,
//! arXiv 2509.23202). Tested against the PyTorch reference fixtures of
//! `tests/fixtures/gptq/` (`tools/gptq_reference.py`); and AQLM ([`aqlm()`]; Egiazarian et al.,
//! ICML 2024) against `tests/fixtures/aqlm/` (`tools/aqlm_reference.py`). See README.md.
//!
//! ```
//! use lowbit_ptq::{FormatQuantizer, GptqOptions, gptq};
//! let (rows, cols) = (2, 32);
//! let w: Vec<f32> = (0..rows * cols).map(|i| (i as f32 * 0.37).sin()).collect();
//! let h: Vec<f32> = (0..cols * cols).map(|i| if i % (cols + 1) == 0 { 1.0 } else { 0.0 }).collect();
//! let mut q = FormatQuantizer::parse("int4").unwrap();
//! let r = gptq(&w, rows, cols, &h, &mut q, &GptqOptions::default()).unwrap();
//! let mut rtn = w.clone();
//! q.format().fake_quant(&mut rtn, cols).unwrap();
//! assert_eq!(r.w_hat, rtn); // H = I: GPTQ is round-to-nearest
//! ```

#![deny(missing_docs)]

pub mod aqlm;
mod coded;
#[cfg(test)]
mod coded_tests;
mod dense;
#[cfg(test)]
mod dense_tests;
mod error;
mod eval;
mod gptq;
#[cfg(test)]
mod gptq_tests;
mod hadamard;
mod hessian;
mod linalg;
mod mr_gptq;
#[cfg(test)]
mod mr_gptq_tests;
mod quantizer;
mod scale_search;
#[cfg(test)]
mod scale_search_tests;
#[cfg(test)]
mod test_support;

pub use aqlm::{AqlmOptions, AqlmResult, VqSpec, VqWeight, aqlm};
pub use error::PtqError;
pub use eval::{relative_output_error, rtn};
pub use gptq::{GptqOptions, GptqResult, GroupSource, gptq};
pub use hadamard::{block_hadamard_rows, hadamard_matrix, rotate_hessian};
pub use hessian::{HessianAccumulator, hessian};
pub use linalg::cholesky_inverse_upper;
pub use mr_gptq::{MrGptqOptions, MrGptqResult, mr_gptq};
pub use quantizer::{BlockParams, FormatQuantizer, GroupParams, GroupQuantizer, SUPPORTED};
pub use scale_search::{MseEval, ScaleSearch};
