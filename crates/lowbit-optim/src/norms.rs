//! Gradient norms and the global clip, shared by every optimizer.
//!
//! The global clip is `torch.nn.utils.clip_grad_norm_`: one norm over every gradient, scaled by
//! `clip / (norm + 1e-6)` when that is below one.

use crate::OptimError;
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use lowbit_nn::hf::PathStack;

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
