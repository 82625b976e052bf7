//! [`GgufError`]: every way reading or importing a GGUF file can fail.
//!
//! Each variant names the thing at fault (the key, the tensor, what was being read and where),
//! so that a message alone tells the user which part of which file is wrong.

use std::path::PathBuf;

/// An error reading a GGUF file or importing it into an HF directory.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// An operating-system error on a file or directory.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The first four bytes are not `GGUF`.
    #[error("not a GGUF file: magic bytes {found:02x?}, expected \"GGUF\" (47 47 55 46)")]
    BadMagic {
        /// The four bytes found at offset 0.
        found: [u8; 4],
    },
    /// A GGUF version other than 2 or 3 (v1 used 32-bit counts; later versions are unknown).
    #[error("unsupported GGUF version {version}: lowbit-gguf reads versions 2 and 3")]
    UnsupportedVersion {
        /// The version field of the header.
        version: u32,
    },
    /// The file ends before a field that the format says is there.
    #[error(
        "truncated GGUF file: reading {what} at offset {offset} needs {needed} bytes, only {available} left"
    )]
    Truncated {
        /// What was being read.
        what: String,
        /// Byte offset of the read.
        offset: u64,
        /// Bytes the read needs.
        needed: u64,
        /// Bytes left in the file from `offset`.
        available: u64,
    },
    /// A structurally invalid field (bad UTF-8, an impossible count, overflow, bad alignment ...).
    #[error("invalid GGUF file: {what} at offset {offset}: {message}")]
    Invalid {
        /// What was being read.
        what: String,
        /// Byte offset of the field.
        offset: u64,
        /// What is wrong with it.
        message: String,
    },
    /// A tensor's ggml type id is not one ggml defines.
    #[error("tensor {tensor:?}: unknown ggml type id {type_id}")]
    UnknownTensorType {
        /// The tensor's name.
        tensor: String,
        /// The type id found in its tensor info.
        type_id: u32,
    },
    /// A ggml type this crate knows the size of but cannot dequantize (IQ*, TQ*, integer types).
    #[error("tensor {tensor:?}: ggml type {type_name} is not supported by the dequantizer")]
    UnsupportedTensorType {
        /// The tensor's name.
        tensor: String,
        /// The ggml type's name.
        type_name: &'static str,
    },
    /// A tensor's data range does not lie inside the file's data section.
    #[error(
        "tensor {tensor:?}: data at offset {offset} (+{size} bytes) lies outside the data section ({data_len} bytes)"
    )]
    TensorOutOfBounds {
        /// The tensor's name.
        tensor: String,
        /// Offset of its data, relative to the data section.
        offset: u64,
        /// Size of its data in bytes.
        size: u64,
        /// Size of the data section.
        data_len: u64,
    },
    /// A metadata key that must be present is not.
    #[error("metadata key {key:?} is missing")]
    MissingKey {
        /// The key.
        key: String,
    },
    /// A metadata key holds a value of another type (or out of the expected range).
    #[error("metadata key {key:?}: expected {expected}, found {found}")]
    WrongType {
        /// The key.
        key: String,
        /// What the caller needed.
        expected: &'static str,
        /// What the file holds.
        found: String,
    },
    /// `general.architecture` is not one the importer supports.
    #[error("unsupported architecture {architecture:?}: only \"llama\" GGUF files can be imported")]
    UnsupportedArchitecture {
        /// The value of `general.architecture`.
        architecture: String,
    },
    /// A model feature the importer does not translate (RoPE scaling, MoE, a tokenizer model...).
    #[error("unsupported {what}: {message}")]
    Unsupported {
        /// The key or feature.
        what: String,
        /// Why, and what is supported.
        message: String,
    },
    /// `tokenizer.ggml.pre` names a pre-tokenizer the importer does not know.
    #[error(
        "unknown pre-tokenizer {pre:?} (tokenizer.ggml.pre); supported: default, gpt2, llama-bpe, smollm"
    )]
    UnknownPreTokenizer {
        /// The value of `tokenizer.ggml.pre`.
        pre: String,
    },
    /// A tensor the importer did not expect, is missing, or has the wrong shape.
    #[error("tensor {tensor:?}: {message}")]
    Tensor {
        /// The GGUF tensor name.
        tensor: String,
        /// What is wrong.
        message: String,
    },
    /// The output directory exists and is not empty, and `force` was not given.
    #[error("output directory {path} exists and is not empty (use force to replace it)")]
    OutputExists {
        /// The output directory.
        path: PathBuf,
    },
    /// Building or saving `tokenizer.json` failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// Writing `model.safetensors` failed.
    #[error("safetensors: {0}")]
    Safetensors(String),
}

impl GgufError {
    /// `Io` for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        GgufError::Io {
            path: path.into(),
            source,
        }
    }

    /// `Tensor` naming `tensor`.
    pub(crate) fn tensor(tensor: &str, message: impl Into<String>) -> Self {
        GgufError::Tensor {
            tensor: tensor.to_string(),
            message: message.into(),
        }
    }
}
