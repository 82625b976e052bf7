//! The sweep plan: a TOML file naming a grid of model sizes × token budgets × recipes.
//!
//! Typed and strict like a recipe (DESIGN.md §3 "Recipes"): unknown keys are errors, every field
//! is documented here and in `recipes/README.md` ("Sweeps"), and every error names the plan file,
//! the key and the fix.
//!
//! ```toml
//! description = "3 sizes × 2 budgets × 3 formats on Shakespeare"
//! out = "checkpoints/sweeps/tiny"
//! recipes = ["bf16", "nvfp4", "int4-quest"]
//!
//! [[sizes]]
//! name = "d64"
//! d_model = 64
//! n_layers = 2
//! n_heads = 4
//!
//! [tokens]
//! per_param = [4, 8]        # or `total = [2e5, 4e5]`
//!
//! [train]
//! batch_size = 16
//! seq_len = 128
//! lr = 2e-3
//! lr_rule = "fixed"
//! set = ["data.vocab_size=1024"]
//! ```

use crate::error::SweepError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// A sweep: every (size, token budget, recipe) triple is one training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepPlan {
    /// One line describing the sweep (printed and written into the sweep report).
    #[serde(default)]
    pub description: String,
    /// Output directory: one run directory per grid point plus `summary.csv` and
    /// `sweep.json`. Relative paths are relative to the working directory; `--out` overrides it.
    /// Default `checkpoints/sweeps/<plan file stem>`.
    #[serde(default)]
    pub out: Option<PathBuf>,
    /// Directory of the recipes named in `recipes` (default `recipes`).
    #[serde(default)]
    pub recipes_dir: Option<PathBuf>,
    /// Recipe names (or paths) to train at every grid point; the recipe name is the `format`
    /// column of the summary. The unified law's reference format is the recipe `bf16`.
    pub recipes: Vec<String>,
    /// Model sizes.
    pub sizes: Vec<SizeSpec>,
    /// Token budgets.
    pub tokens: TokensSpec,
    /// Settings shared by every run.
    pub train: SweepTrain,
}

/// One model size: a preset and/or explicit dimensions (explicit fields win).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeSpec {
    /// Label used in run names (letters, digits, `-`, `_`, `.`); default the preset name, else
    /// `l{n_layers}d{d_model}`.
    #[serde(default)]
    pub name: Option<String>,
    /// Model preset (`tiny`, `small`, `30m`, …; recipes/README.md).
    #[serde(default)]
    pub preset: Option<String>,
    /// Hidden size.
    #[serde(default)]
    pub d_model: Option<usize>,
    /// Decoder blocks.
    #[serde(default)]
    pub n_layers: Option<usize>,
    /// Attention heads.
    #[serde(default)]
    pub n_heads: Option<usize>,
    /// Key/value heads (default `n_heads`).
    #[serde(default)]
    pub n_kv_heads: Option<usize>,
    /// SwiGLU hidden size (default 256·ceil(8·d_model/3/256)).
    #[serde(default)]
    pub d_ff: Option<usize>,
    /// Peak learning rate of this size; only with `train.lr_rule = "per-size"`, which requires it.
    #[serde(default)]
    pub lr: Option<f64>,
}

/// Token budgets: exactly one of `total` and `per_param`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensSpec {
    /// Training tokens per run, the same for every size.
    #[serde(default)]
    pub total: Option<Vec<f64>>,
    /// Training tokens per non-embedding parameter (D = ratio · N; Chinchilla-optimal ≈ 20).
    #[serde(default)]
    pub per_param: Option<Vec<f64>>,
}

/// How each run's peak learning rate is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LrRule {
    /// `train.lr` for every size (or the recipe's own `train.lr` when `train.lr` is absent).
    Fixed,
    /// Each size's own `lr`.
    PerSize,
    /// `train.lr · lr_base_d_model / d_model` (smaller steps for wider models).
    InverseWidth,
}

/// Settings shared by every run of the sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepTrain {
    /// Sequences per optimizer step.
    pub batch_size: usize,
    /// Tokens per sequence. Steps = round(tokens / (batch_size · seq_len)), at least 1.
    pub seq_len: usize,
    /// Peak learning rate (`fixed` and `inverse-width` rules).
    #[serde(default)]
    pub lr: Option<f64>,
    /// `fixed` (default), `per-size` or `inverse-width`.
    #[serde(default = "default_rule")]
    pub lr_rule: LrRule,
    /// `inverse-width`: the d_model at which the lr is `train.lr`.
    #[serde(default)]
    pub lr_base_d_model: Option<usize>,
    /// Recipe overrides applied to every run, as `--set` (`"data.vocab_size=1024"`). The keys
    /// the sweep sets itself (`model.*`, `train.steps`, `train.batch_size`, `train.seq_len`,
    /// `train.lr`) are not allowed here.
    #[serde(default)]
    pub set: Vec<String>,
}

fn default_rule() -> LrRule {
    LrRule::Fixed
}

impl SizeSpec {
    /// The label used in run names.
    pub fn label(&self) -> String {
        match (&self.name, &self.preset, self.d_model, self.n_layers) {
            (Some(n), ..) => n.clone(),
            (None, Some(p), None, None) => p.clone(),
            (None, p, d, l) => {
                let mut s = format!(
                    "l{}d{}",
                    l.map_or("?".into(), |l| l.to_string()),
                    d.map_or("?".into(), |d| d.to_string())
                );
                if let Some(p) = p {
                    s = format!("{p}-{s}");
                }
                s
            }
        }
    }

    /// The `--set` overrides of this size.
    pub(crate) fn sets(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(p) = &self.preset {
            v.push(format!("model.preset=\"{p}\""));
        }
        for (key, val) in [
            ("d_model", self.d_model),
            ("n_layers", self.n_layers),
            ("n_heads", self.n_heads),
            ("n_kv_heads", self.n_kv_heads),
            ("d_ff", self.d_ff),
        ] {
            if let Some(x) = val {
                v.push(format!("model.{key}={x}"));
            }
        }
        v
    }
}

/// Reads and validates a plan; errors name the file, the key and the fix.
pub fn load_plan(path: &Path) -> Result<SweepPlan, SweepError> {
    let text = std::fs::read_to_string(path).map_err(|e| SweepError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    parse_plan(&text, path)
}

/// Parses plan text; `path` is only used in error messages.
pub fn parse_plan(text: &str, path: &Path) -> Result<SweepPlan, SweepError> {
    let table: Table = toml::from_str(text).map_err(|e| {
        SweepError::plan(
            path,
            None,
            format!("invalid TOML: {}", e.message().trim()),
            "check the syntax near the reported line",
        )
    })?;
    let plan: SweepPlan = serde_path_to_error::deserialize(Value::Table(table)).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner().to_string();
        let fix = if inner.contains("unknown field") {
            "remove or rename the key; recipes/README.md (\"Sweeps\") lists every field"
        } else if inner.contains("missing field") {
            "add the key (recipes/README.md, \"Sweeps\")"
        } else {
            "give a value of the documented type (recipes/README.md, \"Sweeps\")"
        };
        let key = (key != ".").then_some(key);
        SweepError::plan(path, key.as_deref(), inner, fix)
    })?;
    plan.validate(path)?;
    Ok(plan)
}

impl SweepPlan {
    /// The token-budget axis as (label, budget) pairs.
    pub fn budgets(&self) -> Vec<Budget> {
        match (&self.tokens.total, &self.tokens.per_param) {
            (Some(t), _) => t.iter().map(|&x| Budget::Total(x)).collect(),
            (None, Some(r)) => r.iter().map(|&x| Budget::PerParam(x)).collect(),
            (None, None) => Vec::new(),
        }
    }
}

/// One value of the token-budget axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// This many tokens.
    Total(f64),
    /// This many tokens per non-embedding parameter.
    PerParam(f64),
}

impl Budget {
    /// Label used in run names: `tok200000` or `tpp20`.
    pub fn label(&self) -> String {
        match self {
            Budget::Total(t) => format!("tok{}", t.round() as u64),
            Budget::PerParam(r) => format!("tpp{r}"),
        }
    }

    /// Planned tokens for a model with `n_params` non-embedding parameters.
    pub fn tokens(&self, n_params: u64) -> f64 {
        match self {
            Budget::Total(t) => *t,
            Budget::PerParam(r) => r * n_params as f64,
        }
    }
}

/// The label of a recipe in run names and the `format` column: the file stem of a path, or
/// the name itself.
pub fn recipe_label(recipe: &str) -> String {
    Path::new(recipe)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| recipe.to_string())
}
