//! `CompressedLinear`: a linear layer whose weight (and optionally input) pass through a
//! lowbit format on the forward pass, `y = Q_a(H x) · Q_w(W H)ᵀ + b` (QuEST §3, "HalfHadamard":
//! both operands rotated along the reduction dim, the product stays in the rotated basis since
//! H·Hᵀ = I). The latent weight stays f32; gradients flow through the quantizers with the
//! straight-through estimator (`pass + (q − pass).detach()`).

use crate::NnError;
use crate::quant::estimator::ste;
use crate::quant::fake::fake_quant;
use crate::quant::hadamard::{block_for, block_hadamard};
use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::module::linear;
use burn::tensor::{Device, Tensor};
use lowbit_formats::{Format, GridRegistry};

/// Configuration of a [`CompressedLinear`].
#[derive(Config, Debug)]
pub struct CompressedLinearConfig {
    /// Input features (the reduction dimension; a multiple of the formats' block sizes).
    pub d_input: usize,
    /// Output features.
    pub d_output: usize,
    /// Add a bias (kept in full precision).
    #[config(default = false)]
    pub bias: bool,
    /// Weight format name (`lowbit formats list`); `None` keeps the weight in full precision.
    #[config(default = "None")]
    pub weight: Option<String>,
    /// Input-activation format name; `None` keeps activations in full precision.
    #[config(default = "None")]
    pub input: Option<String>,
    /// Rotate W and x by a block Walsh–Hadamard transform (block 128 or the largest power of two
    /// dividing `d_input`) before quantizing.
    #[config(default = false)]
    pub hadamard: bool,
    /// Standard deviation of the N(0, σ) weight initialisation.
    #[config(default = 0.02)]
    pub init_std: f64,
}

/// A linear layer over compressed representations.
#[derive(Module, Debug)]
pub struct CompressedLinear {
    /// Latent weight, `[d_output, d_input]` (HuggingFace layout).
    pub weight: Param<Tensor<2>>,
    /// Optional bias, `[d_output]`.
    pub bias: Option<Param<Tensor<1>>>,
    /// Hadamard block (0 = no rotation).
    pub hadamard_block: usize,
    /// Weight format.
    #[module(skip)]
    pub weight_format: Option<Format>,
    /// Input format.
    #[module(skip)]
    pub input_format: Option<Format>,
}

fn parse(name: &Option<String>, d_input: usize) -> Result<Option<Format>, NnError> {
    let Some(n) = name else { return Ok(None) };
    let f = Format::parse_with(n, &GridRegistry::builtin())?;
    if d_input % f.block_size() != 0 {
        return Err(NnError::BlockMismatch {
            cols: d_input,
            block: f.block_size(),
        });
    }
    Ok(Some(f))
}

impl CompressedLinearConfig {
    /// Initialises the layer, checking the formats against `d_input`.
    pub fn init(&self, device: &Device) -> Result<CompressedLinear, NnError> {
        let weight_format = parse(&self.weight, self.d_input)?;
        let input_format = parse(&self.input, self.d_input)?;
        let hadamard_block = if self.hadamard {
            block_for(self.d_input, 128)?
        } else {
            0
        };
        let init = Initializer::Normal {
            mean: 0.0,
            std: self.init_std,
        };
        let weight = init.init([self.d_output, self.d_input], device);
        let bias = self
            .bias
            .then(|| Initializer::Zeros.init([self.d_output], device));
        Ok(CompressedLinear {
            weight,
            bias,
            hadamard_block,
            weight_format,
            input_format,
        })
    }
}

/// Quantizes with the straight-through estimator: forward Q(t), gradient 1.
fn quantize_ste<const D: usize>(t: Tensor<D>, f: &Option<Format>) -> Result<Tensor<D>, NnError> {
    match f {
        None => Ok(t),
        Some(f) => {
            let q = fake_quant(t.clone().detach(), f)?;
            Ok(ste(t, q))
        }
    }
}

impl CompressedLinear {
    /// `y = Q_a(H x) · Q_w(W H)ᵀ + b`.
    ///
    /// # Shapes
    /// `x`: `[..., d_input]` → `[..., d_output]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Result<Tensor<D>, NnError> {
        let mut w = self.weight.val();
        let mut x = x;
        if self.hadamard_block > 0 {
            w = block_hadamard(w, self.hadamard_block)?;
            x = block_hadamard(x, self.hadamard_block)?;
        }
        let x = quantize_ste(x, &self.input_format)?;
        let w = quantize_ste(w, &self.weight_format)?;
        Ok(linear(
            x,
            w.transpose(),
            self.bias.as_ref().map(|b| b.val()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn data(t: Tensor<2>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32 data")
    }

    fn input(device: &Device) -> Tensor<2> {
        let v: Vec<f32> = (0..4 * 64)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0)
            .collect();
        Tensor::<1>::from_data(TensorData::new(v, [4 * 64]), device).reshape([4, 64])
    }

    #[test]
    fn without_formats_it_is_a_dense_linear() {
        let device = Device::flex();
        let l = CompressedLinearConfig::new(64, 8)
            .with_bias(true)
            .init(&device)
            .unwrap();
        let x = input(&device);
        let y = l.forward(x.clone()).unwrap();
        let want = x
            .matmul(l.weight.val().transpose())
            .add(l.bias.as_ref().unwrap().val().unsqueeze());
        assert_eq!(data(y), data(want));
    }

    #[test]
    fn forward_uses_quantized_operands_and_ste_gradients() {
        let device = Device::flex().autodiff();
        let l = CompressedLinearConfig::new(64, 8)
            .with_weight(Some("nvfp4".into()))
            .with_input(Some("mxfp4".into()))
            .init(&device)
            .unwrap();
        let x = input(&device);
        // Reference: quantize on the host with lowbit-formats, then a dense product.
        let mut xq = data(x.clone());
        Format::parse("mxfp4")
            .unwrap()
            .fake_quant(&mut xq, 64)
            .unwrap();
        let mut wq = data(l.weight.val());
        Format::parse("nvfp4")
            .unwrap()
            .fake_quant(&mut wq, 64)
            .unwrap();
        let xq_t =
            Tensor::<1>::from_data(TensorData::new(xq.clone(), [256]), &device).reshape([4, 64]);
        let wq_t = Tensor::<1>::from_data(TensorData::new(wq, [512]), &device).reshape([8, 64]);
        let y = l.forward(x).unwrap();
        assert_eq!(data(y.clone()), data(xq_t.clone().matmul(wq_t.transpose())));
        // STE: d(sum y)/dW = onesᵀ · x_q (each output row gets the column sums of x_q).
        let grads = y.sum().backward();
        let gw = data(l.weight.grad(&grads).expect("weight grad").reshape([8, 64]));
        let col: Vec<f32> = (0..64)
            .map(|j| (0..4).map(|i| xq[i * 64 + j]).sum())
            .collect();
        for r in 0..8 {
            for j in 0..64 {
                assert!((gw[r * 64 + j] - col[j]).abs() <= 1e-5 * col[j].abs().max(1.0));
            }
        }
    }

    #[test]
    fn half_hadamard_preserves_the_dense_product() {
        // H·Hᵀ = I: rotating both operands leaves x·Wᵀ unchanged up to rounding.
        let device = Device::flex();
        let l = CompressedLinearConfig::new(64, 8)
            .with_hadamard(true)
            .init(&device)
            .unwrap();
        assert_eq!(l.hadamard_block, 64);
        let x = input(&device);
        let y = data(l.forward(x.clone()).unwrap());
        let want = data(x.matmul(l.weight.val().transpose()));
        for (a, b) in y.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "{a} vs {b}");
        }
    }

    #[test]
    fn block_mismatch_is_an_error() {
        let device = Device::flex();
        let e = CompressedLinearConfig::new(40, 8)
            .with_weight(Some("nvfp4".into()))
            .init(&device)
            .unwrap_err();
        assert!(matches!(
            e,
            NnError::BlockMismatch {
                cols: 40,
                block: 16
            }
        ));
    }
}
