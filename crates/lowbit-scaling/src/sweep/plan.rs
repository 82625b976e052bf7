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

use super::error::SweepError;
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

/// Keys the sweep sets on every run; `train.set` may not touch them.
const MANAGED: [&str; 5] = [
    "model.",
    "train.steps",
    "train.batch_size",
    "train.seq_len",
    "train.lr",
];

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

fn positive_list(path: &Path, key: &str, v: &[f64]) -> Result<(), SweepError> {
    if v.is_empty() {
        return Err(SweepError::plan(
            path,
            Some(key),
            "empty list",
            "give at least one value",
        ));
    }
    for (i, x) in v.iter().enumerate() {
        if !(x.is_finite() && *x > 0.0) {
            return Err(SweepError::plan(
                path,
                Some(&format!("{key}[{i}]")),
                format!("{x} is not a positive number"),
                "token budgets are positive",
            ));
        }
    }
    Ok(())
}

fn label_ok(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl SweepPlan {
    /// Checks what serde cannot: non-empty axes, positive numbers, the lr rule's keys,
    /// overrides that do not fight the sweep, unique labels.
    pub fn validate(&self, path: &Path) -> Result<(), SweepError> {
        let err =
            |key: &str, msg: String, fix: &str| Err(SweepError::plan(path, Some(key), msg, fix));
        if self.recipes.is_empty() {
            return err(
                "recipes",
                "empty list".into(),
                "name at least one recipe, e.g. [\"bf16\"]",
            );
        }
        if self.sizes.is_empty() {
            return err(
                "sizes",
                "no sizes".into(),
                "add a [[sizes]] table with a preset or d_model/n_layers/n_heads",
            );
        }
        match (&self.tokens.total, &self.tokens.per_param) {
            (Some(t), None) => positive_list(path, "tokens.total", t)?,
            (None, Some(r)) => positive_list(path, "tokens.per_param", r)?,
            _ => {
                return err(
                    "tokens",
                    "needs exactly one of `total` and `per_param`".into(),
                    "give `total = [tokens, …]` or `per_param = [ratio, …]`",
                );
            }
        }
        let t = &self.train;
        if t.batch_size == 0 {
            return err("train.batch_size", "must be positive".into(), "e.g. 16");
        }
        if t.seq_len == 0 {
            return err("train.seq_len", "must be positive".into(), "e.g. 128");
        }
        if let Some(lr) = t.lr {
            if !(lr.is_finite() && lr > 0.0) {
                return err(
                    "train.lr",
                    format!("{lr} is not a positive number"),
                    "e.g. 1e-3",
                );
            }
        }
        match t.lr_rule {
            LrRule::Fixed => {}
            LrRule::PerSize => {
                for (i, s) in self.sizes.iter().enumerate() {
                    if s.lr.is_none() {
                        return err(
                            &format!("sizes[{i}].lr"),
                            "missing: lr_rule = \"per-size\" needs every size's lr".into(),
                            "add `lr = …` to the size or use lr_rule = \"fixed\"",
                        );
                    }
                }
            }
            LrRule::InverseWidth => {
                if t.lr.is_none() {
                    return err(
                        "train.lr",
                        "missing: lr_rule = \"inverse-width\" scales it".into(),
                        "add `lr = …` to [train]",
                    );
                }
                if t.lr_base_d_model.is_none_or(|d| d == 0) {
                    return err(
                        "train.lr_base_d_model",
                        "missing or zero: lr_rule = \"inverse-width\" needs the d_model at which lr = train.lr".into(),
                        "add e.g. `lr_base_d_model = 128` to [train]",
                    );
                }
            }
        }
        if t.lr_rule != LrRule::InverseWidth && t.lr_base_d_model.is_some() {
            return err(
                "train.lr_base_d_model",
                "only used with lr_rule = \"inverse-width\"".into(),
                "remove it or set lr_rule = \"inverse-width\"",
            );
        }
        for (i, s) in self.sizes.iter().enumerate() {
            if let Some(lr) = s.lr {
                if t.lr_rule != LrRule::PerSize {
                    return err(
                        &format!("sizes[{i}].lr"),
                        "only used with train.lr_rule = \"per-size\"".into(),
                        "remove it or set lr_rule = \"per-size\" in [train]",
                    );
                }
                if !(lr.is_finite() && lr > 0.0) {
                    return err(
                        &format!("sizes[{i}].lr"),
                        format!("{lr} is not a positive number"),
                        "e.g. 1e-3",
                    );
                }
            }
            if s.preset.is_none()
                && (s.d_model.is_none() || s.n_layers.is_none() || s.n_heads.is_none())
            {
                return err(
                    &format!("sizes[{i}]"),
                    "needs a preset or all of d_model, n_layers, n_heads".into(),
                    "add `preset = \"tiny\"` or the three dimensions",
                );
            }
            if !label_ok(&s.label()) {
                return err(
                    &format!("sizes[{i}].name"),
                    format!("`{}` is not a usable run-name label", s.label()),
                    "use letters, digits, `-`, `_` and `.` only",
                );
            }
        }
        for (i, set) in t.set.iter().enumerate() {
            let key = set.split_once('=').map(|(k, _)| k.trim()).unwrap_or("");
            if key.is_empty() {
                return err(
                    &format!("train.set[{i}]"),
                    format!("`{set}` is not `section.key=value`"),
                    "e.g. \"data.vocab_size=1024\"",
                );
            }
            if MANAGED
                .iter()
                .any(|m| key == *m || (m.ends_with('.') && key.starts_with(m)))
            {
                return err(
                    &format!("train.set[{i}]"),
                    format!("`{key}` is set by the sweep itself"),
                    "model sizes go in [[sizes]], budgets in [tokens], batch/seq_len/lr in [train]",
                );
            }
        }
        let mut labels: Vec<String> = self.sizes.iter().map(SizeSpec::label).collect();
        labels.sort();
        if let Some(w) = labels.windows(2).find(|w| w[0] == w[1]) {
            return err(
                "sizes",
                format!("two sizes are labelled `{}`", w[0]),
                "give each size a distinct `name`",
            );
        }
        let mut recipes: Vec<String> = self.recipes.iter().map(|r| recipe_label(r)).collect();
        recipes.sort();
        if let Some(w) = recipes.windows(2).find(|w| w[0] == w[1]) {
            return err(
                "recipes",
                format!("recipe `{}` is listed twice", w[0]),
                "list each recipe once",
            );
        }
        Ok(())
    }

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
