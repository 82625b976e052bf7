//! `CompressedLinear`: a linear layer whose weight (and optionally input) pass through a
//! lowbit format on the forward pass, `y = Q_a(H x) · Q_w(W H)ᵀ + b` (QuEST §3, "HalfHadamard":
//! both operands rotated along the reduction dim, the product stays in the rotated basis since
//! H·Hᵀ = I). The latent weight stays f32; gradients flow through the quantizers by the layer's
//! [`Estimator`]: straight-through, clipped STE, the QuEST trust mask (all `pass + (q −
//! pass).detach()`, forward values identical), or LSQ's learned step (its own forward).

use crate::NnError;
use crate::capture;
use crate::quant::estimator::{Estimator, lsq, lsq_range, masked_ste, ste};
use crate::quant::fake::fake_quant;
use crate::quant::hadamard::{block_for, block_hadamard};
use crate::quant::mask::{MaskRule, quantize_with_mask};
use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::module::linear;
use burn::tensor::{Device, Tensor, TensorData};
use lowbit_formats::{Format, GridRegistry, GridText};
use std::path::Path;

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
    /// Gradient estimator through both quantizers.
    #[config(default = "Estimator::Ste")]
    pub estimator: Estimator,
    /// Grid files by content whose grids become format names besides the built-ins (a
    /// checkpoint's own copies); looked up before `grid_files`.
    #[config(default = "Vec::new()")]
    pub grids: Vec<GridText>,
    /// Grid files (paths, relative to the working directory) whose grids become format names:
    /// what checkpoints written before grids were carried by content record.
    #[config(default = "Vec::new()")]
    pub grid_files: Vec<String>,
    /// HF module name (`model.layers.0.self_attn.q_proj`), used by health and capture reports.
    #[config(default = "String::new()")]
    pub name: String,
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
    /// LSQ learned weight step, one per output row, `[d_output, 1]`.
    pub weight_step: Option<Param<Tensor<2>>>,
    /// LSQ learned input step, one per tensor, `[1]`.
    pub input_step: Option<Param<Tensor<1>>>,
    /// Hadamard block (0 = no rotation).
    pub hadamard_block: usize,
    /// Weight format.
    #[module(skip)]
    pub weight_format: Option<Format>,
    /// Input format.
    #[module(skip)]
    pub input_format: Option<Format>,
    /// Gradient estimator.
    #[module(skip)]
    pub estimator: Estimator,
    /// HF module name.
    #[module(skip)]
    pub name: String,
}

fn parse(
    name: &Option<String>,
    d_input: usize,
    reg: &GridRegistry,
) -> Result<Option<Format>, NnError> {
    let Some(n) = name else { return Ok(None) };
    let f = Format::parse_with(n, reg)?;
    if d_input % f.block_size() != 0 {
        return Err(NnError::BlockMismatch {
            cols: d_input,
            block: f.block_size(),
        });
    }
    Ok(Some(f))
}

/// `(bits, symmetric)` of an INT format, the only kind LSQ learns a step for.
fn lsq_int(f: &Format) -> Result<(u32, bool), NnError> {
    match f {
        Format::Int(i) => Ok((i.bits(), i.symmetric())),
        other => Err(NnError::Config(format!(
            "the LSQ estimator learns the step of an integer grid; `{}` is not one (use int2…int8, \
             or the ste / clipped-ste / trust estimators)",
            other.name()
        ))),
    }
}

impl CompressedLinearConfig {
    /// Initialises the layer, checking the formats against `d_input`.
    pub fn init(&self, device: &Device) -> Result<CompressedLinear, NnError> {
        let mut reg = GridRegistry::builtin();
        for g in &self.grids {
            reg = reg.with_text(g.clone())?;
        }
        for f in &self.grid_files {
            reg = reg.with_file(Path::new(f))?;
        }
        let weight_format = parse(&self.weight, self.d_input, &reg)?;
        let input_format = parse(&self.input, self.d_input, &reg)?;
        let hadamard_block = if self.hadamard {
            block_for(self.d_input, 128)?
        } else {
            0
        };
        let init = Initializer::Normal {
            mean: 0.0,
            std: self.init_std,
        };
        let weight: Param<Tensor<2>> = init.init([self.d_output, self.d_input], device);
        let bias = self
            .bias
            .then(|| Initializer::Zeros.init([self.d_output], device));
        let (mut weight_step, mut input_step) = (None, None);
        if self.estimator == Estimator::Lsq {
            // LSQ (Esser et al. 2020, §2.1) initialises s = 2·mean|w|/sqrt(Q_P) per row; inputs
            // are assumed unit-RMS (they follow an RMSNorm, or the step adapts), E|x| = sqrt(2/π).
            if let Some(f) = &weight_format {
                let (bits, sym) = lsq_int(f)?;
                let qp = lsq_range(bits, sym).1 as f64;
                let w = weight.val().abs().mean_dim(1).mul_scalar(2.0 / qp.sqrt());
                weight_step = Some(Param::from_tensor(w.detach()));
            }
            if let Some(f) = &input_format {
                let (bits, sym) = lsq_int(f)?;
                let qp = lsq_range(bits, sym).1 as f64;
                let s0 = (2.0 * (2.0 / std::f64::consts::PI).sqrt() / qp.sqrt()) as f32;
                input_step = Some(Param::from_tensor(Tensor::from_data(
                    TensorData::new(vec![s0], [1]),
                    device,
                )));
            }
        }
        Ok(CompressedLinear {
            weight,
            bias,
            weight_step,
            input_step,
            hadamard_block,
            weight_format,
            input_format,
            estimator: self.estimator,
            name: self.name.clone(),
        })
    }
}

/// Forward `Q(t)` with the gradient of `estimator`.
fn quantize<const D: usize>(
    t: Tensor<D>,
    f: &Option<Format>,
    estimator: Estimator,
    lsq_step: Option<Tensor<D>>,
) -> Result<Tensor<D>, NnError> {
    let Some(f) = f else { return Ok(t) };
    if let Some(s) = lsq_step {
        let (bits, sym) = lsq_int(f)?;
        return lsq(t, s, bits, sym);
    }
    let rule = match estimator {
        Estimator::Ste | Estimator::Lsq => return Ok(ste(t.clone(), fake_quant(t.detach(), f)?)),
        Estimator::ClippedSte { clip } => MaskRule::Clip(clip),
        Estimator::Trust { factor } => MaskRule::Trust(factor),
    };
    let (q, mask) = quantize_with_mask(t.clone(), f, rule)?;
    Ok(masked_ste(t, q, mask))
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
        capture::record(
            &self.name,
            &x,
            &w,
            self.input_format.as_ref(),
            self.weight_format.as_ref(),
        );
        let xs = self
            .input_step
            .as_ref()
            .map(|s| s.val().reshape([1usize; D]));
        let x = quantize(x, &self.input_format, self.estimator, xs)?;
        let ws = self.weight_step.as_ref().map(|s| s.val());
        let w = quantize(w, &self.weight_format, self.estimator, ws)?;
        Ok(linear(
            x,
            w.transpose(),
            self.bias.as_ref().map(|b| b.val()),
        ))
    }

    /// Health of the (rotated) weight under the weight format; `None` in full precision.
    pub fn weight_health(&self) -> Result<Option<crate::quant::health::QuantHealth>, NnError> {
        let Some(f) = &self.weight_format else {
            return Ok(None);
        };
        let mut w = self.weight.val().detach();
        if self.hadamard_block > 0 {
            w = block_hadamard(w, self.hadamard_block)?;
        }
        let [_, cols] = w.dims();
        let v = w
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| NnError::Config(format!("tensor data: {e:?}")))?;
        Ok(Some(crate::quant::health::QuantHealth::measure(
            &v, cols, f,
        )?))
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

    /// d(Σy)/dx of `l` at `x`, and y.
    fn input_grad(l: &CompressedLinear, x: Vec<f32>, device: &Device) -> (Vec<f32>, Vec<f32>) {
        let xt = Tensor::<1>::from_data(TensorData::new(x, [4 * 64]), device)
            .reshape([4, 64])
            .require_grad();
        let y = l.forward(xt.clone()).unwrap();
        let g = y.clone().sum().backward();
        let gx = xt.grad(&g).expect("input grad");
        (data(gx.reshape([4, 64])), data(y.inner()))
    }

    #[test]
    fn trust_and_clipped_estimators_mask_gradients_only() {
        let device = Device::flex().autodiff();
        let mut x = data(input(&Device::flex()));
        // An outlier: MX FLOOR's scale 2^(5−2) puts it at 7.5 → saturated to 6; QuEST's RMS clip
        // (α₄·rms of its row) clips it too.
        x[5] = 60.0;
        let mk = |fmt: &str, est: Estimator| {
            CompressedLinearConfig::new(64, 8)
                .with_weight(Some(fmt.into()))
                .with_input(Some(fmt.into()))
                .with_estimator(est)
                .init(&device)
                .unwrap()
        };
        for (fmt, est) in [
            ("quest-int4", Estimator::Trust { factor: 1.0 }),
            ("mxfp4", Estimator::ClippedSte { clip: 1.0 }),
            ("mxfp4", Estimator::Trust { factor: 1.0 }),
        ] {
            let l = mk(fmt, est);
            let mut ste_l = mk(fmt, Estimator::Ste);
            ste_l.weight = l.weight.clone();
            let f = Format::parse(fmt).unwrap();
            let (gx, y) = input_grad(&l, x.clone(), &device);
            let (gx_ste, y_ste) = input_grad(&ste_l, x.clone(), &device);
            assert_eq!(y, y_ste, "{fmt}: estimators change gradients, not values");
            // Host mask from the rule of quant::mask, on lowbit-formats' cells.
            let c = f.cells(&x, 64).unwrap();
            let mut zeros = 0;
            for i in 0..4 * 64 {
                let keep = match est {
                    Estimator::Trust { factor } => (c.q[i] - x[i]).abs() <= factor * c.tol[i],
                    Estimator::ClippedSte { clip } => {
                        clip * c.lo[i] <= x[i] && x[i] <= clip * c.hi[i]
                    }
                    _ => true,
                };
                let want = if keep { gx_ste[i] } else { 0.0 };
                assert_eq!(gx[i], want, "{fmt} element {i}");
                zeros += usize::from(!keep);
            }
            assert!(zeros > 0, "{fmt}: the mask removed nothing");
        }
    }

    #[test]
    fn lsq_learns_a_step_for_integer_formats_only() {
        let device = Device::flex().autodiff();
        let l = CompressedLinearConfig::new(64, 8)
            .with_weight(Some("int4".into()))
            .with_input(Some("int8".into()))
            .with_estimator(Estimator::Lsq)
            .init(&device)
            .unwrap();
        let s = l.weight_step.as_ref().expect("weight step");
        assert_eq!(s.val().dims(), [8, 1]);
        assert!(l.input_step.is_some());
        let y = l.forward(input(&device)).unwrap();
        let g = y.sum().backward();
        let gs = data(s.grad(&g).expect("step grad").reshape([8, 1]));
        assert!(gs.iter().all(|v| v.is_finite()) && gs.iter().any(|v| *v != 0.0));
        let e = CompressedLinearConfig::new(64, 8)
            .with_weight(Some("nvfp4".into()))
            .with_estimator(Estimator::Lsq)
            .init(&device)
            .unwrap_err();
        assert!(e.to_string().contains("LSQ"), "{e}");
    }
}
