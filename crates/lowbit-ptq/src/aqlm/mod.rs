//! # AQLM: additive quantization of one linear layer
//!
//! Egiazarian, Panferov, Kuznedelev, Frantar, Babenko, Alistarh, "Extreme Compression of Large
//! Language Models via Additive Quantization", ICML 2024, §3 (spec `algorithms.md` §3.1–3.2).
//! A weight `[d_out, d_in]` is stored as codes `[d_out, d_in/G, M]`, `M` codebooks
//! `[2^B, G]` and one scale per output row (format `vq:MxBgG`):
//! `Ŵ[r, jG..(j+1)G] = s_r · Σ_m C_m[b_{r,j,m}]`. Calibration minimises
//! `‖WX − ŴX‖² = tr(ΔW XᵀX ΔWᵀ)` over a layer's inputs: residual k-means init ([`kmeans`]),
//! then alternately Adam steps on codebooks and scales ([`adam`]) and a beam search over the
//! codes ([`beam`]) ([`calibrate()`]).
//!
//! Tested against `tools/aqlm_reference.py` (a PyTorch port validated against the official
//! Vahe1994/AQLM code) through the fixtures of `tests/fixtures/aqlm/`; every deliberate choice
//! of that reference is followed, and the deviations are listed in the crate README.
//!
//! ```
//! use lowbit_ptq::aqlm::{AqlmOptions, aqlm, decode};
//! let (rows, cols) = (32, 16);
//! let w: Vec<f32> = (0..rows * cols).map(|i| (i as f32 * 0.37).sin()).collect();
//! let xtx: Vec<f32> = (0..cols * cols).map(|i| if i % (cols + 1) == 0 { 1.0 } else { 0.0 }).collect();
//! let opts = AqlmOptions { max_epochs: 2, steps_per_epoch: 10, ..AqlmOptions::for_format("vq:2x4g8").unwrap() };
//! let r = aqlm(&w, rows, cols, &xtx, &opts).unwrap();
//! assert_eq!(decode(&r.weight()).unwrap(), r.w_hat);
//! assert!(r.epochs.iter().filter_map(|e| e.search).all(|p| p.after <= p.before));
//! ```

pub mod adam;
pub mod beam;
pub mod calibrate;
pub mod kmeans;
mod nearest;
pub mod objective;
pub mod options;
pub mod spec;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_calibrate;

pub use adam::{AdamState, adam_steps};
pub use beam::{beam_search, natural_order};
pub use calibrate::{aqlm, calibrate};
pub use kmeans::{KmeansInfo, KmeansStart, init_residual_kmeans};
pub use objective::{decode, objective};
pub use options::{AqlmOptions, AqlmResult, BeamPass, EpochRecord, KmeansInit, VqWeight};
pub use spec::VqSpec;
