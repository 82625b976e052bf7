//! MR-GPTQ (Egiazarian et al., "Bridging the Gap Between Promise and Performance for
//! Microscaling FP4 Quantization", arXiv 2509.23202; IST-DASLab/FP-Quant
//! `src/quantization/gptq.py` `gptq_quantization` + `GPTQ.step`): GPTQ in a block-Hadamard
//! rotated basis with format-specific block scales.
//!
//! 1. Rotation (FP-Quant step 6 "Transform all weights before quantization", `HadamardTransform`
//!    with `--hadamard_group_size`): W_rot = W·R, and the Hessian of the rotated inputs x·R,
//!    H_rot = Rᵀ·H·R (FP-Quant collects it from the rotated activations; for the same inputs
//!    this is the same matrix). R = lowbit-nn's `block_hadamard` matrix (hadamard.rs).
//! 2. Tensor statistics from W_rot (FP-Quant takes the NVFP4 global scale from the rotated
//!    weight: `get_quantization_params(layer_transform(layer.weight, inv_t=True))`).
//! 3. Block scales by [`ScaleSearch`] (FP-Quant `--w_observer minmax | mse`), by default static:
//!    every group's scales up front from W_rot (FP-Quant computes `scales, zeros` once before the
//!    column loop), optionally with act-order (`QuantizationOrder.ACTIVATION`, each column keeps
//!    its original group).
//! 4. lowbit's [`gptq`] on (W_rot, H_rot). The stored weight is Ŵ_rot (in the rotated basis);
//!    at inference lowbit rotates activations with `block_hadamard` and y = (x·R)·Ŵ_rotᵀ, so the
//!    original-basis weight is Ŵ_rot·Rᵀ ([`MrGptqResult::w_hat_original`]).

use crate::gptq::{GptqOptions, GptqResult, gptq};
use crate::hadamard::{block_hadamard_rows, rotate_hessian};
use crate::quantizer::FormatQuantizer;
use crate::scale_search::ScaleSearch;
use crate::{PtqError, error::check_shape};
use lowbit_formats::CodedParts;

/// Options of [`mr_gptq`].
#[derive(Debug, Clone, PartialEq)]
pub struct MrGptqOptions {
    /// Hadamard block (a power of two dividing d_in; FP-Quant `--hadamard_group_size`, default
    /// 128); `None` = no rotation (plain GPTQ).
    pub rotation_block: Option<usize>,
    /// Block-scale choice (FP-Quant `--w_observer`); set on the quantizer for this run.
    pub scale_search: ScaleSearch,
    /// GPTQ options (act-order, static groups, damping, lazy block).
    pub gptq: GptqOptions,
}

impl Default for MrGptqOptions {
    /// FP-Quant's MR-GPTQ: Hadamard 128, MSE scale search, static groups, no act-order.
    fn default() -> Self {
        Self {
            rotation_block: Some(128),
            scale_search: ScaleSearch::FP_QUANT,
            gptq: GptqOptions {
                static_groups: true,
                ..GptqOptions::default()
            },
        }
    }
}

/// The result of [`mr_gptq`]: GPTQ's result in the ROTATED basis (Ŵ_rot ≈ W·R, its codes and
/// block parameters, exactly what is stored) and the rotation it is relative to.
#[derive(Debug, Clone, PartialEq)]
pub struct MrGptqResult {
    /// GPTQ on (W·R, Rᵀ·H·R).
    pub rotated: GptqResult,
    /// The Hadamard block of R (`None`: R = I).
    pub rotation_block: Option<usize>,
}

impl MrGptqResult {
    /// Ŵ in the original basis, Ŵ_rot·Rᵀ (= Ŵ_rot·R: R is symmetric), for evaluation:
    /// W·x ≈ Ŵ_rot·(Rᵀ·x).
    pub fn w_hat_original(&self) -> Result<Vec<f32>, PtqError> {
        let r = &self.rotated;
        match self.rotation_block {
            Some(b) => block_hadamard_rows(&r.w_hat, r.rows, r.cols, b),
            None => Ok(r.w_hat.clone()),
        }
    }

    /// The stored (rotated) weight as exact coded parts (see [`GptqResult::coded_parts`]).
    pub fn coded_parts(&self, quantizer: &FormatQuantizer) -> Result<CodedParts, PtqError> {
        self.rotated.coded_parts(quantizer)
    }
}

/// MR-GPTQ of `w` (`[rows, cols]`, rows = d_out) with the Hessian `h` of the ORIGINAL inputs
/// (`[cols, cols]`). `quantizer` is left with `opts.scale_search` and the tensor scale of W·R,
/// ready for [`MrGptqResult::coded_parts`]. With `rotation_block: None` and
/// [`ScaleSearch::Absmax`] this is [`gptq`] exactly.
///
/// # Errors
/// [`PtqError::Rotation`] for a block that is not a power of two dividing d_in, invalid search
/// options, and everything [`gptq`] reports.
pub fn mr_gptq(
    w: &[f32],
    rows: usize,
    cols: usize,
    h: &[f32],
    quantizer: &mut FormatQuantizer,
    opts: &MrGptqOptions,
) -> Result<MrGptqResult, PtqError> {
    check_shape("weight", w.len(), rows, cols)?;
    check_shape("hessian", h.len(), cols, cols)?;
    *quantizer = quantizer.clone().with_scale_search(opts.scale_search)?;
    let rotated = match opts.rotation_block {
        Some(b) => {
            let w_rot = block_hadamard_rows(w, rows, cols, b)?;
            let h_rot = rotate_hessian(h, cols, b)?;
            gptq(&w_rot, rows, cols, &h_rot, quantizer, &opts.gptq)?
        }
        None => gptq(w, rows, cols, h, quantizer, &opts.gptq)?,
    };
    Ok(MrGptqResult {
        rotated,
        rotation_block: opts.rotation_block,
    })
}
