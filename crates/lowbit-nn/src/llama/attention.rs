//! Causal grouped-query self-attention (Ainslie et al. 2023) with RoPE.

use super::rope::Rope;
use crate::{CompressedLinear, NnError};
use burn::module::Module;
use burn::tensor::activation::softmax;
use burn::tensor::{Tensor, TensorData};

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
        let [b, t, _] = x.dims();
        let (h, kvh) = (self.n_heads, self.n_kv_heads);
        let q = self.q_proj.forward(x.clone())?; // [b, t, h·hd]
        let hd = q.dims()[2] / h;
        let heads = |z: Tensor<3>, n: usize| z.reshape([b, t, n, hd]).swap_dims(1, 2); // [b, n, t, hd]
        let q = rope.apply(heads(q, h), 0);
        let k = rope.apply(heads(self.k_proj.forward(x.clone())?, kvh), 0);
        let v = heads(self.v_proj.forward(x)?, kvh);
        // GQA: each group of h/kvh query heads shares one key/value head.
        let rep = h / kvh;
        let expand = |z: Tensor<4>| -> Tensor<4> {
            if rep == 1 {
                z
            } else {
                z.unsqueeze_dim::<5>(2)
                    .expand([b, kvh, rep, t, hd])
                    .reshape([b, h, t, hd])
            }
        };
        let (k, v) = (expand(k), expand(v));
        let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((hd as f32).sqrt()); // [b, h, t, t]
        let mask: Vec<f32> = (0..t * t)
            .map(|i| {
                if i % t > i / t {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        let mask = Tensor::<1>::from_data(TensorData::new(mask, [t * t]), &scores.device())
            .reshape([1, 1, t, t]);
        let p = softmax(scores + mask, 3);
        let out = p.matmul(v).swap_dims(1, 2).reshape([b, t, h * hd]);
        self.o_proj.forward(out)
    }
}
