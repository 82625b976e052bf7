//! Weight representations of a [`crate::CompressedLinear`] (DESIGN.md §3 "Layers").
//!
//! - [`LatentWeight`]: an f32 weight, fake-quantized on every forward pass and trained through an
//!   estimator (STE, clipped STE, QuEST trust, LSQ) — quantization-aware training.
//! - [`CodedWeight`]: the compressed weight itself — integer codes and the continuous parameters
//!   that decode them (scales, zero points, grids, AQLM codebooks) — what post-training
//!   compression produces and PV-Tuning fine-tunes.
//!
//! In the state dict a representation is transparent ([`crate::hf::PathStack`]): a latent weight
//! is `layer.weight` (and `layer.weight_step`), a coded one `layer.weight_codes`,
//! `layer.weight_scale`, … (compressed-tensors' names, codes unpacked one per byte).

mod coded;
mod llama;
#[cfg(test)]
mod tests;

pub use coded::{CodedWeight, ScalarCodes, VqCodes};

use crate::NnError;
use burn::module::{Module, Param};
use burn::tensor::Tensor;
use lowbit_formats::Format;

/// Which representation a layer is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeightKind {
    /// f32 weight + fake quantization + estimator.
    #[default]
    Latent,
    /// Codes + decode parameters (needs a weight format other than plain sparsity).
    Coded,
}

/// A latent weight: full-precision values the quantizer sees on every forward pass.
#[derive(Module, Debug)]
pub struct LatentWeight {
    /// Latent weight, `[d_output, d_input]` (HuggingFace layout).
    pub weight: Param<Tensor<2>>,
    /// LSQ learned weight step, one per output row, `[d_output, 1]`.
    pub weight_step: Option<Param<Tensor<2>>>,
    /// Weight format (`None`: full precision).
    #[module(skip)]
    pub format: Option<Format>,
}

/// How a layer holds its weight.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum WeightRepr {
    /// f32 weight + fake quantization.
    Latent(LatentWeight),
    /// Codes + decode parameters.
    Coded(CodedWeight),
}

impl WeightRepr {
    /// The latent weight, if this is one.
    pub fn latent(&self) -> Option<&LatentWeight> {
        match self {
            WeightRepr::Latent(l) => Some(l),
            WeightRepr::Coded(_) => None,
        }
    }

    /// The latent weight, mutably, if this is one.
    pub fn latent_mut(&mut self) -> Option<&mut LatentWeight> {
        match self {
            WeightRepr::Latent(l) => Some(l),
            WeightRepr::Coded(_) => None,
        }
    }

    /// The coded weight, if this is one.
    pub fn coded(&self) -> Option<&CodedWeight> {
        match self {
            WeightRepr::Latent(_) => None,
            WeightRepr::Coded(c) => Some(c),
        }
    }

    /// The latent weight's format (`None` in full precision and for coded weights, whose format
    /// is their parameters).
    pub fn format(&self) -> Option<&Format> {
        self.latent().and_then(|l| l.format.as_ref())
    }

    /// `[d_output, d_input]`.
    pub fn dims(&self) -> [usize; 2] {
        match self {
            WeightRepr::Latent(l) => l.weight.val().dims(),
            WeightRepr::Coded(c) => c.dims(),
        }
    }

    /// Encodes a latent weight `w` (already in the basis the quantizer sees, e.g. Hadamard
    /// rotated) with `format`, giving the coded weight whose decode equals the fake-quantized
    /// latent weight bit for bit.
    ///
    /// # Errors
    /// The format's errors (non-finite values, block mismatch), [`NnError::Coded`] for formats
    /// without codes (plain sparsity).
    pub fn encode(w: Tensor<2>, format: &Format) -> Result<CodedWeight, NnError> {
        let [rows, cols] = w.dims();
        let device = w.device();
        let v = w
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| NnError::TensorData {
                what: "latent weight".into(),
                reason: format!("{e:?}"),
            })?;
        let e = format.encode(&v, cols)?;
        let parts = format
            .coded_parts(&e)
            .map_err(|e| NnError::Coded(e.to_string()))?;
        debug_assert_eq!(parts.rows, rows);
        Ok(CodedWeight::Scalar(ScalarCodes::from_parts(
            &parts, &device,
        )?))
    }
}
