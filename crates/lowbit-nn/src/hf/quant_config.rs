//! The `quantization_config` of a lowbit compressed checkpoint: which linears hold coded
//! weights, in which format, with which online rotation — everything needed to rebuild the
//! model around the stored codes without any file beside the checkpoint.
//!
//! It sits in `config.json` under the key transformers uses for quantized models, with
//! `quant_method: "lowbit"`, so a stock loader sees a quantized model it does not know instead
//! of silently loading garbage. `lowbit export` writes what other tools load.

use crate::NnError;
use lowbit_formats::GridText;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// `quant_method` of lowbit's own compressed checkpoints.
pub const LOWBIT_QUANT_METHOD: &str = "lowbit";
/// Version of the layout below.
pub const QUANT_CONFIG_VERSION: u32 = 1;

/// One coded linear.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodedLayer {
    /// Weight format: a lowbit format name (`int4:block=128`, `nvfp4`, …) or an additive VQ
    /// format `vq:MxBgG`.
    pub weight: String,
    /// Input-activation format applied online (`None`: full-precision activations).
    #[serde(default)]
    pub input: Option<String>,
    /// Block of the Walsh–Hadamard rotation applied online to the input (0: none); the stored
    /// codes are of the rotated weight `W·H` (MR-GPTQ's rotations fused into the weights).
    #[serde(default)]
    pub hadamard_block: usize,
}

/// A compressed checkpoint's `quantization_config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantizationConfig {
    /// Always [`LOWBIT_QUANT_METHOD`].
    pub quant_method: String,
    /// Layout version ([`QUANT_CONFIG_VERSION`]).
    pub version: u32,
    /// How the codes were made (`rtn`, `gptq`, `mr-gptq`, `aqlm`, a fine-tuning method, …):
    /// provenance, not read back.
    #[serde(default)]
    pub method: String,
    /// The coded linears by HF module name; every other linear is full precision.
    pub layers: BTreeMap<String, CodedLayer>,
    /// Grid files the formats resolve through, by content.
    #[serde(default)]
    pub grids: Vec<GridText>,
    /// Stored bits per weight of the coded linears: codes, scales, zero points, grid selectors,
    /// masks and codebooks, each at the width it is stored with (see [`crate::hf::compressed`]).
    #[serde(default)]
    pub bits_per_value: f64,
    /// Free-form provenance (calibration data, options).
    #[serde(default)]
    pub details: Value,
}

impl QuantizationConfig {
    /// An empty configuration for `method`.
    pub fn new(method: &str) -> Self {
        Self {
            quant_method: LOWBIT_QUANT_METHOD.into(),
            version: QUANT_CONFIG_VERSION,
            method: method.into(),
            layers: BTreeMap::new(),
            grids: Vec::new(),
            bits_per_value: 0.0,
            details: Value::Null,
        }
    }

    /// Reads the `quantization_config` of a `config.json` value, if it has one.
    ///
    /// # Errors
    /// [`NnError::UnsupportedConfig`] naming `quantization_config` for another tool's
    /// quantization (with the fix) or a malformed lowbit one.
    pub fn from_config_json(v: &Value) -> Result<Option<Self>, NnError> {
        let Some(q) = v.get("quantization_config").filter(|q| !q.is_null()) else {
            return Ok(None);
        };
        let unsupported = |message: String| NnError::UnsupportedConfig {
            field: "quantization_config".into(),
            message,
        };
        let method = q.get("quant_method").and_then(Value::as_str).unwrap_or("");
        if method != LOWBIT_QUANT_METHOD {
            return Err(unsupported(format!(
                "quant_method {method:?} is not lowbit's; lowbit loads its own compressed checkpoints \
                 (`lowbit compress`) and full-precision HF or GGUF models (`lowbit import gguf`)"
            )));
        }
        let qc: Self = serde_json::from_value(q.clone())
            .map_err(|e| unsupported(format!("not a lowbit quantization config: {e}")))?;
        if qc.version != QUANT_CONFIG_VERSION {
            return Err(unsupported(format!(
                "version {} is not {QUANT_CONFIG_VERSION}; this lowbit reads version {QUANT_CONFIG_VERSION}",
                qc.version
            )));
        }
        Ok(Some(qc))
    }
}
