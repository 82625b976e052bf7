//! lowbit-optim: optimizers over compressed representations.
//!
//! * [`optimizer`] — the [`Optimizer`] trait the step loop holds (`Box<dyn Optimizer<M>>`):
//!   step, step count, state by parameter name, a name for logs; how a PV-Tuning V-step would
//!   implement it.
//! * [`adamw`] — its first implementation: AdamW keyed by HF parameter names, per-group
//!   settings by name glob ([`ParamGroup`]), a named weight-decay rule for the default group.
//! * [`norms`] — gradient norms and the global clip factor (every optimizer's step loop).
//! * [`pv`] — PV-Tuning's update rules (Lamb-Adam direction, τ-subspace selection, scalar
//!   projection and AQLM beam search), host math tested against a PyTorch reference.
//! * [`grids`] — Lloyd-style learning of multi-grid formats (MPO2, the PO2(NF4) partner).

pub mod adamw;
pub mod error;
pub mod grids;
pub mod norms;
pub mod optimizer;
pub mod pv;

pub use adamw::{AdamW, AdamWConfig, GroupLr, LSQ_STEP_FLOOR, ParamGroup, WeightDecayRule};
pub use error::OptimError;
pub use grids::{BlockSet, Family, GridLearnError, LearnConfig, Learned, learn};
pub use norms::{GradNorms, clip_factor, grad_norms};
pub use optimizer::{Optimizer, OptimizerState};
