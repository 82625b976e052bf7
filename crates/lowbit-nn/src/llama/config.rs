//! `LlamaConfig` and size presets.

use super::policy::CompressionPolicy;
use burn::config::Config;

/// Size presets (name, n_layers, d_model, n_heads): two CPU sizes and the QuEST sizes
/// (formats-and-scaling.md §6: 30M 6/640/5 … 800M 16/2048/16).
pub const PRESETS: [(&str, usize, usize, usize); 8] = [
    ("tiny", 2, 64, 4),
    ("small", 4, 256, 4),
    ("30m", 6, 640, 5),
    ("50m", 7, 768, 6),
    ("100m", 8, 1024, 8),
    ("200m", 10, 1280, 10),
    ("430m", 13, 1664, 13),
    ("800m", 16, 2048, 16),
];

/// The linears of one decoder block, in this order, by name relative to the block (HF:
/// `model.layers.{i}.` + name): attention q, k, v, o, then the SwiGLU MLP's gate, up, down.
pub const BLOCK_LINEARS: [&str; 7] = [
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
];

/// [`BLOCK_LINEARS`] with their `(d_input, d_output)` for these dimensions.
pub fn block_linears(
    d_model: usize,
    n_heads: usize,
    n_kv_heads: usize,
    d_ff: usize,
) -> [(&'static str, usize, usize); 7] {
    let hd = d_model.checked_div(n_heads).unwrap_or(0);
    let (q, kv) = (n_heads * hd, n_kv_heads * hd);
    let n = BLOCK_LINEARS;
    [
        (n[0], d_model, q),
        (n[1], d_model, kv),
        (n[2], d_model, kv),
        (n[3], q, d_model),
        (n[4], d_model, d_ff),
        (n[5], d_model, d_ff),
        (n[6], d_ff, d_model),
    ]
}

/// Every linear inside the blocks of an `n_layers` model, block by block in [`BLOCK_LINEARS`]
/// order, as (HF module name, d_input, d_output), e.g. `("model.layers.0.self_attn.q_proj", …)`.
/// The one list of a Llama's linears: the model is built from it and recipes validate against it.
pub fn linears(
    n_layers: usize,
    d_model: usize,
    n_heads: usize,
    n_kv_heads: usize,
    d_ff: usize,
) -> Vec<(String, usize, usize)> {
    let block = block_linears(d_model, n_heads, n_kv_heads, d_ff);
    (0..n_layers)
        .flat_map(|i| {
            block
                .iter()
                .map(move |&(name, din, dout)| (format!("model.layers.{i}.{name}"), din, dout))
        })
        .collect()
}

/// Configuration of a [`Llama`](super::Llama) model.
#[derive(Config, Debug)]
pub struct LlamaConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Hidden size.
    pub d_model: usize,
    /// Decoder blocks.
    pub n_layers: usize,
    /// Attention heads.
    pub n_heads: usize,
    /// Key/value heads (GQA); must divide `n_heads`.
    pub n_kv_heads: usize,
    /// SwiGLU hidden size (QuEST default 256·ceil(8·d_model/3/256), see [`LlamaConfig::default_d_ff`]).
    pub d_ff: usize,
    /// RoPE base.
    #[config(default = 10000.0)]
    pub rope_theta: f64,
    /// RMSNorm epsilon.
    #[config(default = 1e-5)]
    pub rms_norm_eps: f64,
    /// Share embedding and LM-head weights.
    #[config(default = false)]
    pub tie_embeddings: bool,
    /// Longest sequence (RoPE table size).
    #[config(default = 2048)]
    pub max_seq_len: usize,
    /// Std of the N(0, σ) initialisation; output projections use σ/√(2L).
    #[config(default = 0.02)]
    pub init_std: f64,
    /// Which linears are compressed.
    #[config(default = "CompressionPolicy::new()")]
    pub compression: CompressionPolicy,
}

impl LlamaConfig {
    /// SwiGLU hidden size 256·ceil(8d/3/256).
    pub fn default_d_ff(d_model: usize) -> usize {
        256 * (8 * d_model).div_ceil(3 * 256)
    }

    /// A preset by name (see [`PRESETS`]).
    pub fn preset(name: &str, vocab_size: usize) -> Option<Self> {
        let &(_, l, d, h) = PRESETS.iter().find(|p| p.0 == name)?;
        Some(Self::new(vocab_size, d, l, h, h, Self::default_d_ff(d)))
    }

    /// Head dimension.
    pub fn head_dim(&self) -> usize {
        self.d_model / self.n_heads
    }

    /// Every linear inside the blocks (see [`linears`]).
    pub fn linears(&self) -> Vec<(String, usize, usize)> {
        linears(
            self.n_layers,
            self.d_model,
            self.n_heads,
            self.n_kv_heads,
            self.d_ff,
        )
    }
}
