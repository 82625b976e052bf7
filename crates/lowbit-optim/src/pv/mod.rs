//! PV-Tuning (Malinovskii et al., "PV-Tuning: Beyond Straight-Through Estimation for Extreme LLM
//! Compression", NeurIPS 2024; the official update is algorithms.md §4.2): fine-tuning a
//! compressed model by alternating a P-step (Adam on the continuous parameters — scales, zero
//! points, codebooks — through the decode) and a V-step on the discrete codes.
//!
//! The V-step is the *subspace linearized* one: a preconditioned gradient step on the decoded
//! weight (or on a straight-through buffer), `T = X − code_lr·c·r·u` ([`lamb`]), projected back
//! onto the representable weights on only the `τ` fraction of code groups whose decode is
//! farthest from `T` ([`select`]): nearest level for scalar grids ([`scalar`], §4.5), L2 beam
//! search for AQLM codebooks ([`vq`]).
//!
//! The rules are host math on flat vectors, tested against `tools/pv_reference.py`
//! (tests/fixtures/pv); [`step::PvOptimizer`] applies them to a Llama as the step loop's
//! optimizer.

pub mod lamb;
pub mod scalar;
pub mod select;
pub mod step;
pub mod vq;

pub use lamb::{LambConfig, LambState, lamb_step};
pub use scalar::{VStepStats, scalar_vstep};
pub use select::{budget, top_k};
pub use step::{PvOptimizer, VStepConfig};
pub use vq::{VqHost, vq_vstep};
