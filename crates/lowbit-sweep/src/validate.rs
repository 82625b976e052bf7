//! Plan validation: what serde cannot check — non-empty axes, positive numbers, the learning-rate
//! rule's keys, overrides that do not fight the sweep, unique labels. Every error names the plan
//! file, the key and the fix.

use crate::error::SweepError;
use crate::plan::{LrRule, SizeSpec, SweepPlan, recipe_label};
use std::path::Path;

/// Keys the sweep sets on every run; `train.set` may not touch them.
const MANAGED: [&str; 5] = [
    "model.",
    "train.steps",
    "train.batch_size",
    "train.seq_len",
    "train.lr",
];

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
}
