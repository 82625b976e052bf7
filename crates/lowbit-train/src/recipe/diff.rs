//! Which keys two resolved recipes differ in, as dotted TOML paths, and which of those a resume
//! may change.
//!
//! A resume rebuilds the model from the *new* recipe and loads the checkpoint's tensors into it;
//! if the format, estimator, shapes, optimizer or data differ, the run silently becomes another
//! experiment. So a resume compares the checkpoint's `recipe.resolved.toml` with the new resolved
//! recipe key by key and refuses any difference outside [`RESUME_MAY_CHANGE`] (the trainer's
//! `allow_recipe_change`, `lowbit train --allow-recipe-change`, overrides that, with a warning).

use super::schema::Recipe;
use toml::Value;

/// Keys a resume may change: how long to train, where, and how often to log, evaluate and
/// checkpoint — none changes the model, the data order or the optimizer's update rule.
///
/// `train.steps` also stretches (or shrinks) the OneCycle schedule from the resumed step on,
/// since the schedule's length is the step count; that is what "train longer" means here.
pub const RESUME_MAY_CHANGE: &[&str] = &[
    "extends",
    "description",
    "train.steps",
    "train.devices",
    "train.on_non_finite",
    "log.every_steps",
    "eval.every_steps",
    "eval.batches",
    "checkpoint.every_steps",
    "checkpoint.keep_last",
];

/// Leaf keys (dotted paths; arrays compare whole) whose values differ between `a` and `b`,
/// including keys present in only one of them; sorted.
pub fn changed_keys(a: &Value, b: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(Some(a), Some(b), "", &mut out);
    out.sort();
    out
}

fn walk(a: Option<&Value>, b: Option<&Value>, path: &str, out: &mut Vec<String>) {
    // A table on one side only: every leaf under it differs.
    let empty = Value::Table(Default::default());
    let (a, b) = match (a, b) {
        (None, Some(t @ Value::Table(_))) => (Some(&empty), Some(t)),
        (Some(t @ Value::Table(_)), None) => (Some(t), Some(&empty)),
        other => other,
    };
    match (a, b) {
        (Some(Value::Table(x)), Some(Value::Table(y))) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(x.get(k), y.get(k), &p, out);
            }
        }
        (x, y) if x == y => {}
        _ => out.push(path.to_string()),
    }
}

/// The differences between a checkpoint's resolved recipe (its text) and `new`, split into
/// `(refused, allowed)` by [`RESUME_MAY_CHANGE`].
///
/// The old text is parsed as a [`Recipe`] first, so keys a newer lowbit added with a default
/// compare equal to that default; text that no longer parses as a recipe is compared as plain
/// TOML (every added key then shows as a difference).
///
/// # Errors
/// The old text is not TOML, or a recipe does not serialise (the message says which).
pub fn resume_changes(old_text: &str, new: &Recipe) -> Result<(Vec<String>, Vec<String>), String> {
    let old = match toml::from_str::<Recipe>(old_text) {
        Ok(r) => {
            Value::try_from(&r).map_err(|e| format!("cannot serialise the old recipe: {e}"))?
        }
        Err(_) => toml::from_str::<Value>(old_text).map_err(|e| format!("not TOML: {e}"))?,
    };
    let new = Value::try_from(new).map_err(|e| format!("cannot serialise the new recipe: {e}"))?;
    Ok(changed_keys(&old, &new)
        .into_iter()
        .partition(|k| !RESUME_MAY_CHANGE.contains(&k.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_paths_of_every_difference() {
        let a: Value = toml::from_str(
            "x = 1\n[compression]\nweight = \"nvfp4\"\ninclude = [\"a\"]\n[train]\nsteps = 3\n",
        )
        .unwrap();
        let b: Value = toml::from_str(
            "x = 1\n[compression]\nweight = \"int4\"\ninclude = [\"a\", \"b\"]\n[train]\nsteps = \
             3\nlr = 1.0\n[log]\nevery_steps = 1\n",
        )
        .unwrap();
        assert_eq!(
            changed_keys(&a, &b),
            vec![
                "compression.include",
                "compression.weight",
                "log.every_steps",
                "train.lr"
            ]
        );
        assert!(changed_keys(&a, &a).is_empty());
    }
}
