//! Grid learning for multi-grid formats (shared/specs/grids-and-capacity.md "Grid learning";
//! these are lowbit's definitions of the Grid Games families, Egiazarian et al. 2026,
//! arXiv 2605.12327, whose own procedure is not public): Lloyd-style alternating minimisation
//! of the weighted squared error of K ≥ 2 grids over blocks of real weights and activations,
//! each block normalised by the format's own scale rule. See `README.md` beside this file.
//!
//! * [`blocks`] — raw blocks with their tensor amax and importance, and their normalisation.
//! * [`init`] — E2M1 / NF4 starts, k-means++ seeding, the max-6 renormalisation.
//! * [`lloyd`] — one assignment pass (parallel, thread-count independent) and the update.
//! * [`learn`] — the loop, families (MPO2, PO2(NF4)) and the resulting grid file.
//! * [`capture`] — real blocks from a model on a few batches.

pub mod blocks;
pub mod capture;
mod error;
pub mod init;
pub mod learn;
mod lloyd;
#[cfg(test)]
mod tests;

pub use blocks::{BlockSet, GRID_MAX};
pub use capture::{CaptureConfig, Captured, TensorBlocks, capture};
pub use error::GridLearnError;
pub use learn::{Family, GridInit, GridSpec, LearnConfig, Learned, learn};
