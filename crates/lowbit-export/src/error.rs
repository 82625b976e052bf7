//! Typed errors of the export: every failure names what was wrong and, where one exists, the fix.

use std::path::PathBuf;

/// The formats compressed-tensors can express, listed in every [`ExportError::Unsupported`].
pub const CT_EXPRESSIBLE: &str = "nvfp4 (E2M1, E4M3 block-16 scales, f32 tensor scale; \
    nvfp4-pack-quantized), mxfp4 / mxfp4-rceil / mxfp4-even (E2M1, E8M0 block-32 scales; \
    mxfp4-pack-quantized), int4 / int8 symmetric or asymmetric with any group size \
    (pack-quantized)";

/// Why an export or a read-back failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The lowbit format has no compressed-tensors layout.
    #[error(
        "format `{format}` has no compressed-tensors layout ({reason}); compressed-tensors can express: {supported}"
    )]
    Unsupported {
        /// Canonical lowbit format name.
        format: String,
        /// What in the format is outside compressed-tensors.
        reason: String,
        /// [`CT_EXPRESSIBLE`].
        supported: &'static str,
    },
    /// The coded parts do not belong to the scheme they are exported under.
    #[error("layer `{module}`: coded parts do not fit {scheme}: {reason}")]
    Mismatch {
        /// Module name (e.g. `model.layers.0.mlp.down_proj`).
        module: String,
        /// The compressed-tensors format.
        scheme: String,
        /// What differs.
        reason: String,
    },
    /// A value has no exact representation in the stored dtype.
    #[error(
        "layer `{module}`: {what} {value:e} (bits {bits:#010x}) is not representable as {dtype}"
    )]
    NotRepresentable {
        /// Module name.
        module: String,
        /// Which tensor (e.g. `weight_scale`).
        what: &'static str,
        /// The value.
        value: f32,
        /// Its f32 bit pattern.
        bits: u32,
        /// The target dtype.
        dtype: &'static str,
    },
    /// A tensor needed to read a layer back is absent or malformed.
    #[error("layer `{module}`: tensor `{tensor}`: {reason}")]
    BadTensor {
        /// Module name.
        module: String,
        /// Tensor name (without the module prefix).
        tensor: String,
        /// What is wrong.
        reason: String,
    },
    /// Writing or reading a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The safetensors library refused the data.
    #[error("safetensors: {0}")]
    Safetensors(#[from] safetensors::SafeTensorError),
}
