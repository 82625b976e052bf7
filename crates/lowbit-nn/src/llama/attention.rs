//! Causal grouped-query self-attention (Ainslie et al. 2023) with RoPE, optionally continuing
//! from cached keys and values of earlier positions (incremental decoding).

use super::rope::Rope;
use crate::fused::causal_softmax;
use crate::{CompressedLinear, NnError};
use burn::module::Module;
use burn::tensor::Tensor;

/// Keys and values of one layer's past positions, after RoPE and before the GQA expansion.
#[derive(Debug, Clone)]
pub struct LayerKv {
    /// Keys `[batch, n_kv_heads, past, head_dim]`.
    pub k: Tensor<4>,
    /// Values `[batch, n_kv_heads, past, head_dim]`.
    pub v: Tensor<4>,
}

/// Self-attention of one block.
#[derive(Module, Debug)]
pub struct Attention {
    /// `q_proj`: d_model → n_heads·head_dim.
    pub q_proj: CompressedLinear,
    /// `k_proj`: d_model → n_kv_heads·head_dim.
    pub k_proj: CompressedLinear,
    /// `v_proj`: d_model → n_kv_heads·head_dim.
    pub v_proj: CompressedLinear,
    /// `o_proj`: n_heads·head_dim → d_model.
    pub o_proj: CompressedLinear,
    /// Attention heads.
    pub n_heads: usize,
    /// Key/value heads.
    pub n_kv_heads: usize,
}

impl Attention {
    /// # Shapes
    /// `x`: `[batch, seq, d_model]` → same.
    pub fn forward(&self, x: Tensor<3>, rope: &Rope) -> Result<Tensor<3>, NnError> {
        self.forward_with(x, rope, None)
    }

    /// Attention of `x` at positions `past..past + seq`, where `past` is the length of the keys
    /// in `cache` (0 when it is empty or `None`); the new keys and values are appended to it.
    ///
    /// # Shapes
    /// `x`: `[batch, seq, d_model]` → same; cached tensors `[batch, n_kv_heads, past, head_dim]`.
    pub fn forward_with(
        &self,
        x: Tensor<3>,
        rope: &Rope,
        cache: Option<&mut Option<LayerKv>>,
    ) -> Result<Tensor<3>, NnError> {
        let [b, t, _] = x.dims();
        let (h, kvh) = (self.n_heads, self.n_kv_heads);
        let start = match &cache {
            Some(Some(kv)) => kv.k.dims()[2],
            _ => 0,
        };
        let q = self.q_proj.forward(x.clone())?; // [b, t, h·hd]
        let hd = q.dims()[2] / h;
        let heads = |z: Tensor<3>, n: usize| z.reshape([b, t, n, hd]).swap_dims(1, 2); // [b, n, t, hd]
        let q = rope.apply(heads(q, h), start);
        let mut k = rope.apply(heads(self.k_proj.forward(x.clone())?, kvh), start);
        let mut v = heads(self.v_proj.forward(x)?, kvh);
        if let Some(slot) = cache {
            if let Some(past) = slot.take() {
                k = Tensor::cat(vec![past.k, k], 2); // [b, kvh, start + t, hd]
                v = Tensor::cat(vec![past.v, v], 2);
            }
            *slot = Some(LayerKv {
                k: k.clone(),
                v: v.clone(),
            });
        }
        let s = start + t; // key positions
        // GQA: each group of h/kvh query heads shares one key/value head.
        let rep = h / kvh;
        let expand = |z: Tensor<4>| -> Tensor<4> {
            if rep == 1 {
                z
            } else {
                z.unsqueeze_dim::<5>(2)
                    .expand([b, kvh, rep, s, hd])
                    .reshape([b, h, s, hd])
            }
        };
        let (k, v) = (expand(k), expand(v));
        // softmax(q·kᵀ/√hd) with the causal mask: query i sits at position start + i and sees
        // keys 0..=start + i (fused on flex, crate::fused).
        let p = causal_softmax(q.matmul(k.swap_dims(2, 3)), 1.0 / (hd as f32).sqrt()); // [b, h, t, s]
        let out = p.matmul(v).swap_dims(1, 2).reshape([b, t, h * hd]);
        self.o_proj.forward(out)
    }
}
