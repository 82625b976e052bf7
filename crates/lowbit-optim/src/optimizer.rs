//! The optimizer trait: what the step loop holds, whatever the optimizer updates.
//!
//! The step loop (lowbit-train) owns a `Box<dyn Optimizer<Llama>>` (or any `M: Module`): it
//! hands the module and its gradients to [`Optimizer::step`], counts steps with
//! [`OptimizerState::steps`], and saves / restores [`OptimizerState::state_dict`] under
//! parameter names in `optimizer.safetensors`. Nothing here knows about files or recipes.
//!
//! The trait is split in two so that a concrete optimizer can be asked for its name, step count
//! and state without naming a module type: [`OptimizerState`] has no type parameter, and
//! [`Optimizer<M>`] adds what needs the module (stepping it, checking a restored state against
//! its parameters). Both are object safe.

use crate::OptimError;
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Device;
use lowbit_nn::hf::HostTensor;
use std::collections::BTreeMap;

/// An optimizer between steps: a name, a step count and its state by parameter name.
pub trait OptimizerState {
    /// Short name for logs and errors (e.g. `adamw`).
    fn name(&self) -> &str;

    /// Completed steps (what bias corrections and schedules count).
    fn steps(&self) -> u64;

    /// The state as host tensors, each named after the HF name of the parameter it belongs to
    /// plus a suffix of the optimizer's own (AdamW: `NAME.exp_avg`, `NAME.exp_avg_sq`). The
    /// step count is not in it: the trainer keeps it in `state.json` and passes it back to
    /// [`Optimizer::load_state_dict`].
    ///
    /// # Errors
    /// [`OptimError::Readback`] when a tensor cannot be read back from the device.
    fn state_dict(&self) -> Result<BTreeMap<String, HostTensor>, OptimError>;

    /// Scalars the last step measured (PV-Tuning: codes changed, relative weight change), which
    /// the step loop adds to the logged record. None by default.
    fn step_scalars(&self) -> BTreeMap<String, f64> {
        BTreeMap::new()
    }
}

/// An optimizer of the parameters of a Burn module `M`, keyed by their HF names.
///
/// # The step
/// [`Optimizer::step`] takes the module by value and returns the updated one (Burn modules are
/// immutable values; a `ModuleMapper` rebuilds them). `grads` are the gradients of one backward
/// pass (or an accumulation of them); every gradient is first multiplied by `grad_scale` (the
/// clip factor, or 1/accumulation). `lr` is the schedule's learning rate at this step; how each
/// parameter uses it (a per-group scale, a frozen group) is the optimizer's business.
///
/// # Implementations
/// * [`AdamW`](crate::AdamW): float parameters, moments keyed by name, per-group settings by
///   name glob ([`ParamGroup`](crate::ParamGroup)). It is also PV-Tuning's **P-step**
///   (algorithms.md §4.2 step 4): groups give the continuous parameters (codebooks, scales) and
///   the non-quantized ones their own `lr` and `betas`.
/// * [`PvOptimizer`](crate::pv::PvOptimizer): PV-Tuning (algorithms.md §4.2). It owns an
///   AdamW as its P-step and runs the V-step on the codes after it, from the same gradients:
///   `G` of each coded layer comes from a zero probe on its decoded weight, the target is a
///   Lamb-Adam step on the decoded weight (or a straight-through buffer), and the codes of the
///   τ fraction of groups farthest from it are re-projected. Its state is AdamW's plus
///   `NAME.v_exp_avg(_sq)` and `NAME.st_buffer` per coded layer (codes are model state).
pub trait Optimizer<M: Module>: OptimizerState {
    /// One step; returns the updated module.
    ///
    /// # Errors
    /// Whatever the optimizer cannot do on this module (a V-step reading codes back from the
    /// device, say); AdamW's step does not fail.
    fn step(
        &mut self,
        module: M,
        grads: GradientsParams,
        lr: f64,
        grad_scale: f64,
    ) -> Result<M, OptimError>;

    /// Restores a state written by [`OptimizerState::state_dict`] after `steps` completed steps,
    /// checking every tensor against the parameter of `module` it names.
    ///
    /// A parameter without state is not an error (it has had no gradient yet and starts fresh).
    ///
    /// # Errors
    /// [`OptimError::UnexpectedState`] for a tensor the optimizer does not write or that names no
    /// parameter of `module`, [`OptimError::MissingState`] for an incomplete parameter state,
    /// [`OptimError::StateSize`] for a tensor whose length is not its parameter's.
    fn load_state_dict(
        &mut self,
        module: &M,
        tensors: &BTreeMap<String, HostTensor>,
        steps: u64,
        device: &Device,
    ) -> Result<(), OptimError>;
}

/// A boxed optimizer is one (so `&Box<dyn Optimizer<M>>` passes where `&dyn Optimizer<M>` goes).
impl<O: OptimizerState + ?Sized> OptimizerState for Box<O> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn steps(&self) -> u64 {
        (**self).steps()
    }
    fn state_dict(&self) -> Result<BTreeMap<String, HostTensor>, OptimError> {
        (**self).state_dict()
    }
    fn step_scalars(&self) -> BTreeMap<String, f64> {
        (**self).step_scalars()
    }
}

impl<M: Module, O: Optimizer<M> + ?Sized> Optimizer<M> for Box<O> {
    fn step(
        &mut self,
        module: M,
        grads: GradientsParams,
        lr: f64,
        grad_scale: f64,
    ) -> Result<M, OptimError> {
        (**self).step(module, grads, lr, grad_scale)
    }
    fn load_state_dict(
        &mut self,
        module: &M,
        tensors: &BTreeMap<String, HostTensor>,
        steps: u64,
        device: &Device,
    ) -> Result<(), OptimError> {
        (**self).load_state_dict(module, tensors, steps, device)
    }
}
