//! # lowbit-gguf
//!
//! Reads GGUF files (versions 2 and 3, little-endian): metadata, tensor infos and tensor data,
//! with dequantization of the common ggml types to f32 bit-identical to ggml's reference; and
//! imports a llama GGUF into an HF `LlamaForCausalLM` directory (`config.json`,
//! `model.safetensors` in f32, `tokenizer.json`, `tokenizer_config.json`,
//! `generation_config.json`) that lowbit's HF loader reads.
//!
//! Nothing read from a file can make this crate panic: every offset, count and size is checked
//! before use, and errors ([`GgufError`]) name the key, tensor or field at fault.
//!
//! ```no_run
//! let gguf = lowbit_gguf::GgufFile::open("model.gguf")?;
//! println!("{} tensors, arch {}", gguf.tensors().len(), gguf.get_str("general.architecture")?);
//! let report = lowbit_gguf::import_llama(&gguf, "model-hf".as_ref())?;
//! println!("{} parameters", report.parameter_count);
//! # Ok::<(), lowbit_gguf::GgufError>(())
//! ```

#![deny(missing_docs)]

mod cursor;
mod dequant;
mod error;
mod getters;
pub mod import;
mod reader;
mod types;
mod value;

#[cfg(test)]
pub(crate) mod testutil;

pub use dequant::dequantize;
pub use error::GgufError;
pub use import::{ImportOptions, ImportReport, import_llama, import_llama_with};
pub use reader::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, GgufFile, MAX_DIMS, TensorInfo};
pub use types::GgmlType;
pub use value::{GgufValue, GgufValueType};
#[cfg(test)]
mod tests;
