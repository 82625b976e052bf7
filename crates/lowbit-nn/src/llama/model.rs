//! The Llama model: embedding → blocks → RMSNorm → LM head (HF names in the field docs).

use super::attention::{Attention, LayerKv};
use super::config::{LlamaConfig, block_linears};
use super::kv_cache::KvCache;
use super::mlp::Mlp;
use super::rope::Rope;
use crate::NnError;
use crate::fused::cross_entropy_rows;
use burn::module::{Module, Param};
use burn::nn::{Embedding, EmbeddingConfig, Initializer, RmsNorm, RmsNormConfig};
use burn::tensor::{Device, Int, Tensor};

/// One pre-norm decoder block.
#[derive(Module, Debug)]
pub struct Block {
    /// `input_layernorm`.
    pub input_layernorm: RmsNorm,
    /// `self_attn`.
    pub self_attn: Attention,
    /// `post_attention_layernorm`.
    pub post_attention_layernorm: RmsNorm,
    /// `mlp`.
    pub mlp: Mlp,
}

impl Block {
    /// The block on residual-stream states at positions `0..seq`: `h + attn(norm(h))`, then
    /// `h + mlp(norm(h))` — what [`Llama::forward`] runs per block, exposed for layer-by-layer
    /// calibration (post-training compression feeds each block the outputs of the blocks before
    /// it, already compressed).
    ///
    /// # Shapes
    /// `h`: `[batch, seq, d_model]` → same.
    pub fn forward(&self, h: Tensor<3>, rope: &Rope) -> Result<Tensor<3>, NnError> {
        let a = self
            .self_attn
            .forward(self.input_layernorm.forward(h.clone()), rope)?;
        let h = h + a;
        let m = self
            .mlp
            .forward(self.post_attention_layernorm.forward(h.clone()))?;
        Ok(h + m)
    }
}

/// A Llama-style language model.
#[derive(Module, Debug)]
pub struct Llama {
    /// `model.embed_tokens`.
    pub embed_tokens: Embedding,
    /// `model.layers.{i}`.
    pub layers: Vec<Block>,
    /// `model.norm`.
    pub norm: RmsNorm,
    /// `lm_head.weight` `[vocab, d_model]`; `None` when tied to the embedding.
    pub lm_head: Option<Param<Tensor<2>>>,
    #[module(skip)]
    rope: Rope,
    /// Longest sequence (positions the RoPE table covers).
    #[module(skip)]
    max_seq_len: usize,
}

impl LlamaConfig {
    /// Builds the model; compressed layers are checked against their formats.
    pub fn init(&self, device: &Device) -> Result<Llama, NnError> {
        if self.n_heads == 0
            || self.d_model % self.n_heads != 0
            || self.n_kv_heads == 0
            || self.n_heads % self.n_kv_heads != 0
        {
            return Err(NnError::Config(format!(
                "d_model {} / n_heads {} / n_kv_heads {} are inconsistent: heads must divide d_model and kv heads must divide heads",
                self.d_model, self.n_heads, self.n_kv_heads
            )));
        }
        let hd = self.head_dim();
        let std = self.init_std;
        let out_std = std / (2.0 * self.n_layers as f64).sqrt();
        // One registry, formats parsed once: no layer below parses a format name.
        let p = self.compression.resolve(&self.compression.registry()?)?;
        let norm = || {
            RmsNormConfig::new(self.d_model)
                .with_epsilon(self.rms_norm_eps)
                .init(device)
        };
        let mut layers = Vec::with_capacity(self.n_layers);
        for i in 0..self.n_layers {
            // In BLOCK_LINEARS order (q, k, v, o, gate, up, down), which is also the order their
            // weights draw from the device's generator. The projections into the residual
            // stream (o, down) start at σ/√(2L).
            let [q, k, v, o, gate, up, down] =
                block_linears(self.d_model, self.n_heads, self.n_kv_heads, self.d_ff).map(
                    |(name, din, dout)| -> Result<_, NnError> {
                        let s = match name {
                            "self_attn.o_proj" | "mlp.down_proj" => out_std,
                            _ => std,
                        };
                        let (c, formats) =
                            p.linear(&format!("model.layers.{i}.{name}"), din, dout, s);
                        c.init_with(formats, device)
                    },
                );
            layers.push(Block {
                input_layernorm: norm(),
                self_attn: Attention {
                    q_proj: q?,
                    k_proj: k?,
                    v_proj: v?,
                    o_proj: o?,
                    n_heads: self.n_heads,
                    n_kv_heads: self.n_kv_heads,
                },
                post_attention_layernorm: norm(),
                mlp: Mlp {
                    gate_proj: gate?,
                    up_proj: up?,
                    down_proj: down?,
                },
            });
        }
        let normal = Initializer::Normal { mean: 0.0, std };
        Ok(Llama {
            embed_tokens: EmbeddingConfig::new(self.vocab_size, self.d_model)
                .with_initializer(normal.clone())
                .init(device),
            layers,
            norm: norm(),
            lm_head: (!self.tie_embeddings)
                .then(|| normal.init([self.vocab_size, self.d_model], device)),
            rope: Rope::new(hd, self.max_seq_len, self.rope_theta, device),
            max_seq_len: self.max_seq_len,
        })
    }
}

impl Llama {
    /// Next-token logits.
    ///
    /// # Shapes
    /// `tokens`: `[batch, seq]` → `[batch, seq, vocab]`.
    ///
    /// # Errors
    /// [`NnError::Input`] when `seq` exceeds `max_seq_len`.
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Result<Tensor<3>, NnError> {
        Ok(self.forward_hidden(tokens)?.0)
    }

    /// Next-token logits and the final hidden states they come from (after the final RMSNorm,
    /// before the LM head), from one pass: what AutoJudge's features and hidden-state
    /// distillation read. `logits == self.logits(hidden)` bit for bit.
    ///
    /// # Shapes
    /// `tokens`: `[batch, seq]` → (logits `[batch, seq, vocab]`, hidden `[batch, seq, d_model]`).
    ///
    /// # Errors
    /// [`NnError::Input`] when `seq` exceeds `max_seq_len`.
    pub fn forward_hidden(
        &self,
        tokens: Tensor<2, Int>,
    ) -> Result<(Tensor<3>, Tensor<3>), NnError> {
        self.check_len(tokens.dims()[1], 0)?;
        self.forward_with(tokens, None)
    }

    /// Next-token logits of `tokens` at positions `cache.len()..cache.len() + seq`, attending to
    /// the cached keys and values of earlier positions; the new ones are appended to `cache`.
    /// Prefill with the whole prompt, then feed one token per step: the logits equal those of
    /// [`Llama::forward`] on the whole sequence (up to float reassociation).
    ///
    /// # Shapes
    /// `tokens`: `[batch, seq]` → `[batch, seq, vocab]`.
    ///
    /// # Errors
    /// [`NnError::Input`] when the cache holds another batch size or another model's layers, or
    /// when `cache.len() + seq` exceeds `max_seq_len`.
    pub fn forward_cached(
        &self,
        tokens: Tensor<2, Int>,
        cache: &mut KvCache,
    ) -> Result<Tensor<3>, NnError> {
        Ok(self.forward_cached_hidden(tokens, cache)?.0)
    }

    /// [`Llama::forward_cached`] that also returns the final hidden states of the new positions
    /// (as [`Llama::forward_hidden`]).
    ///
    /// # Shapes
    /// `tokens`: `[batch, seq]` → (logits `[batch, seq, vocab]`, hidden `[batch, seq, d_model]`).
    ///
    /// # Errors
    /// As [`Llama::forward_cached`].
    pub fn forward_cached_hidden(
        &self,
        tokens: Tensor<2, Int>,
        cache: &mut KvCache,
    ) -> Result<(Tensor<3>, Tensor<3>), NnError> {
        let [b, t] = tokens.dims();
        self.check_len(t, cache.len)?;
        if cache.layers.is_empty() {
            cache.layers = vec![None; self.layers.len()];
            cache.batch = b;
        } else if cache.layers.len() != self.layers.len() || cache.batch != b {
            return Err(NnError::Input(format!(
                "KV cache holds {} layers for batch {}, the call has {} layers and batch {b}; use a fresh cache",
                cache.layers.len(),
                cache.batch,
                self.layers.len()
            )));
        }
        let out = self.forward_with(tokens, Some(&mut cache.layers))?;
        cache.len += t;
        Ok(out)
    }

    /// The LM head: logits of final hidden states (tied to the embedding or not).
    ///
    /// # Shapes
    /// `hidden`: `[batch, seq, d_model]` → `[batch, seq, vocab]`.
    pub fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        let w = match &self.lm_head {
            Some(w) => w.val(),
            None => self.embed_tokens.weight.val(),
        };
        let [b, t, d] = hidden.dims();
        let v = w.dims()[0];
        hidden
            .reshape([b * t, d])
            .matmul(w.transpose())
            .reshape([b, t, v])
    }

    /// Longest sequence the model takes (the RoPE table size).
    pub fn max_seq_len(&self) -> usize {
        self.max_seq_len
    }

    fn check_len(&self, t: usize, start: usize) -> Result<(), NnError> {
        if t == 0 || start + t > self.max_seq_len {
            return Err(NnError::Input(format!(
                "{t} tokens at position {start}: need 1 to {} positions in all (max_seq_len)",
                self.max_seq_len
            )));
        }
        Ok(())
    }

    /// The token embeddings, the input of block 0.
    ///
    /// # Shapes
    /// `tokens`: `[batch, seq]` → `[batch, seq, d_model]`.
    ///
    /// # Errors
    /// [`NnError::Input`] when `seq` exceeds `max_seq_len`.
    pub fn embed(&self, tokens: Tensor<2, Int>) -> Result<Tensor<3>, NnError> {
        self.check_len(tokens.dims()[1], 0)?;
        Ok(self.embed_tokens.forward(tokens))
    }

    /// The rotary table the blocks use (what [`Block::forward`] takes).
    pub fn rope(&self) -> &Rope {
        &self.rope
    }

    /// (logits `[b, t, vocab]`, final hidden states `[b, t, d_model]`).
    fn forward_with(
        &self,
        tokens: Tensor<2, Int>,
        mut cache: Option<&mut Vec<Option<LayerKv>>>,
    ) -> Result<(Tensor<3>, Tensor<3>), NnError> {
        let mut h = self.embed_tokens.forward(tokens); // [b, t, d]
        for (i, blk) in self.layers.iter().enumerate() {
            let slot = cache.as_deref_mut().map(|c| &mut c[i]);
            let a = blk.self_attn.forward_with(
                blk.input_layernorm.forward(h.clone()),
                &self.rope,
                slot,
            )?;
            h = h + a;
            let m = blk
                .mlp
                .forward(blk.post_attention_layernorm.forward(h.clone()))?;
            h = h + m;
        }
        let h = self.norm.forward(h); // [b, t, d]
        Ok((self.logits(h.clone()), h))
    }
}

/// Mean next-token cross-entropy (nats).
///
/// # Shapes
/// `logits`: `[batch, seq, vocab]`, `targets`: `[batch, seq]` → scalar `[1]`.
pub fn cross_entropy(logits: Tensor<3>, targets: Tensor<2, Int>) -> Tensor<1> {
    let [b, t, v] = logits.dims();
    cross_entropy_rows(logits.reshape([b * t, v]), targets.reshape([b * t])).mean()
}

#[cfg(test)]
mod tests;
