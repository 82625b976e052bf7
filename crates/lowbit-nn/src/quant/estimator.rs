//! Gradient estimators for quantization-aware training, each written as
//! `out = q.detach() + (pass − pass.detach())`: the forward value is exactly `q`, the gradient is
//! that of `pass` (which carries the mask), so no custom backward op is needed.
//!
//! * STE — Bengio et al., "Estimating or Propagating Gradients Through Stochastic Neurons", 2013.
//! * Clipped STE — gradient 1 where x lies inside `clip ·` the block's representable range
//!   (QuEST's `ClipQuantizer`, PACT-style clipping).
//! * Trust mask — QuEST (Panferov et al., "QuEST: Stable Training of LLMs with 1-Bit Weights and
//!   Activations", 2025): gradient 1 where `|q − x| ≤ T`.
//!
//! The masks of the last two come from the quantizer's actual scale and grid:
//! [`crate::quant::mask`] states the rule.
//! * LSQ — Esser et al., "Learned Step Size Quantization", ICLR 2020: learned step `s` whose
//!   gradient is scaled by `g = 1 / sqrt(N · Q_P)`.

use burn::tensor::Tensor;

use crate::NnError;

/// Which gradient estimator a quantized layer uses.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub enum Estimator {
    /// Straight-through: gradient 1 everywhere.
    #[default]
    Ste,
    /// Straight-through inside `clip · [lo, hi]`, zero outside, where `lo`, `hi` are the block's
    /// lowest and highest level under its actual scale ([`crate::quant::mask`]).
    ClippedSte {
        /// Multiple of the block's representable range; 1 = exactly the range.
        clip: f32,
    },
    /// QuEST trust mask: gradient 1 where `|q − x| ≤ factor · tol`, `tol` = QuEST's
    /// `trust · rms` on QuEST grids and half the local level gap on other grids
    /// ([`crate::quant::mask`]).
    Trust {
        /// Multiple of the default trust; 1 is the QuEST default (half a step).
        factor: f32,
    },
    /// Learned step size (see [`lsq`]).
    Lsq,
}

/// `x + (q − x).detach()`: forward `q`, gradient 1.
pub fn ste<const D: usize>(x: Tensor<D>, q: Tensor<D>) -> Tensor<D> {
    masked(x, q, None)
}

/// Masked straight-through: forward `q`, gradient `mask` (1 = passes), e.g. the mask of
/// [`crate::quant::mask::quantize_with_mask`].
///
/// # Shapes
/// `x`, `q`, `mask`: the same shape.
pub fn masked_ste<const D: usize>(x: Tensor<D>, q: Tensor<D>, mask: Tensor<D>) -> Tensor<D> {
    masked(x, q, Some(mask.detach()))
}

/// `pass = x ⊙ mask` (mask detached), `out = q.detach() + (pass − pass.detach())`: the value is
/// exactly `q` (`pass − pass` is an exact 0 for finite values), the gradient that of `pass`.
/// QuEST's `pass + (q − pass).detach()` has the same gradient but its value is `q` only up to
/// f32 rounding (e.g. x = 3e7, q = 0.1 gives 0), which would make a masked and an unmasked
/// estimator disagree in the forward pass.
fn masked<const D: usize>(x: Tensor<D>, q: Tensor<D>, mask: Option<Tensor<D>>) -> Tensor<D> {
    let pass = match mask {
        Some(m) => x.mul(m),
        None => x,
    };
    let zero_with_grad = pass.clone().sub(pass.detach());
    q.detach().add(zero_with_grad)
}

/// Multiplies the gradient of `s` by `g` while leaving its value unchanged (LSQ `grad_scale`).
pub fn grad_scale<const D: usize>(s: Tensor<D>, g: f32) -> Tensor<D> {
    let sg = s.clone().mul_scalar(g);
    s.sub(sg.clone()).detach().add(sg)
}

/// LSQ fake quantizer: `x̂ = round(clamp(x / s, −Q_N, Q_P)) · s` with a straight-through round and
/// the step's gradient scaled by `g = 1 / sqrt(N · Q_P)`, N = number of elements of `x`.
///
/// Gradients: ∂x̂/∂x = 1 inside the clamp range, 0 outside; ∂x̂/∂s = g · (round(v) − v) inside and
/// g · (−Q_N or Q_P) outside, with v = x / s.
///
/// # Shapes
/// `x`: `[..]`; `s`: broadcastable to `x` (e.g. `[1, 1]` per tensor or `[rows, 1]` per row).
///
/// # Errors
/// [`NnError::Estimator`] if `bits` is not in 2..=8.
pub fn lsq<const D: usize>(
    x: Tensor<D>,
    s: Tensor<D>,
    bits: u32,
    symmetric: bool,
) -> Result<Tensor<D>, NnError> {
    if !(2..=8).contains(&bits) {
        return Err(NnError::Estimator(format!(
            "LSQ bits must be 2..=8, got {bits}"
        )));
    }
    let (qn, qp) = lsq_range(bits, symmetric);
    let n: usize = x.dims().iter().product();
    let g = 1.0 / ((n as f64) * (qp as f64)).sqrt();
    let s = grad_scale(s, g as f32);
    let v = x.div(s.clone()).clamp(-qn, qp);
    let r = v.clone().add(v.clone().detach().round().sub(v.detach()));
    Ok(r.mul(s))
}

/// `(Q_N, Q_P)` of LSQ: signed `(2^(b−1), 2^(b−1) − 1)`, unsigned `(0, 2^b − 1)`.
pub fn lsq_range(bits: u32, symmetric: bool) -> (f32, f32) {
    if symmetric {
        let h = (1u32 << (bits - 1)) as f32;
        (h, h - 1.0)
    } else {
        (0.0, ((1u32 << bits) - 1) as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn dev() -> Device {
        Device::flex().autodiff()
    }

    fn vec(t: Tensor<1>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    }

    const X: [f32; 6] = [-2.6, -0.7, 0.0, 0.4, 1.2, 3.1];
    const Q: [f32; 6] = [-2.0, -1.0, 0.0, 0.0, 1.0, 3.0];
    const W: [f32; 6] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];

    /// Runs `f(x, q)`, returns (forward values, d(Σ w·out)/dx).
    fn run(f: impl Fn(Tensor<1>, Tensor<1>) -> Tensor<1>) -> (Vec<f32>, Vec<f32>) {
        let d = dev();
        let x = Tensor::<1>::from_floats(X, &d).require_grad();
        let q = Tensor::<1>::from_floats(Q, &d);
        let w = Tensor::<1>::from_floats(W, &d);
        let out = f(x.clone(), q);
        let grads = out.clone().mul(w).sum().backward();
        (vec(out.detach()), vec(x.grad(&grads).unwrap()))
    }

    #[test]
    fn ste_forward_is_q_gradient_is_one() {
        let (fwd, g) = run(ste);
        assert_eq!(fwd, Q);
        assert_eq!(g, W);
    }

    /// `x + (q − x)` rounds: 3e7 + (0.1 − 3e7) is 0 in f32. The estimator's value must be q.
    #[test]
    fn forward_value_is_exactly_q() {
        let d = dev();
        let x = Tensor::<1>::from_floats([3.0e7f32, -1.0e9, 0.25], &d).require_grad();
        let q = Tensor::<1>::from_floats([0.1f32, 7.0, 0.5], &d);
        assert_ne!(3.0e7f32 + (0.1f32 - 3.0e7), 0.1, "the example must round");
        let out = ste(x.clone(), q.clone());
        assert_eq!(vec(out.clone().detach()), [0.1f32, 7.0, 0.5]);
        let g = x.grad(&out.sum().backward()).unwrap();
        assert_eq!(vec(g), [1.0, 1.0, 1.0]);
    }

    #[test]
    fn masked_ste_forward_is_q_gradient_is_the_mask() {
        let d = dev();
        let m = [1.0f32, 0.0, 1.0, 1.0, 0.0, 1.0];
        let (fwd, g) = run(|x, q| masked_ste(x, q, Tensor::<1>::from_floats(m, &d)));
        assert_eq!(fwd, Q);
        let want: Vec<f32> = W.iter().zip(m).map(|(w, m)| w * m).collect();
        assert_eq!(g, want);
    }

    #[test]
    fn lsq_gradients_match_formula() {
        let d = dev();
        let (bits, s0) = (3u32, 0.8f32);
        let (qn, qp) = lsq_range(bits, true);
        let x = Tensor::<2>::from_floats([X], &d).require_grad();
        let s = Tensor::<2>::from_floats([[s0]], &d).require_grad();
        let w = Tensor::<2>::from_floats([W], &d);
        let out = lsq(x.clone(), s.clone(), bits, true).unwrap();
        let grads = out.clone().mul(w).sum().backward();
        let gx = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        let gs = s
            .grad(&grads)
            .unwrap()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        let fwd = out
            .detach()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        let g = 1.0 / ((X.len() as f64) * qp as f64).sqrt();
        let mut want_gs = 0.0f64;
        for i in 0..X.len() {
            let v = X[i] / s0;
            let vc = v.clamp(-qn, qp);
            assert_eq!(fwd[i], vc.round_ties_even() * s0, "forward {i}");
            let inside = v > -qn && v < qp;
            assert_eq!(gx[i], if inside { W[i] } else { 0.0 }, "dx {i}");
            let ds = if inside { vc.round_ties_even() - v } else { vc };
            want_gs += (W[i] * ds) as f64 * g;
        }
        assert!(
            (gs[0] as f64 - want_gs).abs() < 1e-5,
            "ds {} vs {}",
            gs[0],
            want_gs
        );
    }

    #[test]
    fn lsq_rejects_bad_bits() {
        let d = Device::flex();
        let x = Tensor::<2>::from_floats([[1.0f32]], &d);
        let s = Tensor::<2>::from_floats([[1.0f32]], &d);
        assert!(lsq(x, s, 1, true).is_err());
    }
}
