//! QuEST quantizer (Panferov, Chen, Tabesh, Castro, Nikdan, Alistarh, "QuEST: Stable Training of
//! LLMs with 1-Bit Weights and Activations", arXiv 2502.05003, ICML 2025; reference code
//! IST-DASLab/QuEST `src/models/quantization/base_linear.py`).
//!
//! Centred, RMS-clipped INT-b grid per row (last dim), optionally in a block-Hadamard basis
//! (`HalfHadamardTrustQuantizer`: the output stays in the rotated basis):
//! ```text
//! rms = sqrt(mean(x²)); scale = α_b·rms + 1e−8; step = 2·scale/(2^b − 1)
//! x_q = round(clamp(x, −scale, scale)/step + 1/2)·step − step/2
//! T = trust·rms (default trust = α_b/(2^b − 1)); mask = 1[|x_q − x| ≤ T]
//! out = x·mask + stopgrad(x_q − x·mask)
//! ```

use burn::tensor::Tensor;

use crate::NnError;
use crate::quant::hadamard::block_hadamard;

/// `OPTIMAL_GAUSSIAN_SCALES` of QuEST: MSE-optimal clip α_b (in RMS units) for b = 1..=8 bits.
pub const OPTIMAL_GAUSSIAN_SCALES: [f64; 8] = [
    0.7978845587140913,
    1.4935346200015913,
    2.051068354131873,
    2.513930578568423,
    2.9160938834961225,
    3.276597282593217,
    3.6010497188221655,
    3.884938678807525,
];

/// α_b for `bits` in 1..=8.
pub fn alpha(bits: u32) -> Result<f64, NnError> {
    match bits {
        1..=8 => Ok(OPTIMAL_GAUSSIAN_SCALES[bits as usize - 1]),
        _ => Err(NnError::Config(format!(
            "QuEST bits must be 1..=8, got {bits}"
        ))),
    }
}

/// Configuration of the QuEST trust quantizer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuestConfig {
    /// Bits per value (1..=8).
    pub bits: u32,
    /// Trust factor in RMS units; `None` = α_b/(2^b − 1), i.e. half a step.
    pub trust: Option<f64>,
    /// Block-Hadamard block applied before quantization (`None` = no rotation).
    pub hadamard_block: Option<usize>,
}

/// Forward value, gradient mask and the (possibly rotated) input of one QuEST application.
#[derive(Debug, Clone)]
pub struct QuestOutput<const D: usize> {
    /// `x_h·mask + stopgrad(x_q − x_h·mask)`: forward value `x_q`, gradient `mask`.
    pub out: Tensor<D>,
    /// The trust mask (1 where the gradient passes).
    pub mask: Tensor<D>,
}

impl QuestConfig {
    /// Applies the quantizer along the last dimension.
    ///
    /// # Shapes
    /// `x`: `[..., d]` (d divisible by the Hadamard block if any); outputs: same shape.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Result<QuestOutput<D>, NnError> {
        let a = alpha(self.bits)?;
        let x = match self.hadamard_block {
            Some(b) => block_hadamard(x, b)?,
            None => x,
        };
        let levels = ((1u64 << self.bits) - 1) as f64; // n − 1
        let trust = self.trust.unwrap_or(a / levels);
        let dims = x.dims();
        let xd = x.clone().detach();
        let rms = xd
            .clone()
            .mul(xd.clone())
            .mean_dim(D - 1)
            .sqrt()
            .expand(dims); // per row
        let scale = rms.clone().mul_scalar(a as f32).add_scalar(1e-8f32);
        let step = scale.clone().mul_scalar(2.0f32).div_scalar(levels as f32);
        let clipped = xd.clone().max_pair(scale.clone().neg()).min_pair(scale);
        let xq = clipped
            .div(step.clone())
            .add_scalar(0.5f32)
            .round()
            .mul(step.clone())
            .sub(step.div_scalar(2.0f32));
        let t = rms.mul_scalar(trust as f32);
        let mask = xq.clone().sub(xd).abs().lower_equal(t).float();
        let pass = x.mul(mask.clone());
        let out = pass.clone().add(xq.sub(pass.detach()).detach());
        Ok(QuestOutput { out, mask })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn vals(t: Tensor<1>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    }

    fn close(got: &[f32], want: &[f32], tol: f32) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= tol, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn worked_example_b2_trust() {
        let d = Device::flex().autodiff();
        let x = Tensor::<1>::from_floats([0.1f32, -0.2, 0.15, 5.0, -0.1, 0.05, 0.3, -0.25], &d)
            .require_grad();
        let cfg = QuestConfig {
            bits: 2,
            trust: None,
            hadamard_block: None,
        };
        let r = cfg.forward(x.clone()).unwrap();
        let (a, b) = (0.884244f32, 2.652733f32);
        close(
            &vals(r.out.clone().detach()),
            &[a, -a, a, b, -a, a, a, -a],
            1e-5,
        );
        assert_eq!(vals(r.mask), [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
        let g = x.grad(&r.out.sum().backward()).unwrap();
        assert_eq!(vals(g), [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn worked_example_b4_hadamard() {
        let d = Device::flex();
        let x = Tensor::<1>::from_floats([0.1f32, -0.7, 2.5, 0.03, -1.2, 0.45, 3.3, -0.05], &d);
        let xh = vals(block_hadamard(x.clone(), 8).unwrap());
        close(
            &xh,
            &[
                1.566242, 1.75716, -2.520836, -2.358201, -0.201525, 0.555079, 0.307591, 1.177333,
            ],
            1e-5,
        );
        let cfg = QuestConfig {
            bits: 4,
            trust: None,
            hadamard_block: Some(8),
        };
        let r = cfg.forward(x).unwrap();
        close(
            &vals(r.out),
            &[
                1.821525, 1.821525, -2.34196, -2.34196, -0.260218, 0.780653, 0.260218, 1.301089,
            ],
            1e-5,
        );
        assert_eq!(vals(r.mask), [1.0; 8]);
    }

    #[test]
    fn rejects_bad_bits() {
        assert!(alpha(0).is_err());
        assert!(alpha(9).is_err());
    }
}
