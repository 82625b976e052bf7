//! llama hyper-parameters from GGUF metadata, and the `config.json` /
//! `generation_config.json` of transformers' `LlamaForCausalLM` that match them.
//!
//! Key names are llama.cpp's (`LLM_KV_*` in src/llama-arch.cpp, `{arch}.` prefixed); the JSON
//! keys are those lowbit-nn's `hf::config` reads (the transformers 5.x layout with the 4.x
//! top-level `rope_theta` as well).

use crate::{GgufError, GgufFile};
use serde_json::{Map, Value, json};

/// The llama hyper-parameters an import needs.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaHparams {
    /// `llama.embedding_length`.
    pub hidden: u64,
    /// `llama.feed_forward_length`.
    pub ffn: u64,
    /// `llama.block_count`.
    pub n_layer: u64,
    /// `llama.attention.head_count`.
    pub n_head: u64,
    /// `llama.attention.head_count_kv` (default: `n_head`).
    pub n_kv: u64,
    /// `llama.rope.freq_base` (default 10000, llama.cpp's default).
    pub rope_theta: f32,
    /// `llama.attention.layer_norm_rms_epsilon`.
    pub rms_eps: f32,
    /// `llama.context_length`.
    pub ctx: u64,
}

impl LlamaHparams {
    /// Head dimension (`hidden / n_head`).
    pub fn head_dim(&self) -> u64 {
        self.hidden / self.n_head.max(1)
    }

    /// Reads and checks the hyper-parameters; refuses what the HF Llama cannot express.
    ///
    /// # Errors
    /// [`GgufError::MissingKey`] / [`GgufError::WrongType`] naming the key, and
    /// [`GgufError::Unsupported`] for RoPE scaling, partial rotary, MoE or inconsistent heads.
    pub fn from_gguf(g: &GgufFile) -> Result<Self, GgufError> {
        let p = |k: &str| format!("llama.{k}");
        let n_head = g.get_u64(&p("attention.head_count"))?;
        let hidden = g.get_u64(&p("embedding_length"))?;
        let h = LlamaHparams {
            hidden,
            ffn: g.get_u64(&p("feed_forward_length"))?,
            n_layer: g.get_u64(&p("block_count"))?,
            n_head,
            n_kv: g
                .optional(&p("attention.head_count_kv"), GgufFile::get_u64)?
                .unwrap_or(n_head),
            rope_theta: g
                .optional(&p("rope.freq_base"), GgufFile::get_f32)?
                .unwrap_or(10_000.0),
            rms_eps: g.get_f32(&p("attention.layer_norm_rms_epsilon"))?,
            ctx: g.get_u64(&p("context_length"))?,
        };
        let unsupported = |what: &str, message: String| GgufError::Unsupported {
            what: what.to_string(),
            message,
        };
        if n_head == 0 || hidden % n_head != 0 || h.head_dim() % 2 != 0 {
            return Err(unsupported(
                &p("attention.head_count"),
                format!("{n_head} heads do not split hidden size {hidden} into even head dims"),
            ));
        }
        if h.n_kv == 0 || n_head % h.n_kv != 0 {
            return Err(unsupported(
                &p("attention.head_count_kv"),
                format!("{} does not divide the head count {n_head}", h.n_kv),
            ));
        }
        if let Some(t) = g.optional(&p("rope.scaling.type"), GgufFile::get_str)?
            && t != "none"
        {
            return Err(unsupported(
                &p("rope.scaling.type"),
                format!("RoPE scaling {t:?}; only unscaled (\"default\") RoPE can be imported"),
            ));
        }
        if let Some(d) = g.optional(&p("rope.dimension_count"), GgufFile::get_u64)?
            && d != h.head_dim()
        {
            return Err(unsupported(
                &p("rope.dimension_count"),
                format!(
                    "partial rotary ({d} of head dim {}) is not supported",
                    h.head_dim()
                ),
            ));
        }
        if let Some(n) = g.optional(&p("expert_count"), GgufFile::get_u64)?
            && n > 0
        {
            return Err(unsupported(
                &p("expert_count"),
                format!("{n} experts: MoE llama is not supported"),
            ));
        }
        Ok(h)
    }
}

/// Token ids that go into the configs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecialIds {
    /// `tokenizer.ggml.bos_token_id`.
    pub bos: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`.
    pub eos: Option<u32>,
    /// `tokenizer.ggml.padding_token_id`.
    pub pad: Option<u32>,
}

impl SpecialIds {
    /// Reads the optional special token ids.
    ///
    /// # Errors
    /// [`GgufError::WrongType`] naming a key that is present but not a token id.
    pub fn from_gguf(g: &GgufFile) -> Result<Self, GgufError> {
        Ok(SpecialIds {
            bos: g.optional("tokenizer.ggml.bos_token_id", GgufFile::get_u32)?,
            eos: g.optional("tokenizer.ggml.eos_token_id", GgufFile::get_u32)?,
            pad: g.optional("tokenizer.ggml.padding_token_id", GgufFile::get_u32)?,
        })
    }
}

/// `config.json` for `LlamaForCausalLM`.
pub fn config_json(h: &LlamaHparams, vocab: u64, tied: bool, ids: &SpecialIds) -> Value {
    // f32 → f64 through the shortest decimal that round-trips the f32, so 1e-5 is written as
    // 1e-05 (what transformers writes), not 9.999999747378752e-06.
    let f = |x: f32| x.to_string().parse::<f64>().unwrap_or(f64::from(x));
    let mut o = Map::new();
    o.insert("architectures".into(), json!(["LlamaForCausalLM"]));
    o.insert("model_type".into(), json!("llama"));
    o.insert("hidden_size".into(), json!(h.hidden));
    o.insert("intermediate_size".into(), json!(h.ffn));
    o.insert("num_hidden_layers".into(), json!(h.n_layer));
    o.insert("num_attention_heads".into(), json!(h.n_head));
    o.insert("num_key_value_heads".into(), json!(h.n_kv));
    o.insert("head_dim".into(), json!(h.head_dim()));
    o.insert("hidden_act".into(), json!("silu"));
    o.insert("attention_bias".into(), json!(false));
    o.insert("mlp_bias".into(), json!(false));
    o.insert("rms_norm_eps".into(), json!(f(h.rms_eps)));
    o.insert("rope_theta".into(), json!(f(h.rope_theta)));
    o.insert(
        "rope_parameters".into(),
        json!({"rope_type": "default", "rope_theta": f(h.rope_theta)}),
    );
    o.insert("max_position_embeddings".into(), json!(h.ctx));
    o.insert("vocab_size".into(), json!(vocab));
    o.insert("tie_word_embeddings".into(), json!(tied));
    o.insert("bos_token_id".into(), json!(ids.bos));
    o.insert("eos_token_id".into(), json!(ids.eos));
    if let Some(pad) = ids.pad {
        o.insert("pad_token_id".into(), json!(pad));
    }
    o.insert("dtype".into(), json!("float32"));
    Value::Object(o)
}

/// `generation_config.json`: the special ids only (no sampling defaults are invented).
pub fn generation_config_json(ids: &SpecialIds) -> Value {
    let mut o = Map::new();
    o.insert("_from_model_config".into(), json!(true));
    o.insert("bos_token_id".into(), json!(ids.bos));
    o.insert("eos_token_id".into(), json!(ids.eos));
    if let Some(pad) = ids.pad {
        o.insert("pad_token_id".into(), json!(pad));
    }
    Value::Object(o)
}
