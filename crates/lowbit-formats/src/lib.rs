//! # lowbit-formats
//!
//! Exact low-bit number formats for training and compressing language models, with no
//! dependency on a tensor library: element types (E2M1, E4M3, E8M0, INT, NF4), block scale
//! rules (OCP MX E8M0, NVFP4 two-level E4M3, f32), multi-grid formats (PO2, SFP4, Split87 and
//! learned grids; Grid Games, arXiv 2605.12327), QuEST's RMS-clipped grid, sparsity masks,
//! packing, Gaussian-MSE capacity, per-element quantization cells (what estimators' masks are
//! built from) and coded parts (an encoding unpacked into codes, level tables and per-block
//! factors, for layers that hold a compressed weight).
//!
//! Every format has a slow scalar reference (`*_reference`) and a fast, chunked, multi-threaded
//! path held equal to it bit for bit by tests; both are checked against golden vectors written
//! by an independent NumPy + ml_dtypes oracle (`tools/gen_golden.py`). The exact semantics,
//! including every decision where published implementations differ, are in `FORMATS.md`.
//!
//! ```
//! use lowbit_formats::Format;
//! let f = Format::parse("nvfp4").unwrap();
//! let mut x: Vec<f32> = (0..32).map(|i| (i as f32 - 16.0) / 3.0).collect();
//! f.fake_quant(&mut x, 32).unwrap();
//! assert_eq!(f.bits_per_value(), 4.5);
//! ```

mod blockwise;
mod cells;
mod coded;
pub mod elem;
mod error;
mod format;
pub mod gmse;
pub mod grid;
mod grid_format;
mod grid_reference;
pub mod gridfile;
mod int;
pub mod pack;
mod quest;
pub mod scale;
mod sparse;
pub mod spec;
mod tensor;
pub mod vq;

pub use blockwise::GridBlockParams;
pub use cells::Cells;
pub use coded::{CodedParts, DecodeRule};
pub use error::FormatError;
pub use format::{Format, ScaleDtype, ScaleLayout};
pub use gmse::{Gmse, gmse, gmse_on};
pub use grid::Grid;
pub use grid_format::{GridFormat, Selection};
pub use gridfile::{GridConflict, GridFile, GridRegistry, GridText};
pub use int::{IntFormat, IntScale};
pub use quest::{OPTIMAL_GAUSSIAN_SCALES, QuestBlock, QuestFormat};
pub use scale::ScaleRule;
pub use sparse::Sparsity;
pub use tensor::Encoded;
pub use vq::VqSpec;
