//! [`CtScheme`]: which compressed-tensors quantization scheme a lowbit [`Format`] exports as.
//!
//! The schemes follow compressed-tensors' presets in `quantization/quant_scheme.py` (`NVFP4A16`,
//! `NVFP4`, `MXFP4A16`, `W4A16`, `W4A16_ASYM`, `W8A16`) and the compressor registry in
//! `compressors/quantized_compressors/{fp4_quantized,pack_quantized}.py`.

use crate::error::{CT_EXPRESSIBLE, ExportError};
use lowbit_formats::{Format, Grid, ScaleRule};

/// Floating dtype of a dense (non-byte-coded) scale tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtFloat {
    /// bfloat16: what compressed-tensors writes for a bf16 model (scales take the weight's
    /// dtype unless `scale_dtype` is set; `quantization/lifecycle/initialize.py`).
    Bf16,
    /// IEEE half.
    F16,
    /// f32: exact for lowbit's f32 scales.
    F32,
}

impl CtFloat {
    /// The safetensors dtype name (`BF16`, `F16`, `F32`).
    pub fn name(&self) -> &'static str {
        match self {
            CtFloat::Bf16 => "BF16",
            CtFloat::F16 => "F16",
            CtFloat::F32 => "F32",
        }
    }
}

/// A compressed-tensors scheme for the weights of `Linear` layers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CtScheme {
    /// `nvfp4-pack-quantized`: W4A16, or W4A4 when `input_global_scale` is given (the
    /// activation tensor scale, compressed-tensors' reciprocal convention `448·6 / amax`).
    Nvfp4 {
        /// Activation global scale; `Some` makes the scheme W4A4 (`input_activations` with
        /// `dynamic: "local"` and an `input_global_scale` tensor per layer).
        input_global_scale: Option<f32>,
    },
    /// `mxfp4-pack-quantized`: E2M1 codes with E8M0 (bias 127) block-32 scales, W4A16.
    Mxfp4,
    /// `pack-quantized`: INT weights packed into int32, grouped scales (and zero points).
    PackQuantized {
        /// 4 or 8.
        bits: u32,
        /// Values per group along a row (lowbit's block).
        group_size: usize,
        /// Symmetric (no zero point) or asymmetric.
        symmetric: bool,
        /// dtype of `weight_scale`.
        scale_dtype: CtFloat,
    },
}

impl CtScheme {
    /// The compressed-tensors `format` string (`config_groups` compressor name).
    pub fn format_name(&self) -> &'static str {
        match self {
            CtScheme::Nvfp4 { .. } => "nvfp4-pack-quantized",
            CtScheme::Mxfp4 => "mxfp4-pack-quantized",
            CtScheme::PackQuantized { .. } => "pack-quantized",
        }
    }

    /// Values per scale group.
    pub fn group_size(&self) -> usize {
        match self {
            CtScheme::Nvfp4 { .. } => 16,
            CtScheme::Mxfp4 => 32,
            CtScheme::PackQuantized { group_size, .. } => *group_size,
        }
    }

    /// The NVFP4 scheme made W4A4 with this activation global scale (other schemes unchanged).
    pub fn with_input_global_scale(self, scale: f32) -> Self {
        match self {
            CtScheme::Nvfp4 { .. } => CtScheme::Nvfp4 {
                input_global_scale: Some(scale),
            },
            other => other,
        }
    }

    /// The INT scheme with `weight_scale` stored as `dtype` (other schemes unchanged: their
    /// scales are E4M3 / E8M0 bytes).
    pub fn with_scale_dtype(self, dtype: CtFloat) -> Self {
        match self {
            CtScheme::PackQuantized {
                bits,
                group_size,
                symmetric,
                ..
            } => CtScheme::PackQuantized {
                bits,
                group_size,
                symmetric,
                scale_dtype: dtype,
            },
            other => other,
        }
    }
}

fn unsupported(format: &Format, reason: impl Into<String>) -> ExportError {
    ExportError::Unsupported {
        format: format.name(),
        reason: reason.into(),
        supported: CT_EXPRESSIBLE,
    }
}

/// The compressed-tensors scheme that stores `format` exactly, W4A16 / weight-only, INT scales
/// in bf16 (compressed-tensors' default for a bf16 model; see [`CtScheme::with_scale_dtype`]).
///
/// # Errors
/// [`ExportError::Unsupported`] for every format compressed-tensors cannot express (multi-grid
/// PO2 / SFP4 / Split87, NF4 and other tables, VQ, sparsity, QuEST's centred grid, NVFP4 or MX
/// with a non-standard block, INT of other widths); the message lists those it can.
pub fn ct_scheme_for(format: &Format) -> Result<CtScheme, ExportError> {
    match format {
        Format::Grid(g) => {
            if g.grids().len() != 1 {
                return Err(unsupported(
                    format,
                    format!(
                        "{} grids selected per block; compressed-tensors has one fixed grid",
                        g.grids().len()
                    ),
                ));
            }
            if !matches!(g.grids()[0], Grid::E2m1) {
                return Err(unsupported(
                    format,
                    "a level table other than E2M1 (compressed-tensors FP4 is E2M1 only)",
                ));
            }
            match (g.scale_rule(), g.block()) {
                (ScaleRule::E4m3Global, 16) => Ok(CtScheme::Nvfp4 {
                    input_global_scale: None,
                }),
                (ScaleRule::E8m0(_), 32) => Ok(CtScheme::Mxfp4),
                (ScaleRule::E4m3Global, b) => Err(unsupported(
                    format,
                    format!("NVFP4 block {b}; compressed-tensors NVFP4 uses group_size 16"),
                )),
                (ScaleRule::E8m0(_), b) => Err(unsupported(
                    format,
                    format!("MX block {b}; compressed-tensors MXFP4 uses group_size 32"),
                )),
                (ScaleRule::F32, _) => Err(unsupported(
                    format,
                    "E2M1 with f32 block scales (compressed-tensors FP4 scales are E4M3 or E8M0)",
                )),
            }
        }
        Format::Int(i) if matches!(i.bits(), 4 | 8) => Ok(CtScheme::PackQuantized {
            bits: i.bits(),
            group_size: i.block(),
            symmetric: i.symmetric(),
            scale_dtype: CtFloat::Bf16,
        }),
        Format::Int(i) => Err(unsupported(
            format,
            format!(
                "INT{}; pack-quantized is served for 4 and 8 bits only",
                i.bits()
            ),
        )),
        Format::Quest(_) => Err(unsupported(
            format,
            "QuEST's centred grid has no zero level; compressed-tensors INT grids do",
        )),
        Format::Sparse(_) | Format::SparseQuant { .. } => Err(unsupported(
            format,
            "sparsity masks (compressed-tensors' sparse-24-bitmask composition is not exported)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheme(name: &str) -> Result<CtScheme, ExportError> {
        ct_scheme_for(&Format::parse(name).map_err(|e| unsupported_parse(name, e))?)
    }

    fn unsupported_parse(name: &str, e: lowbit_formats::FormatError) -> ExportError {
        ExportError::Mismatch {
            module: name.into(),
            scheme: "parse".into(),
            reason: e.to_string(),
        }
    }

    #[test]
    fn expressible_formats_map_to_their_schemes() {
        assert_eq!(
            scheme("nvfp4").ok(),
            Some(CtScheme::Nvfp4 {
                input_global_scale: None
            })
        );
        for mx in ["mxfp4", "mxfp4-rceil", "mxfp4-even"] {
            assert_eq!(scheme(mx).ok(), Some(CtScheme::Mxfp4), "{mx}");
        }
        assert_eq!(
            scheme("int4:block=128,asym").ok(),
            Some(CtScheme::PackQuantized {
                bits: 4,
                group_size: 128,
                symmetric: false,
                scale_dtype: CtFloat::Bf16
            })
        );
        let w4a4 = CtScheme::Nvfp4 {
            input_global_scale: None,
        }
        .with_input_global_scale(3.0);
        assert_eq!(
            w4a4,
            CtScheme::Nvfp4 {
                input_global_scale: Some(3.0)
            }
        );
    }

    #[test]
    fn other_formats_are_errors_that_name_the_format_and_the_alternatives() {
        for name in [
            "po2-nf4",
            "nf4",
            "sfp4",
            "split87",
            "quest-int4",
            "2of4+nvfp4",
            "int3:block=32",
            "mxfp4:block=64",
        ] {
            let err = match scheme(name) {
                Err(e) => e.to_string(),
                Ok(s) => panic!("{name} exported as {s:?}"),
            };
            let canonical = Format::parse(name).map(|f| f.name()).unwrap_or_default();
            assert!(err.contains(&format!("`{canonical}`")), "{err}");
            assert!(err.contains("nvfp4-pack-quantized"), "{err}");
            assert!(err.contains("pack-quantized)"), "{err}");
        }
    }
}
