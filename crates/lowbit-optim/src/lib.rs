//! lowbit-optim: optimizers over compressed representations.
//!
//! * [`adamw`] — AdamW keyed by HF parameter names, a named weight-decay rule, global clip.
//! * [`grids`] — Lloyd-style learning of multi-grid formats (MPO2, the PO2(NF4) partner).

pub mod adamw;
pub mod grids;

pub use adamw::{
    AdamW, AdamWConfig, GradNorms, OptimError, WeightDecayRule, clip_factor, grad_norms,
};
pub use grids::{BlockSet, Family, GridLearnError, LearnConfig, Learned, learn};
