//! A Llama-style decoder (Touvron et al. 2023): pre-RMSNorm blocks, HF-convention RoPE
//! (`rotate_half`, non-interleaved), causal grouped-query attention, SwiGLU MLP; every linear in
//! the blocks is a [`CompressedLinear`](crate::CompressedLinear) chosen by a name policy, while
//! embeddings and the LM head stay in full precision (QuEST `src/models/llama.py`).

pub(crate) mod attention;
mod config;
mod generate;
mod kv_cache;
pub(crate) mod mlp;
mod model;
mod policy;
mod rope;

pub use attention::LayerKv;
pub use config::{BLOCK_LINEARS, LlamaConfig, PRESETS, block_linears, linears};
pub use generate::{GenerateConfig, generate, generate_recompute, nucleus, sample_next};
pub use kv_cache::KvCache;
pub use model::{Block, Llama, cross_entropy};
pub use policy::{CompressionPolicy, ResolvedPolicy, compile_globs};
pub use rope::Rope;
