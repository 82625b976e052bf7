//! AdamW with per-parameter-group weight decay and a global gradient-norm clip, keyed by HF
//! parameter names.
//!
//! Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019 (Algorithm 2), with the
//! operation order of `torch.optim.AdamW` (decay first, bias-corrected moments, `ε` added to
//! `sqrt(v̂)`), so a run here and a PyTorch run of the same recipe take the same steps.
//! The global clip is `torch.nn.utils.clip_grad_norm_`: one norm over every gradient, scaled by
//! `clip / (norm + 1e-6)` when that is below one.
//!
//! Why not Burn's `AdamW`: its state is keyed by random `ParamId`s and its weight decay is one
//! number for the whole module. lowbit checkpoints store moments under the parameter's HF name
//! (`optimizer.safetensors`: `NAME.exp_avg`, `NAME.exp_avg_sq`), so a resumed run — or another
//! tool — finds every moment by name, and which parameters decay is a named rule over those names
//! ([`WeightDecayRule`]: lowbit's historical `linear`, QuEST's, nanoGPT's; algorithms.md §1.2).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use lowbit_nn::hf::{HostTensor, PathStack};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

/// Optimizer-state errors.
#[derive(Debug, Error)]
pub enum OptimError {
    /// A state tensor is missing, unexpected or of the wrong size.
    #[error("optimizer state: {0}")]
    State(String),
    /// The squared gradient norms could not be read back from the device. This is an error, not
    /// a zero norm: a zero would skip the clip and pass the non-finite guard unseen.
    #[error("gradient norms: cannot read the squared norms back from the device: {0}")]
    GradNorm(String),
}

/// Which parameters get decoupled weight decay, by HF name (and rank, for nanoGPT's rule).
///
/// No rule ever decays RMSNorm gains (1-D), biases (1-D) or LSQ step sizes (`*.weight_step`,
/// `*.input_step`): decaying a quantizer's step shrinks its grid towards zero, which is not a
/// regulariser of the model's function and is in neither reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeightDecayRule {
    /// lowbit's rule (the default, unchanged since the first release): every linear weight —
    /// `*_proj.weight` in the blocks and an untied `lm_head.weight`; not the token embedding.
    #[default]
    Linear,
    /// QuEST (`IST-DASLab/QuEST`, algorithms.md §1.2): only the linear weights inside the decoder
    /// blocks (`model.layers.*.*_proj.weight`); no decay on the embedding, `lm_head` or norms.
    Quest,
    /// nanoGPT (`karpathy/nanoGPT`, `configure_optimizers`): every parameter of rank ≥ 2 —
    /// the linear weights, the token embedding and `lm_head` (tied or not); 1-D ones do not.
    Nanogpt,
}

impl WeightDecayRule {
    /// Whether the parameter `name` (of `rank` dimensions) is decayed under this rule.
    pub fn decays(self, name: &str, rank: usize) -> bool {
        if name.ends_with("_step") {
            return false; // LSQ step sizes (see the type's doc)
        }
        match self {
            Self::Linear => name == "lm_head.weight" || name.ends_with("_proj.weight"),
            Self::Quest => name.starts_with("model.layers.") && name.ends_with("_proj.weight"),
            Self::Nanogpt => rank >= 2,
        }
    }
}

/// AdamW hyper-parameters (the learning rate is passed per step by the schedule).
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
    /// Completed optimizer steps (the bias-correction exponent).
    steps: u64,
    state: BTreeMap<String, Moments>,
}

/// Per-parameter gradient norms and the global norm.
#[derive(Debug, Clone, PartialEq)]
pub struct GradNorms {
    /// `sqrt(Σ g²)` over every gradient.
    pub total: f64,
    /// Each parameter's own norm, by HF name.
    pub per_param: Vec<(String, f64)>,
}

impl GradNorms {
    /// Parameters whose gradient norm is NaN or infinite.
    pub fn non_finite(&self) -> Vec<&str> {
        self.per_param
            .iter()
            .filter(|(_, n)| !n.is_finite())
            .map(|(s, _)| s.as_str())
            .collect()
    }
}

struct NormVisitor<'a> {
    path: PathStack,
    grads: &'a GradientsParams,
    sq: Vec<(String, Tensor<1>)>,
}

impl ModuleVisitor for NormVisitor<'_> {
    fn enter_module(&mut self, name: &str, _c: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _c: &str) {
        self.path.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            self.sq.push((self.path.hf_name(), g.square().sum()));
        }
    }
}

/// Gradient norms of `module`'s parameters (one device → host transfer).
///
/// # Errors
/// [`OptimError::GradNorm`] when the norms cannot be read back from the device.
pub fn grad_norms<M: Module>(module: &M, grads: &GradientsParams) -> Result<GradNorms, OptimError> {
    let mut v = NormVisitor {
        path: PathStack::default(),
        grads,
        sq: Vec::new(),
    };
    module.visit(&mut v);
    if v.sq.is_empty() {
        return Ok(GradNorms {
            total: 0.0,
            per_param: Vec::new(),
        });
    }
    let (names, parts): (Vec<String>, Vec<Tensor<1>>) = v.sq.into_iter().unzip();
    let sq: Vec<f32> = Tensor::cat(parts, 0)
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| OptimError::GradNorm(format!("{e:?}")))?;
    if sq.len() != names.len() {
        return Err(OptimError::GradNorm(format!(
            "{} norms read back for {} parameters",
            sq.len(),
            names.len()
        )));
    }
    // Sum in f64, in name order, so the norm does not depend on the backend's reduction order.
    let total = sq.iter().map(|&s| s as f64).sum::<f64>().sqrt();
    Ok(GradNorms {
        total,
        per_param: names
            .into_iter()
            .zip(sq)
            .map(|(n, s)| (n, (s as f64).sqrt()))
            .collect(),
    })
}

/// The factor `clip_grad_norm_` scales gradients by (1 when no clipping applies).
pub fn clip_factor(total_norm: f64, clip: f64) -> f64 {
    if clip > 0.0 && total_norm > clip {
        clip / (total_norm + 1e-6)
    } else {
        1.0
    }
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
        let c = self.opt.config;
        let dims = p.dims();
        let n: usize = dims.iter().product();
        let require_grad = p.is_require_grad();
        let p = p.inner();
        let g = g.reshape([n]);
        let g = if self.grad_scale != 1.0 {
            g.mul_scalar(self.grad_scale)
        } else {
            g
        };
        let (m, v) = match self.opt.state.remove(&name) {
            Some(s) => (
                s.m.mul_scalar(c.beta1)
                    .add(g.clone().mul_scalar(1.0 - c.beta1)),
                s.v.mul_scalar(c.beta2)
                    .add(g.square().mul_scalar(1.0 - c.beta2)),
            ),
            None => (
                g.clone().mul_scalar(1.0 - c.beta1),
                g.square().mul_scalar(1.0 - c.beta2),
            ),
        };
        let t = (self.opt.steps + 1) as i32;
        let bc1 = 1.0 - c.beta1.powi(t);
        let bc2 = 1.0 - c.beta2.powi(t);
        // torch: p ← p·(1 − lr·λ); p ← p − (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + ε).
        let mut flat = p.reshape([n]);
        if c.weight_decay != 0.0 && c.weight_decay_rule.decays(&name, D) {
            flat = flat.mul_scalar(1.0 - self.lr * c.weight_decay);
        }
        let denom = v.clone().sqrt().div_scalar(bc2.sqrt()).add_scalar(c.eps);
        let step = m.clone().div(denom).mul_scalar(self.lr / bc1);
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
    /// A fresh optimizer (no moments, step 0).
    pub fn new(config: AdamWConfig) -> Self {
        Self {
            config,
            steps: 0,
            state: BTreeMap::new(),
        }
    }

    /// Completed steps.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// One AdamW step with learning rate `lr`; every gradient is first multiplied by
    /// `grad_scale` (the clip factor, or 1/accumulation when not already averaged).
    pub fn step<M: Module>(
        &mut self,
        module: M,
        mut grads: GradientsParams,
        lr: f64,
        grad_scale: f64,
    ) -> M {
        let mut mapper = StepMapper {
            path: PathStack::default(),
            grads: &mut grads,
            opt: self,
            lr,
            grad_scale,
        };
        let module = module.map(&mut mapper);
        self.steps += 1;
        module
    }

    /// The moments as host tensors named `NAME.exp_avg` / `NAME.exp_avg_sq` (flattened).
    pub fn state_dict(&self) -> Result<BTreeMap<String, HostTensor>, OptimError> {
        let host = |t: &Tensor<1>, name: &str| -> Result<HostTensor, OptimError> {
            let values = t
                .clone()
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|e| OptimError::State(format!("{name}: {e:?}")))?;
            Ok(HostTensor {
                shape: vec![values.len()],
                values,
            })
        };
        let mut out = BTreeMap::new();
        for (name, s) in &self.state {
            let a = format!("{name}.exp_avg");
            let b = format!("{name}.exp_avg_sq");
            out.insert(a.clone(), host(&s.m, &a)?);
            out.insert(b.clone(), host(&s.v, &b)?);
        }
        Ok(out)
    }

    /// Restores moments written by [`AdamW::state_dict`] after `steps` completed steps.
    ///
    /// # Errors
    /// A moment without its partner, or a partner of a different length.
    pub fn load_state_dict(
        &mut self,
        tensors: &BTreeMap<String, HostTensor>,
        steps: u64,
        device: &burn::tensor::Device,
    ) -> Result<(), OptimError> {
        let mut state = BTreeMap::new();
        for (key, m) in tensors {
            let Some(name) = key.strip_suffix(".exp_avg") else {
                if key.ends_with(".exp_avg_sq") {
                    continue;
                }
                return Err(OptimError::State(format!("unexpected tensor `{key}`")));
            };
            let sq = format!("{name}.exp_avg_sq");
            let v = tensors
                .get(&sq)
                .ok_or_else(|| OptimError::State(format!("`{key}` without `{sq}`")))?;
            if v.values.len() != m.values.len() {
                return Err(OptimError::State(format!(
                    "`{key}` has {} values but `{sq}` has {}",
                    m.values.len(),
                    v.values.len()
                )));
            }
            let t = |h: &HostTensor| {
                Tensor::<1>::from_data(
                    burn::tensor::TensorData::new(h.values.clone(), [h.values.len()]),
                    device,
                )
            };
            state.insert(name.to_string(), Moments { m: t(m), v: t(v) });
        }
        for key in tensors.keys() {
            if let Some(name) = key.strip_suffix(".exp_avg_sq")
                && !state.contains_key(name)
            {
                return Err(OptimError::State(format!(
                    "`{key}` without `{name}.exp_avg`"
                )));
            }
        }
        self.state = state;
        self.steps = steps;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
