//! [`Task`]: what a run trains — the model, the loss of one micro-batch, evaluation, and the
//! model's files in a checkpoint. The step loop ([`super::step_loop`]) owns everything else:
//! resume, gradient accumulation and data parallelism, the non-finite guard, the optimizer step,
//! metrics, the progress display and atomic checkpoints, so `lowbit train` (LM cross-entropy,
//! [`super::LmTask`]), the coming `lowbit finetune` (KL to a teacher) and `lowbit judge train` (a
//! classifier's loss) share them instead of copying them.

use super::error::TrainError;
use crate::checkpoint::CheckpointError;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use std::collections::BTreeMap;
use std::path::Path;

/// What [`Task::evaluate`] measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// Validation loss (what the run reports as `val_loss`; `val_ppl` is its exp).
    pub loss: f64,
    /// Further scalars logged beside it (quantization health, accuracy, …).
    pub scalars: BTreeMap<String, f64>,
}

/// A training objective over a model.
///
/// Determinism contract: [`Task::loss`] of micro-batch `micro` must be a pure function of the
/// model and `micro` (the run's micro-batch counter, saved in `state.json`), so a resumed run
/// takes the same steps.
pub trait Task: Sync {
    /// The trained module (parameters the optimizer updates are its float parameters with
    /// gradients; integer tensors such as codes are left to the optimizer's own rules).
    type Model: Module + Clone + Send + Sync + 'static;

    /// Short name for logs and errors (`lm`, `kl`, `judge`).
    fn name(&self) -> &'static str;

    /// Tokens (or examples) one optimizer step consumes, for throughput and `tokens_seen`.
    fn tokens_per_step(&self) -> u64;

    /// A freshly initialised model on `device` (an autodiff device), a pure function of the
    /// task's seed.
    fn init_model(&self, device: &Device) -> Result<Self::Model, TrainError>;

    /// The model stored in checkpoint directory `dir`, on `device`.
    fn load_model(&self, dir: &Path, device: &Device) -> Result<Self::Model, TrainError>;

    /// Writes the model's files (and whatever else reloading it needs, e.g. a tokenizer) into
    /// the checkpoint directory `dir`; the loop adds the optimizer, state, recipe and manifest.
    fn save_model(&self, model: &Self::Model, dir: &Path) -> Result<(), CheckpointError>;

    /// The differentiable mean loss of micro-batch `micro` on `device`.
    ///
    /// # Errors
    /// A non-finite forward value is reported as the model's `NonFinite` error (the guard
    /// refuses the step, it does not end the run); anything else ends the run.
    fn loss(
        &self,
        model: &Self::Model,
        micro: u64,
        device: &Device,
    ) -> Result<Tensor<1>, TrainError>;

    /// Evaluates `model` (in inference mode: `model.valid()`) on `device`.
    fn evaluate(&self, model: &Self::Model, device: &Device) -> Result<Evaluation, TrainError>;

    /// Testing hook ([`super::TrainOptions::inject_nan_activation_at`]): a copy of `model` whose
    /// forward pass on micro-batch `micro` meets a NaN activation; `None` if the task has none.
    fn poisoned(&self, _model: &Self::Model, _micro: u64) -> Option<Self::Model> {
        None
    }
}
