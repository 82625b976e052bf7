//! Plan → runs: every (size, budget, recipe) point becomes a resolved recipe with its step count,
//! learning rate, non-embedding parameter count and a run name derived from its coordinates.

use crate::error::SweepError;
use crate::plan::{LrRule, SweepPlan, recipe_label};
use lowbit_train::Recipe;
use lowbit_train::recipe::{ModelDims, load_recipe, resolve_model};
use std::path::{Path, PathBuf};

/// One grid point, ready to train.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    /// `{size}_{budget}_{recipe}`, e.g. `d64_tpp8_nvfp4`; also the run directory's name.
    pub name: String,
    /// Size label.
    pub size: String,
    /// Budget label (`tok200000`, `tpp8`).
    pub budget: String,
    /// Recipe label: the `format` column.
    pub format: String,
    /// The resolved recipe (sizes, steps, batch, lr and `train.set` applied).
    pub recipe: Recipe,
    /// Its TOML text (written into the run directory; its hash is in every checkpoint).
    pub recipe_toml: String,
    /// Model dimensions.
    pub dims: ModelDims,
    /// Non-embedding parameters N (see [`non_embedding_params`]).
    pub n_params: u64,
    /// Optimizer steps = round(planned tokens / (batch_size · seq_len)), at least 1.
    pub steps: u64,
    /// Tokens actually trained: steps · batch_size · seq_len (the `tokens` column).
    pub tokens: u64,
    /// Peak learning rate.
    pub lr: f64,
    /// The run directory.
    pub dir: PathBuf,
}

/// Non-embedding parameters of a Llama: every linear inside the blocks (q, k, v, o, gate, up,
/// down) plus the RMSNorm gains (two per block and the final one); the token embedding and the
/// LM head are excluded (Kaplan et al. 2020; QuEST counts N the same way).
pub fn non_embedding_params(d: &ModelDims) -> u64 {
    let linears: u64 = d
        .linears()
        .iter()
        .map(|(_, i, o)| (*i as u64) * (*o as u64))
        .sum();
    let norms = (2 * d.n_layers as u64 + 1) * d.d_model as u64;
    linears + norms
}

fn recipe_err(
    plan_path: &Path,
    key: String,
) -> impl FnOnce(lowbit_train::RecipeError) -> SweepError {
    let plan = plan_path.to_path_buf();
    move |source| SweepError::Recipe {
        plan,
        key,
        source: Box::new(source),
    }
}

/// Resolves every grid point of `plan` (read from `plan_path`) into a [`PlannedRun`], loading
/// recipes from `recipes_dir`, with run directories under `out`. Order: sizes, then budgets,
/// then recipes, as listed in the plan.
pub fn expand(
    plan: &SweepPlan,
    plan_path: &Path,
    recipes_dir: &Path,
    out: &Path,
) -> Result<Vec<PlannedRun>, SweepError> {
    let t = &plan.train;
    let mut runs = Vec::new();
    for (si, size) in plan.sizes.iter().enumerate() {
        for budget in plan.budgets() {
            for (ri, recipe_name) in plan.recipes.iter().enumerate() {
                let key = format!("recipes[{ri}]");
                let mut sets = t.set.clone();
                sets.extend(size.sets());
                sets.push(format!("train.batch_size={}", t.batch_size));
                sets.push(format!("train.seq_len={}", t.seq_len));
                // First pass: the model dimensions (and the recipe's own lr).
                let base = load_recipe(recipe_name, recipes_dir, &sets)
                    .map_err(recipe_err(plan_path, format!("{key} with sizes[{si}]")))?;
                let dims = resolve_model(&base.model).map_err(|(k, m)| SweepError::Plan {
                    path: plan_path.to_path_buf(),
                    key: Some(format!("sizes[{si}]")),
                    message: format!("{k}: {m}"),
                    fix: "give a preset or consistent d_model / n_layers / n_heads".into(),
                })?;
                let n_params = non_embedding_params(&dims);
                let lr = match t.lr_rule {
                    LrRule::Fixed => t.lr.unwrap_or(base.train.lr),
                    LrRule::PerSize => size.lr.unwrap_or(base.train.lr),
                    LrRule::InverseWidth => {
                        let lr = t.lr.unwrap_or(base.train.lr);
                        let d0 = t.lr_base_d_model.unwrap_or(dims.d_model) as f64;
                        lr * d0 / dims.d_model as f64
                    }
                };
                let planned = budget.tokens(n_params);
                let per_step = (t.batch_size * t.seq_len) as f64;
                let steps = ((planned / per_step).round() as u64).max(1);
                sets.push(format!("train.steps={steps}"));
                sets.push(format!("train.lr={lr:e}"));
                let recipe = load_recipe(recipe_name, recipes_dir, &sets)
                    .map_err(recipe_err(plan_path, format!("{key} with sizes[{si}]")))?;
                let recipe_toml = toml::to_string(&recipe).map_err(|e| SweepError::Plan {
                    path: plan_path.to_path_buf(),
                    key: Some(key.clone()),
                    message: format!("cannot serialise the resolved recipe: {e}"),
                    fix: "report this as a bug".into(),
                })?;
                let format = recipe_label(recipe_name);
                let size_label = size.label();
                let name = format!("{size_label}_{}_{format}", budget.label());
                runs.push(PlannedRun {
                    dir: out.join(&name),
                    name,
                    size: size_label,
                    budget: budget.label(),
                    format,
                    recipe,
                    recipe_toml,
                    dims,
                    n_params,
                    steps,
                    tokens: steps * per_step as u64,
                    lr,
                });
            }
        }
    }
    let mut names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(SweepError::plan(
            plan_path,
            Some("tokens"),
            format!("two grid points share the run name `{}`", w[0]),
            "list each token budget once",
        ));
    }
    Ok(runs)
}
