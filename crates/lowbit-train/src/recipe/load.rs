//! Loading a recipe: resolve `extends` chains (deep merge, child wins), apply `--set a.b=v`
//! overrides, deserialize with unknown keys rejected, then validate. Every error names the file
//! (or the `--set`), the key and the fix.

use super::schema::Recipe;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;
use toml::{Table, Value};

/// A recipe problem: where, which key, what, and how to fix it.
#[derive(Debug, Error, Clone, PartialEq)]
#[error("{origin}: {}{message}{}", key.as_ref().map(|k| format!("key `{k}`: ")).unwrap_or_default(), fix.as_ref().map(|f| format!(" (fix: {f})")).unwrap_or_default())]
pub struct RecipeError {
    /// The file (or `--set k=v`) the offending value came from.
    pub origin: String,
    /// Dotted key, when one is to blame.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: Option<String>,
}

impl RecipeError {
    pub(crate) fn new(
        origin: impl Into<String>,
        key: Option<&str>,
        message: impl Into<String>,
        fix: Option<&str>,
    ) -> Self {
        Self {
            origin: origin.into(),
            key: key.map(str::to_string),
            message: message.into(),
            fix: fix.map(str::to_string),
        }
    }
}

/// Which file or override set each dotted key.
type Origins = BTreeMap<String, String>;

fn merge(base: &mut Table, over: Table, prefix: &str, origin: &str, origins: &mut Origins) {
    for (k, v) in over {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match (base.get_mut(&k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o, &path, origin, origins),
            (_, v) => {
                record(&v, &path, origin, origins);
                base.insert(k, v);
            }
        }
    }
}

fn record(v: &Value, path: &str, origin: &str, origins: &mut Origins) {
    origins.insert(path.to_string(), origin.to_string());
    if let Value::Table(t) = v {
        for (k, v) in t {
            record(v, &format!("{path}.{k}"), origin, origins);
        }
    }
}

fn resolve_path(name: &str, dir: &Path) -> Result<PathBuf, RecipeError> {
    let p = Path::new(name);
    if name.ends_with(".toml") || p.components().count() > 1 {
        return Ok(p.to_path_buf());
    }
    let path = dir.join(format!("{name}.toml"));
    if path.exists() {
        return Ok(path);
    }
    let mut known: Vec<String> = std::fs::read_dir(dir)
        .map(|it| {
            it.filter_map(|e| e.ok())
                .filter_map(|e| {
                    e.path()
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    known.sort();
    Err(RecipeError::new(
        path.display().to_string(),
        None,
        format!("no such recipe `{name}`"),
        Some(&format!("use one of: {}", known.join(", "))),
    ))
}

fn load_table(
    path: &Path,
    dir: &Path,
    depth: usize,
    origins: &mut Origins,
) -> Result<Table, RecipeError> {
    let origin = path.display().to_string();
    if depth > 8 {
        return Err(RecipeError::new(
            origin,
            Some("extends"),
            "extends chain deeper than 8 (a cycle?)",
            Some("break the cycle of `extends`"),
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| RecipeError::new(origin.clone(), None, format!("cannot read: {e}"), None))?;
    let table: Table = toml::from_str(&text).map_err(|e| {
        RecipeError::new(
            origin.clone(),
            None,
            format!("invalid TOML: {}", e.message()),
            Some("check the syntax near the reported key"),
        )
    })?;
    let mut merged = match table.get("extends") {
        Some(Value::String(base)) => {
            let base_path = resolve_path(base, dir).map_err(|mut e| {
                e.key = Some("extends".into());
                e.origin = origin.clone();
                e
            })?;
            load_table(&base_path, dir, depth + 1, origins)?
        }
        Some(_) => {
            return Err(RecipeError::new(
                origin,
                Some("extends"),
                "must be a recipe name (string)",
                None,
            ));
        }
        None => Table::new(),
    };
    merge(&mut merged, table, "", &origin, origins);
    Ok(merged)
}

fn apply_set(t: &mut Table, set: &str, origins: &mut Origins) -> Result<(), RecipeError> {
    let origin = format!("--set {set}");
    let (key, raw) = set.split_once('=').ok_or_else(|| {
        RecipeError::new(
            origin.clone(),
            None,
            "expected `section.key=value`",
            Some("e.g. --set train.lr=3e-4"),
        )
    })?;
    let key = key.trim();
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(RecipeError::new(
            origin,
            Some(key),
            "empty key segment",
            None,
        ));
    }
    // A TOML value if it parses as one (numbers, booleans, arrays, quoted strings), else a bare
    // string, so `--set data.corpus=shakespeare` works unquoted.
    let value = toml::from_str::<Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()));
    let mut cur = t;
    for p in &parts[..parts.len() - 1] {
        cur = match cur
            .entry(p.to_string())
            .or_insert_with(|| Value::Table(Table::new()))
        {
            Value::Table(t) => t,
            _ => {
                return Err(RecipeError::new(
                    origin,
                    Some(key),
                    format!("`{p}` is not a section"),
                    None,
                ));
            }
        };
    }
    cur.insert(parts[parts.len() - 1].to_string(), value);
    origins.insert(key.to_string(), origin);
    Ok(())
}

fn deserialize<T: serde::de::DeserializeOwned>(
    t: Table,
    origins: &Origins,
    fallback: &str,
) -> Result<T, RecipeError> {
    let de = Value::Table(t);
    serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let key = if path == "." {
            None
        } else {
            Some(path.clone())
        };
        // The deepest key with a recorded origin decides which file to blame.
        let mut origin = fallback.to_string();
        let mut probe = path.clone();
        loop {
            if let Some(o) = origins.get(&probe) {
                origin = o.clone();
                break;
            }
            match probe.rsplit_once('.') {
                Some((head, _)) => probe = head.to_string(),
                None => break,
            }
        }
        let fix = if inner.contains("unknown field") {
            Some("remove or rename the key; recipes/README.md lists every field")
        } else if inner.contains("missing field") {
            Some("add the key (recipes/README.md lists every field)")
        } else {
            Some("give a value of the documented type (recipes/README.md)")
        };
        RecipeError::new(origin, key.as_deref(), inner, fix)
    })
}

/// `"none"` as a format name means full precision, so `--set compression.input=none` turns a
/// W4A4 recipe into a weight-only one (TOML has no null to `--set`).
fn normalize(r: &mut Recipe) {
    for f in [&mut r.compression.weight, &mut r.compression.input] {
        if f.as_deref() == Some("none") {
            *f = None;
        }
    }
}

/// Parses recipe text (no `extends`), for tests and tools.
pub fn parse_recipe_str(text: &str, origin: &str) -> Result<Recipe, RecipeError> {
    let table: Table = toml::from_str(text).map_err(|e| {
        RecipeError::new(origin, None, format!("invalid TOML: {}", e.message()), None)
    })?;
    let mut origins = Origins::new();
    record(&Value::Table(table.clone()), "", origin, &mut origins);
    let mut r = deserialize(table, &origins, origin)?;
    normalize(&mut r);
    super::validate::validate(&r, origin)?;
    Ok(r)
}

/// Loads a recipe of any schema `T` (e.g. `lowbit finetune`'s): resolves `extends` in
/// `recipes_dir`, applies `sets`, deserializes with unknown keys rejected. Returns it with the
/// origin of every dotted key (for validation errors that blame the right file) and the path.
pub fn load_recipe_as<T: serde::de::DeserializeOwned>(
    name_or_path: &str,
    recipes_dir: &Path,
    sets: &[String],
) -> Result<(T, BTreeMap<String, String>, String), RecipeError> {
    let path = resolve_path(name_or_path, recipes_dir)?;
    let mut origins = Origins::new();
    let mut table = load_table(&path, recipes_dir, 0, &mut origins)?;
    for s in sets {
        apply_set(&mut table, s, &mut origins)?;
    }
    let origin = path.display().to_string();
    let recipe = deserialize(table, &origins, &origin)?;
    Ok((recipe, origins, origin))
}

/// Loads recipe `name_or_path` (a name in `recipes_dir` or a path), applies `sets` in order and
/// validates the result.
pub fn load_recipe(
    name_or_path: &str,
    recipes_dir: &Path,
    sets: &[String],
) -> Result<Recipe, RecipeError> {
    let (mut recipe, origins, origin) = load_recipe_as::<Recipe>(name_or_path, recipes_dir, sets)?;
    normalize(&mut recipe);
    super::validate::validate_with_origins(&recipe, &origin, &origins)?;
    Ok(recipe)
}
