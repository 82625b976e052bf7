//! The Llama model: embedding → blocks → RMSNorm → LM head (HF names in the field docs).

use super::attention::{Attention, LayerKv};
use super::config::LlamaConfig;
use super::generate::KvCache;
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
            let a = format!("model.layers.{i}.self_attn");
            let m = format!("model.layers.{i}.mlp");
            let lin = |name: String, din: usize, dout: usize, s: f64| -> Result<_, NnError> {
                let (c, formats) = p.linear(&name, din, dout, s);
                c.init_with(formats, device)
            };
            layers.push(Block {
                input_layernorm: norm(),
                self_attn: Attention {
                    q_proj: lin(format!("{a}.q_proj"), self.d_model, self.n_heads * hd, std)?,
                    k_proj: lin(
                        format!("{a}.k_proj"),
                        self.d_model,
                        self.n_kv_heads * hd,
                        std,
                    )?,
                    v_proj: lin(
                        format!("{a}.v_proj"),
                        self.d_model,
                        self.n_kv_heads * hd,
                        std,
                    )?,
                    o_proj: lin(
                        format!("{a}.o_proj"),
                        self.n_heads * hd,
                        self.d_model,
                        out_std,
                    )?,
                    n_heads: self.n_heads,
                    n_kv_heads: self.n_kv_heads,
                },
                post_attention_layernorm: norm(),
                mlp: Mlp {
                    gate_proj: lin(format!("{m}.gate_proj"), self.d_model, self.d_ff, std)?,
                    up_proj: lin(format!("{m}.up_proj"), self.d_model, self.d_ff, std)?,
                    down_proj: lin(format!("{m}.down_proj"), self.d_ff, self.d_model, out_std)?,
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
        let logits = self.forward_with(tokens, Some(&mut cache.layers))?;
        cache.len += t;
        Ok(logits)
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

    fn forward_with(
        &self,
        tokens: Tensor<2, Int>,
        mut cache: Option<&mut Vec<Option<LayerKv>>>,
    ) -> Result<Tensor<3>, NnError> {
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
        let h = self.norm.forward(h);
        let w = match &self.lm_head {
            Some(w) => w.val(),
            None => self.embed_tokens.weight.val(),
        };
        let [b, t, d] = h.dims();
        let v = w.dims()[0];
        Ok(h.reshape([b * t, d])
            .matmul(w.transpose())
            .reshape([b, t, v]))
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
mod tests {
    use super::*;
    use crate::llama::CompressionPolicy;
    use burn::tensor::TensorData;

    fn tokens(v: Vec<i64>, b: usize, t: usize, device: &Device) -> Tensor<2, Int> {
        Tensor::<1, Int>::from_data(TensorData::new(v, [b * t]), device).reshape([b, t])
    }

    fn tiny(policy: CompressionPolicy) -> LlamaConfig {
        LlamaConfig::new(97, 64, 2, 4, 2, 128)
            .with_max_seq_len(32)
            .with_compression(policy)
    }

    #[test]
    fn shapes_initial_loss_and_causality() {
        let device = Device::flex();
        let m = tiny(CompressionPolicy::new()).init(&device).unwrap();
        let seq: Vec<i64> = (0..16).map(|i| (i * 7 % 97) as i64).collect();
        let logits = m.forward(tokens(seq.clone(), 1, 16, &device)).unwrap();
        assert_eq!(logits.dims(), [1, 16, 97]);
        // Small init: the loss starts near ln(vocab).
        let loss = cross_entropy(logits.clone(), tokens(seq.clone(), 1, 16, &device));
        let l = loss
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()[0];
        assert!((l - (97f32).ln()).abs() < 0.1, "initial loss {l}");
        // Changing the last token must not change earlier positions' logits.
        let mut seq2 = seq.clone();
        seq2[15] = 3;
        let l2 = m.forward(tokens(seq2, 1, 16, &device)).unwrap();
        let a = logits
            .slice([0..1, 0..15, 0..97])
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        let b = l2
            .slice([0..1, 0..15, 0..97])
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn compressed_model_trains_with_sgd() {
        let device = Device::flex().autodiff();
        let policy = CompressionPolicy::new()
            .with_weight(Some("nvfp4".into()))
            .with_input(Some("nvfp4".into()));
        let mut m = tiny(policy).init(&device).unwrap();
        assert!(m.layers[0].mlp.down_proj.weight_format().is_some());
        assert!(m.lm_head.is_some());
        // Memorise one short sequence with plain SGD: the loss must fall.
        let seq: Vec<i64> = (0..17).map(|i| (i * 5 % 97) as i64).collect();
        let x = tokens(seq[..16].to_vec(), 1, 16, &device);
        let y = tokens(seq[1..].to_vec(), 1, 16, &device);
        let mut losses = Vec::new();
        use burn::optim::{GradientsParams, SgdConfig};
        let mut opt = SgdConfig::new().init();
        for _ in 0..30 {
            let loss = cross_entropy(m.forward(x.clone()).unwrap(), y.clone());
            losses.push(
                loss.clone()
                    .into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .unwrap()[0],
            );
            let grads = GradientsParams::from_grads(loss.backward(), &m);
            m = opt.step(0.5, m, grads);
        }
        // The init is random (Burn's global generator), so judge the best late loss, not one step.
        let late = losses[20..].iter().cloned().fold(f32::INFINITY, f32::min);
        assert!(late < losses[0] - 0.5, "{losses:?}");
    }
}
