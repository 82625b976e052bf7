//! AdamW with per-parameter-group settings by name glob and named weight-decay rules, keyed by
//! HF parameter names.
//!
//! Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019 (Algorithm 2), with the
//! operation order of `torch.optim.AdamW` (decay first, bias-corrected moments, `ε` added to
//! `sqrt(v̂)`), so a run here and a PyTorch run of the same recipe take the same steps.
//!
//! Why not Burn's `AdamW`: its state is keyed by random `ParamId`s and its weight decay is one
//! number for the whole module. lowbit checkpoints store moments under the parameter's HF name
//! (`optimizer.safetensors`: `NAME.exp_avg`, `NAME.exp_avg_sq`), so a resumed run — or another
//! tool — finds every moment by name; which parameters decay is a named rule over those names
//! ([`WeightDecayRule`]: lowbit's historical `linear`, QuEST's, nanoGPT's; algorithms.md §1.2),
//! and [`ParamGroup`]s give chosen parameters their own lr, betas, ε and decay (PV-Tuning's
//! P-step groups, algorithms.md §4.2 step 4).

mod decay;
mod groups;
mod state;
#[cfg(test)]
mod tests;

pub use decay::WeightDecayRule;
pub use groups::{GroupLr, ParamGroup};

use crate::{OptimError, Optimizer, OptimizerState};
use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use groups::{Groups, Hyper};
use lowbit_nn::hf::{HostTensor, PathStack};
use std::collections::BTreeMap;

/// AdamW hyper-parameters of the default group (the learning rate is passed per step by the
/// schedule).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    /// First-moment decay β1.
    pub beta1: f64,
    /// Second-moment decay β2.
    pub beta2: f64,
    /// Denominator ε.
    pub eps: f64,
    /// Decoupled weight decay λ for the parameters `weight_decay_rule` selects.
    pub weight_decay: f64,
    /// Which parameters decay.
    pub weight_decay_rule: WeightDecayRule,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.1,
            weight_decay_rule: WeightDecayRule::Linear,
        }
    }
}

/// Smallest value AdamW leaves an LSQ step size (`*.weight_step`, `*.input_step`) at.
pub const LSQ_STEP_FLOOR: f32 = 1e-6;

/// Moments of one parameter, flattened.
#[derive(Debug, Clone)]
struct Moments {
    m: Tensor<1>,
    v: Tensor<1>,
}

/// AdamW over HF-named parameters.
#[derive(Debug, Clone)]
pub struct AdamW {
    config: AdamWConfig,
    groups: Groups,
    /// Completed optimizer steps (the bias-correction exponent).
    steps: u64,
    state: BTreeMap<String, Moments>,
}

struct StepMapper<'a> {
    path: PathStack,
    grads: &'a mut GradientsParams,
    opt: &'a mut AdamW,
    lr: f64,
    grad_scale: f64,
}

impl StepMapper<'_> {
    fn update<const D: usize>(&mut self, id: ParamId, p: Tensor<D>) -> Tensor<D> {
        let Some(g) = self.grads.remove::<D>(id) else {
            return p;
        };
        let name = self.path.hf_name();
        let h: Hyper = self.opt.groups.resolve(&self.opt.config, &name, D, self.lr);
        let dims = p.dims();
        let n: usize = dims.iter().product();
        let g = g.reshape([n]);
        let g = if self.grad_scale != 1.0 {
            g.mul_scalar(self.grad_scale)
        } else {
            g
        };
        let (m, v) = match self.opt.state.remove(&name) {
            Some(s) => (
                s.m.mul_scalar(h.beta1)
                    .add(g.clone().mul_scalar(1.0 - h.beta1)),
                s.v.mul_scalar(h.beta2)
                    .add(g.square().mul_scalar(1.0 - h.beta2)),
            ),
            None => (
                g.clone().mul_scalar(1.0 - h.beta1),
                g.square().mul_scalar(1.0 - h.beta2),
            ),
        };
        if h.frozen {
            // A frozen group: the moments follow the gradients (as torch's do at lr 0), the value
            // is returned untouched rather than recomputed as `p − 0·step` (which the LSQ floor
            // or a non-finite step would change).
            self.opt.state.insert(name, Moments { m, v });
            return p;
        }
        let t = (self.opt.steps + 1) as i32;
        let bc1 = 1.0 - h.beta1.powi(t);
        let bc2 = 1.0 - h.beta2.powi(t);
        let require_grad = p.is_require_grad();
        // torch: p ← p·(1 − lr·λ); p ← p − (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + ε).
        let mut flat = p.inner().reshape([n]);
        if h.weight_decay != 0.0 {
            flat = flat.mul_scalar(1.0 - h.lr * h.weight_decay);
        }
        let denom = v.clone().sqrt().div_scalar(bc2.sqrt()).add_scalar(h.eps);
        let step = m.clone().div(denom).mul_scalar(h.lr / bc1);
        let mut flat = flat.sub(step);
        if name.ends_with("_step") {
            // An LSQ step size must stay positive (Esser et al. 2020 define s > 0; a step ≤ 0
            // flips or divides by zero in `v/s`). Adam moves every parameter by about `lr` per
            // step whatever its gradient scale, which at lr 3e-3 drives steps of ~1e-2 negative
            // within a few steps (lowbit-train/tests/lsq_train.rs), so the update is projected
            // back onto s ≥ LSQ_STEP_FLOOR.
            flat = flat.clamp_min(LSQ_STEP_FLOOR);
        }
        let updated = flat.reshape(dims);
        self.opt.state.insert(name, Moments { m, v });
        let out = Tensor::from_inner(updated);
        if require_grad {
            out.require_grad()
        } else {
            out
        }
    }
}

impl ModuleMapper for StepMapper<'_> {
    fn enter_module(&mut self, name: &str, _c: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _c: &str) {
        self.path.exit();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let id = param.id;
        param.map(|p| self.update(id, p))
    }
}

impl AdamW {
    /// A fresh optimizer (no moments, step 0) with one group: `config` for every parameter.
    pub fn new(config: AdamWConfig) -> Self {
        Self {
            config,
            groups: Groups::default(),
            steps: 0,
            state: BTreeMap::new(),
        }
    }

    /// A fresh optimizer whose parameters take the settings of the first of `groups` whose glob
    /// matches their HF name, and `config` (with its decay rule) when none does. No groups is
    /// exactly [`AdamW::new`].
    ///
    /// # Errors
    /// [`OptimError::Group`] for a bad glob, a negative or non-finite lr / decay / ε, or betas
    /// outside [0, 1).
    pub fn with_groups(config: AdamWConfig, groups: Vec<ParamGroup>) -> Result<Self, OptimError> {
        Ok(Self {
            groups: Groups::new(groups)?,
            ..Self::new(config)
        })
    }

    /// The default group's settings.
    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }

    /// The groups, in match order.
    pub fn groups(&self) -> Vec<&ParamGroup> {
        self.groups.list().collect()
    }

    /// Index of the group parameter `name` is in (`None`: the default group).
    pub fn group_of(&self, name: &str) -> Option<usize> {
        self.groups.matching(name)
    }
}

impl OptimizerState for AdamW {
    fn name(&self) -> &str {
        "adamw"
    }

    fn steps(&self) -> u64 {
        self.steps
    }

    /// The moments as host tensors named `NAME.exp_avg` / `NAME.exp_avg_sq` (flattened).
    fn state_dict(&self) -> Result<BTreeMap<String, HostTensor>, OptimError> {
        state::save(&self.state)
    }
}

impl<M: Module> Optimizer<M> for AdamW {
    /// One AdamW step with learning rate `lr` (per group: scaled, fixed, or 0 = frozen); every
    /// gradient is first multiplied by `grad_scale`. Parameters without a gradient are left
    /// as they are and their moments untouched.
    fn step(
        &mut self,
        module: M,
        mut grads: GradientsParams,
        lr: f64,
        grad_scale: f64,
    ) -> Result<M, OptimError> {
        let mut mapper = StepMapper {
            path: PathStack::default(),
            grads: &mut grads,
            opt: self,
            lr,
            grad_scale,
        };
        let module = module.map(&mut mapper);
        self.steps += 1;
        Ok(module)
    }

    fn load_state_dict(
        &mut self,
        module: &M,
        tensors: &BTreeMap<String, HostTensor>,
        steps: u64,
        device: &Device,
    ) -> Result<(), OptimError> {
        self.state = state::load(module, tensors, device)?;
        self.steps = steps;
        Ok(())
    }
}
