//! Backward passes of [`FusedOps`] under Burn's autodiff: each forward op records one step whose
//! backward is the matching fused kernel, instead of the chain of elementwise ops a composite
//! softmax records.

use super::FusedOps;
use burn::backend::AutodiffBackend;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::{FloatTensor, IntTensor};

/// Backward of the causal softmax; the state is the output `P` and the scale.
#[derive(Debug)]
struct CausalSoftmaxBackward;

impl<B: FusedOps> Backward<B, 1> for CausalSoftmaxBackward {
    type State = (FloatTensor<B>, f32);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = parent {
            let (probs, scale) = ops.state;
            grads.register::<B>(node.id, B::causal_softmax_backward(probs, grad, scale));
        }
    }
}

/// Backward of the row cross-entropy; the state is the logits and the targets.
#[derive(Debug)]
struct CrossEntropyBackward;

impl<B: FusedOps> Backward<B, 1> for CrossEntropyBackward {
    type State = (FloatTensor<B>, IntTensor<B>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = parent {
            let (logits, targets) = ops.state;
            grads.register::<B>(
                node.id,
                B::cross_entropy_rows_backward(logits, targets, grad),
            );
        }
    }
}

impl<B: FusedOps, C: CheckpointStrategy> FusedOps for Autodiff<B, C> {
    fn causal_softmax(scores: FloatTensor<Self>, scale: f32) -> FloatTensor<Self> {
        let (x, node) = scores.into_parts();
        // Compute bound: the backward keeps the output rather than recomputing it.
        match CausalSoftmaxBackward
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let p = B::causal_softmax(x, scale);
                prep.finish((p.clone(), scale), p)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::causal_softmax(x, scale)),
        }
    }

    /// Only the backward pass calls this, on the inner backend; here it is a constant.
    fn causal_softmax_backward(
        probs: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        scale: f32,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::causal_softmax_backward(
            Self::inner(probs),
            Self::inner(grad),
            scale,
        ))
    }

    fn cross_entropy_rows(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
    ) -> FloatTensor<Self> {
        let (x, node) = logits.into_parts();
        match CrossEntropyBackward
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let loss = B::cross_entropy_rows(x.clone(), targets.clone());
                prep.finish((x, targets), loss)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::cross_entropy_rows(x, targets)),
        }
    }

    /// Only the backward pass calls this, on the inner backend; here it is a constant.
    fn cross_entropy_rows_backward(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::cross_entropy_rows_backward(
            Self::inner(logits),
            targets,
            Self::inner(grad),
        ))
    }
}
