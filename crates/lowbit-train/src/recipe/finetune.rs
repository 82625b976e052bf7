//! `lowbit finetune`'s recipe (recipes/finetune/*.toml): the `train`, `checkpoint`, `log` and
//! `eval` sections of a training recipe (same meaning) plus `[finetune]`, PV-Tuning's settings
//! (algorithms.md §4.2–4.4). There is no `[model]` or `[data]`: the student checkpoint is the
//! model, `--data-text` the data. Unknown keys are errors.

use super::load::{RecipeError, load_recipe_as};
use super::schema::{CheckpointSection, EvalSection, LogSection, TrainSection};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// How the compressed student trains (algorithms.md §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FinetuneMethod {
    /// Codes frozen; continuous parameters (scales, codebooks, norms…) trained.
    #[serde(rename = "p-only")]
    POnly,
    /// Straight-through: a latent buffer Z trained with ∂loss/∂Ŵ, every code re-projected from
    /// it every step (τ = 1, δ = 0).
    #[serde(rename = "ste")]
    Ste,
    /// Subspace linearized PV: the V-step from the decoded weight on a τ fraction (δ = 1).
    #[serde(rename = "pv")]
    Pv,
    /// PV with straight-through buffers (τ fraction, δ = 0): the official released setting.
    #[serde(rename = "pv+ste")]
    PvSte,
}

/// `[finetune]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuneSection {
    /// `p-only`, `ste`, `pv` or `pv+ste`.
    pub method: FinetuneMethod,
    /// Fraction of code groups a V-step may change (`pv`, `pv+ste`; `ste` uses 1).
    #[serde(default = "default_tau")]
    pub tau: f64,
    /// Learning rate of the V direction (Lamb: a relative step per layer).
    #[serde(default = "default_code_lr")]
    pub code_lr: f64,
    /// (β1, β2) of the V direction (official: β1 = 0).
    #[serde(default = "default_code_betas")]
    pub code_betas: (f64, f64),
    /// ε of the V direction.
    #[serde(default = "default_code_eps")]
    pub code_eps: f64,
    /// Beam width of the VQ code search.
    #[serde(default = "one")]
    pub beam_size: usize,
    /// δ of the straight-through buffer; default by method (1 for `pv`, 0 for `ste`/`pv+ste`).
    #[serde(default)]
    pub delta_decay: Option<f64>,
    /// Train the codes' continuous parameters (scales, zero points, codebooks).
    #[serde(default = "yes")]
    pub train_code_params: bool,
    /// Train the parameters that are not compressed (norms, embeddings, head, linears left in
    /// full precision).
    #[serde(default = "yes")]
    pub train_non_quantized: bool,
    /// P-step parameter groups by HF-name glob, each with its own lr (`{ scale = f }` of the
    /// schedule or `{ fixed = f }`), betas, ε and weight decay; tried in order before the
    /// built-in ones (`*.weight_scale`, `*.weight_zero_point`, `*.weight_codebooks`), e.g.
    /// `groups = [{ pattern = "*.weight_codebooks", lr = { scale = 0.5 }, betas = [0.0, 0.95] }]`.
    #[serde(default)]
    pub groups: Vec<lowbit_optim::ParamGroup>,
    /// `kl` (KL(teacher ‖ student)) or `ce` (next-token cross-entropy).
    #[serde(default = "default_loss")]
    pub loss: crate::trainer::DistillLoss,
    /// Fraction of the data text's tokens held out for validation (its end).
    #[serde(default = "default_val_frac")]
    pub val_fraction: f64,
}

/// A complete finetune recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuneRecipe {
    /// Name of a recipe in the same directory this one builds on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    /// One-line description.
    #[serde(default)]
    pub description: String,
    /// Optimisation and schedule of the P-step (and batch, steps, seed).
    pub train: TrainSection,
    /// Checkpointing.
    #[serde(default)]
    pub checkpoint: CheckpointSection,
    /// Logging.
    #[serde(default)]
    pub log: LogSection,
    /// Periodic validation.
    #[serde(default)]
    pub eval: EvalSection,
    /// PV-Tuning's settings.
    pub finetune: FinetuneSection,
}

fn default_tau() -> f64 {
    0.01
}
fn default_code_lr() -> f64 {
    1e-2
}
fn default_code_betas() -> (f64, f64) {
    (0.0, 0.95)
}
fn default_code_eps() -> f64 {
    1e-6
}
fn one() -> usize {
    1
}
fn yes() -> bool {
    true
}
fn default_loss() -> crate::trainer::DistillLoss {
    crate::trainer::DistillLoss::Kl
}
fn default_val_frac() -> f64 {
    0.05
}

impl FinetuneSection {
    /// δ in effect (the method's default unless set).
    pub fn delta(&self) -> f64 {
        self.delta_decay.unwrap_or(match self.method {
            FinetuneMethod::Pv | FinetuneMethod::POnly => 1.0,
            FinetuneMethod::Ste | FinetuneMethod::PvSte => 0.0,
        })
    }

    /// τ in effect (`ste` changes every code).
    pub fn tau_in_effect(&self) -> f64 {
        match self.method {
            FinetuneMethod::Ste => 1.0,
            FinetuneMethod::POnly => 0.0,
            _ => self.tau,
        }
    }
}

/// Loads and validates finetune recipe `name_or_path` (a name in `recipes_dir`, or a path).
///
/// # Errors
/// Unknown or ill-typed keys and out-of-range values, each naming the file, the key and the fix.
pub fn load_finetune_recipe(
    name_or_path: &str,
    recipes_dir: &Path,
    sets: &[String],
) -> Result<FinetuneRecipe, RecipeError> {
    let (r, origins, origin): (FinetuneRecipe, BTreeMap<String, String>, String) =
        load_recipe_as(name_or_path, recipes_dir, sets)?;
    let err = |key: &str, msg: &str, fix: &str| {
        let o = origins.get(key).cloned().unwrap_or_else(|| origin.clone());
        Err(RecipeError::new(o, Some(key), msg, Some(fix)))
    };
    let (t, f) = (&r.train, &r.finetune);
    if t.steps == 0 || t.batch_size == 0 || t.seq_len == 0 {
        return err(
            "train.steps",
            "steps, batch_size and seq_len must be positive",
            "set each ≥ 1",
        );
    }
    if t.grad_accum == 0 || t.batch_size % t.grad_accum != 0 {
        return err(
            "train.grad_accum",
            "must divide train.batch_size",
            "pick a divisor of batch_size",
        );
    }
    if !(0.0..=1.0).contains(&f.tau) {
        return err("finetune.tau", "must be in [0, 1]", "e.g. 0.01");
    }
    if f.code_lr.is_nan() || f.code_lr <= 0.0 {
        return err("finetune.code_lr", "must be positive", "e.g. 1e-2");
    }
    let (b1, b2) = f.code_betas;
    if !(0.0..1.0).contains(&b1) || !(0.0..1.0).contains(&b2) {
        return err(
            "finetune.code_betas",
            "each β must be in [0, 1)",
            "e.g. [0.0, 0.95]",
        );
    }
    if f.beam_size == 0 {
        return err("finetune.beam_size", "must be ≥ 1", "e.g. 1");
    }
    if f.delta_decay.is_some_and(|d| !(0.0..=1.0).contains(&d)) {
        return err(
            "finetune.delta_decay",
            "must be in [0, 1]",
            "0 = STE, 1 = none",
        );
    }
    if !(0.0 < f.val_fraction && f.val_fraction < 1.0) {
        return err("finetune.val_fraction", "must be in (0, 1)", "e.g. 0.05");
    }
    if f.method == FinetuneMethod::POnly && !f.train_code_params && !f.train_non_quantized {
        return err(
            "finetune.method",
            "p-only with train_code_params = false and train_non_quantized = false trains nothing",
            "enable one of them or choose pv",
        );
    }
    Ok(r)
}
