//! `flex` implementation of [`FusedOps`]: the tensors are host memory, so the kernels run on
//! their f32 slices ([`super::kernels`]). The public wrappers only route f32 tensors here.

use super::{FusedOps, kernels};
use burn::backend::TensorMetadata;
use burn::backend::flex::{Flex, FlexTensor};
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::tensor::{DType, Shape, TensorData};

/// The f32 values of `x` in row-major order, and its shape.
fn f32_values(x: &FlexTensor) -> (FlexTensor, Shape) {
    assert_eq!(
        x.dtype(),
        DType::F32,
        "lowbit fused ops take f32 (the wrappers route other dtypes to the composite ops)"
    );
    (x.to_contiguous(), x.shape())
}

fn slice(x: &FlexTensor) -> &[f32] {
    x.as_slice::<f32>()
        .expect("a contiguous f32 tensor has an f32 slice")
}

fn from_vec(v: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(v, shape))
}

fn targets(y: IntTensor<Flex>) -> Vec<i64> {
    y.to_contiguous()
        .into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .expect("integer targets convert to i64")
}

/// `(rows of length last, t, last)` of a `[..., t, s]` shape.
fn last_two(shape: &Shape) -> (usize, usize) {
    let d = shape.num_dims();
    assert!(d >= 2, "causal softmax needs [..., t, s], got {shape:?}");
    (shape[d - 2], shape[d - 1])
}

impl FusedOps for Flex {
    fn causal_softmax(scores: FloatTensor<Self>, scale: f32) -> FloatTensor<Self> {
        let (x, shape) = f32_values(&scores);
        let (t, s) = last_two(&shape);
        assert!(t <= s, "causal softmax: {t} queries but only {s} keys");
        from_vec(kernels::causal_softmax(slice(&x), t, s, scale), shape)
    }

    fn causal_softmax_backward(
        probs: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        scale: f32,
    ) -> FloatTensor<Self> {
        let (p, shape) = f32_values(&probs);
        let (g, _) = f32_values(&grad);
        let (_, s) = last_two(&shape);
        from_vec(
            kernels::causal_softmax_backward(slice(&p), slice(&g), s, scale),
            shape,
        )
    }

    fn cross_entropy_rows(
        logits: FloatTensor<Self>,
        targets_: IntTensor<Self>,
    ) -> FloatTensor<Self> {
        let (x, shape) = f32_values(&logits);
        let (n, v) = (shape[0], shape[1]);
        let y = targets(targets_);
        assert_eq!(
            y.len(),
            n,
            "cross_entropy: {n} rows but {} targets",
            y.len()
        );
        from_vec(
            kernels::cross_entropy_rows(slice(&x), &y, v),
            Shape::new([n]),
        )
    }

    fn cross_entropy_rows_backward(
        logits: FloatTensor<Self>,
        targets_: IntTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let (x, shape) = f32_values(&logits);
        let (g, _) = f32_values(&grad);
        let v = shape[1];
        let y = targets(targets_);
        from_vec(
            kernels::cross_entropy_rows_backward(slice(&x), &y, slice(&g), v),
            shape,
        )
    }
}
