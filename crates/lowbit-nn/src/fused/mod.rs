//! Fused row kernels for the two softmaxes of a training step: the causal attention softmax and
//! the vocabulary cross-entropy, each with a hand-written backward.
//!
//! *Why:* Burn's autodiff has no softmax of its own, so under `Autodiff<Flex>` a softmax is five
//! recorded ops (max, sub, exp, sum, div) and log-softmax + gather a few more, each a full pass
//! over a `[batch·heads, t, s]` or `[tokens, vocab]` tensor, with scalar `expf` and fresh
//! allocations (the perf profile in `benches/README.md`). PyTorch fuses both ops and their
//! backwards (`softmax_backward_data`, `nll_loss`/`log_softmax_backward`). Here each is one
//! [`backend_extension`] op per direction:
//!
//! * [`causal_softmax`]: `P = softmax(scale · S + M)` with the causal mask `M` (query `i` of `t`
//!   sees keys `j ≤ i + s − t`, so a KV-cache continuation is the same op), backward
//!   `dS = scale · P ⊙ (dP − rowsum(dP ⊙ P))`.
//! * [`cross_entropy_rows`]: `ℓ_r = logsumexp(x_r) − x_r[y_r]`, backward
//!   `dx_r = dℓ_r · (softmax(x_r) − onehot(y_r))`.
//!
//! The fused kernels run on `flex` for f32 tensors (with or without autodiff); every other device
//! or dtype takes the composite tensor-op definition in this file, which is also the reference
//! the tests hold the kernels to.

mod autodiff;
mod flex;
pub(crate) mod kernels;
#[cfg(test)]
mod tests;

use burn::backend::Dispatch;
use burn::backend::backend_extension;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};

/// The fused ops: implemented for `Flex` (kernels in [`kernels`]) and for `Autodiff<B>` (the
/// backward passes).
#[backend_extension(Flex, Autodiff)]
pub trait FusedOps: burn::backend::Backend {
    /// Causal softmax of `scale · scores` along the last dim. `scores`: `[..., t, s]`, `t ≤ s`.
    fn causal_softmax(scores: FloatTensor<Self>, scale: f32) -> FloatTensor<Self>;
    /// `scale · P ⊙ (dP − rowsum(dP ⊙ P))` for the output `probs` of [`Self::causal_softmax`].
    fn causal_softmax_backward(
        probs: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        scale: f32,
    ) -> FloatTensor<Self>;
    /// Per-row cross-entropy of `logits` `[n, v]` against `targets` `[n]` → `[n]`.
    fn cross_entropy_rows(logits: FloatTensor<Self>, targets: IntTensor<Self>)
    -> FloatTensor<Self>;
    /// `grad_r · (softmax(x_r) − onehot(y_r))` → `[n, v]`, for `grad` `[n]`.
    fn cross_entropy_rows_backward(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// Whether `x` takes the fused kernels: f32 on the `flex` CPU backend (autodiff or not).
fn fused_here<const D: usize>(x: &Tensor<D>) -> bool {
    x.device() == Device::flex() && x.dtype() == DType::F32
}

/// Causal attention probabilities `softmax(scale · scores + M)` along the last dim, where query
/// `i` of `t` sees keys `j ≤ i + s − t` (masked entries are exactly 0).
///
/// # Shapes
/// `scores`: `[batch, heads, t, s]` with `t ≤ s` → same.
pub fn causal_softmax(scores: Tensor<4>, scale: f32) -> Tensor<4> {
    if fused_here(&scores) {
        Tensor::from_dispatch(Dispatch::causal_softmax(scores.into_dispatch(), scale))
    } else {
        causal_softmax_reference(scores, scale)
    }
}

/// Composite tensor-op definition of [`causal_softmax`] (any device).
pub fn causal_softmax_reference(scores: Tensor<4>, scale: f32) -> Tensor<4> {
    let [_, _, t, s] = scores.dims();
    let mut scores = scores.mul_scalar(scale);
    if t > 1 {
        let past = s - t;
        let mask: Vec<f32> = (0..t * s)
            .map(|k| {
                if k % s > past + k / s {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        let mask = Tensor::<1>::from_data(TensorData::new(mask, [t * s]), &scores.device())
            .reshape([1, 1, t, s]);
        scores = scores + mask;
    }
    softmax(scores, 3)
}

/// Per-token cross-entropy `logsumexp(x_r) − x_r[y_r]`.
///
/// # Shapes
/// `logits`: `[n, vocab]`, `targets`: `[n]` (each in `0..vocab`) → `[n]`.
pub fn cross_entropy_rows(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    if fused_here(&logits) {
        Tensor::from_dispatch(Dispatch::cross_entropy_rows(
            logits.into_dispatch(),
            targets.into_dispatch(),
        ))
    } else {
        cross_entropy_rows_reference(logits, targets)
    }
}

/// Composite tensor-op definition of [`cross_entropy_rows`] (any device).
pub fn cross_entropy_rows_reference(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [n, _] = logits.dims();
    log_softmax(logits, 1)
        .gather(1, targets.reshape([n, 1]))
        .reshape([n])
        .neg()
}
