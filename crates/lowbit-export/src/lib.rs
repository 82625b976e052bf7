//! # lowbit-export
//!
//! Export of lowbit's coded weights ([`lowbit_formats::CodedParts`]) to the
//! [compressed-tensors](https://github.com/neuralmagic/compressed-tensors) safetensors layouts
//! that vLLM and `transformers` load: `nvfp4-pack-quantized` (W4A16 / W4A4), `mxfp4-pack-quantized`
//! and `pack-quantized` (INT weight-only, grouped, symmetric or asymmetric). No tensor library:
//! the export is byte manipulation checked against fixtures written by the real package
//! (`tools/ct_fixtures.py`). Layouts, exactness evidence and limits: `README.md`.
//!
//! ```
//! use lowbit_export::{ct_layer_tensors, ct_scheme_for, read_ct_layer};
//! use lowbit_formats::Format;
//! let f = Format::parse("nvfp4").unwrap();
//! let x: Vec<f32> = (0..64).map(|i| (i as f32 - 30.0) / 7.0).collect();
//! let parts = f.coded_parts(&f.encode(&x, 32).unwrap()).unwrap();
//! let scheme = ct_scheme_for(&f).unwrap();
//! let tensors = ct_layer_tensors("model.layers.0.mlp.up_proj", &parts, &scheme).unwrap();
//! assert_eq!(tensors[0].0, "model.layers.0.mlp.up_proj.weight_packed");
//! let back = read_ct_layer("model.layers.0.mlp.up_proj", &tensors, &scheme).unwrap();
//! assert_eq!(back.decode(), parts.decode());
//! ```

mod config;
mod error;
mod layer;
mod pack;
mod read;
mod scheme;
mod tensor;
mod write;

pub use config::{ct_quantization_config, ct_weight_args};
pub use error::{CT_EXPRESSIBLE, ExportError};
pub use layer::{ct_layer_tensors, reciprocal_global};
pub use read::{CtDequant, ct_dequantize, read_ct_layer};
pub use scheme::{CtFloat, CtScheme, ct_scheme_for};
pub use tensor::{CtDtype, CtTensor, round_bf16, round_f16};
pub use write::{read_safetensors, safetensors_bytes, write_safetensors_atomic};
