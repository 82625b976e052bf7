//! Rotary position embedding, HuggingFace convention: `q' = q·cos + rotate_half(q)·sin` with
//! `rotate_half(x) = [−x₂, x₁]` over the two halves of the head dimension (not interleaved).

use burn::tensor::{Device, Tensor, TensorData};

/// Precomputed cos/sin tables `[max_seq_len, head_dim]`.
#[derive(Debug, Clone)]
pub struct Rope {
    cos: Tensor<2>,
    sin: Tensor<2>,
}

impl Rope {
    /// Tables for positions 0..max_len; inv_freq_i = θ^(−2i/d), computed in f64.
    pub fn new(head_dim: usize, max_len: usize, theta: f64, device: &Device) -> Self {
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(max_len * head_dim);
        let mut sin = Vec::with_capacity(max_len * head_dim);
        for t in 0..max_len {
            for j in 0..head_dim {
                let i = j % half;
                let f = t as f64 * theta.powf(-2.0 * i as f64 / head_dim as f64);
                cos.push(f.cos() as f32);
                sin.push(f.sin() as f32);
            }
        }
        let mk = |v: Vec<f32>| {
            Tensor::<1>::from_data(TensorData::new(v, [max_len * head_dim]), device)
                .reshape([max_len, head_dim])
        };
        Self {
            cos: mk(cos),
            sin: mk(sin),
        }
    }

    /// Rotates `x` `[batch, heads, seq, head_dim]` for positions `start..start + seq`.
    pub fn apply(&self, x: Tensor<4>, start: usize) -> Tensor<4> {
        let [_, _, t, d] = x.dims();
        let cos = self
            .cos
            .clone()
            .slice([start..start + t, 0..d])
            .unsqueeze::<4>();
        let sin = self
            .sin
            .clone()
            .slice([start..start + t, 0..d])
            .unsqueeze::<4>();
        let half = d / 2;
        let x1 = x
            .clone()
            .slice([0..x.dims()[0], 0..x.dims()[1], 0..t, 0..half]);
        let x2 = x
            .clone()
            .slice([0..x.dims()[0], 0..x.dims()[1], 0..t, half..d]);
        let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
        x * cos + rotated * sin
    }
}
