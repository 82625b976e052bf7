//! lowbit-optim: optimizers over compressed representations.
//!
//! * [`adamw`] — AdamW keyed by HF parameter names, decay on linear weights, global clip.
//! * [`grids`] — Lloyd-style learning of multi-grid formats (MPO2, the PO2(NF4) partner).

pub mod adamw;
pub mod grids;

pub use adamw::{AdamW, AdamWConfig, GradNorms, OptimError, clip_factor, grad_norms};
pub use grids::{BlockSet, Family, GridLearnError, LearnConfig, Learned, learn};
