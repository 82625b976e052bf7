//! One optimizer step's gradients: the micro-batches' forward and backward passes (on one device
//! with gradient accumulation, or spread over devices), and the non-finite guard's verdict.

use super::ddp::Parallel;
use super::error::TrainError;
use super::lm::scalar;
use super::task::Task;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::Device;

/// What the micro-batches of one step gave.
pub(super) struct StepGrads {
    /// Summed gradients of the micro-batch losses (empty after a refused forward pass).
    pub grads: GradientsParams,
    /// Sum of the micro-batch losses (NaN after a refused forward pass).
    pub loss_sum: f64,
    /// The non-finite value a quantizer refused in the forward pass, if any.
    pub forward_error: Option<String>,
}

/// Whether an error is a non-finite value (a quantizer refusing NaN/Inf in its input): a refused
/// step like a NaN loss, not the end of the run.
pub(super) fn is_non_finite(e: &TrainError) -> bool {
    matches!(
        e,
        TrainError::Model(
            lowbit_nn::NnError::NonFinite
                | lowbit_nn::NnError::Format(lowbit_formats::FormatError::NonFinite { .. })
        )
    )
}

/// Forward + backward of micro-batches `cursor .. cursor + micro_batches` of `task`.
pub(super) fn step_grads<T: Task>(
    task: &T,
    model: &T::Model,
    cursor: u64,
    micro_batches: usize,
    device: &Device,
    parallel: Option<&Parallel>,
) -> Result<StepGrads, TrainError> {
    let micros: Vec<u64> = (0..micro_batches as u64).map(|k| cursor + k).collect();
    let result = match parallel {
        Some(p) => p.grads(model, &micros, &|m: &T::Model, k: u64, d: &Device| {
            task.loss(m, k, d)
        }),
        None => {
            let mut accum = GradientsAccumulator::<T::Model>::new();
            let mut loss_sum = 0.0;
            let mut out = Ok(());
            for &k in &micros {
                match task.loss(model, k, device) {
                    Ok(loss) => {
                        loss_sum += scalar(loss.clone())?;
                        let grads = GradientsParams::from_grads(loss.backward(), model);
                        accum.accumulate(model, grads);
                    }
                    Err(e) => {
                        out = Err(e);
                        break;
                    }
                }
            }
            out.map(|()| (accum.grads(), loss_sum))
        }
    };
    match result {
        Ok((grads, loss_sum)) => Ok(StepGrads {
            grads,
            loss_sum,
            forward_error: None,
        }),
        Err(e) if is_non_finite(&e) => Ok(StepGrads {
            grads: GradientsParams::new(),
            loss_sum: f64::NAN,
            forward_error: Some(match e {
                TrainError::Model(m) => m.to_string(),
                other => other.to_string(),
            }),
        }),
        Err(e) => Err(e),
    }
}

/// The one guard: a non-finite forward value, loss or gradient norm refuses the step; the
/// returned text says which.
pub(super) fn refusal(forward_error: &Option<String>, loss: f64, grad_norm: f64) -> Option<String> {
    if let Some(e) = forward_error {
        Some(format!("activation or weight in the forward pass ({e})"))
    } else if !loss.is_finite() {
        Some(format!("loss ({loss})"))
    } else if !grad_norm.is_finite() {
        Some(format!("grad_norm ({grad_norm})"))
    } else {
        None
    }
}
