//! Semantic checks after parsing: model dimensions, schedule ranges, format names, and that every
//! compressed layer's reduction dimension is a multiple of its formats' block sizes.

use super::load::RecipeError;
use super::model::resolve;
use super::schema::Recipe;
use lowbit_formats::{Format, GridRegistry};
use std::collections::BTreeMap;
use std::path::Path;

fn blame(origins: &BTreeMap<String, String>, key: &str, fallback: &str) -> String {
    origins
        .get(key)
        .cloned()
        .unwrap_or_else(|| fallback.to_string())
}

/// Validates with every error attributed to `origin`.
pub fn validate(r: &Recipe, origin: &str) -> Result<(), RecipeError> {
    validate_with_origins(r, origin, &BTreeMap::new())
}

/// Validates, blaming the file (or `--set`) that set each offending key.
pub fn validate_with_origins(
    r: &Recipe,
    origin: &str,
    origins: &BTreeMap<String, String>,
) -> Result<(), RecipeError> {
    let err = |key: &str, msg: String, fix: &str| {
        RecipeError::new(blame(origins, key, origin), Some(key), msg, Some(fix))
    };
    let dims = resolve(&r.model)
        .map_err(|(key, msg)| err(&key, msg, "see recipes/README.md, section [model]"))?;
    let t = &r.train;
    if t.steps == 0 {
        return Err(err(
            "train.steps",
            "must be positive".into(),
            "set train.steps ≥ 1",
        ));
    }
    if t.batch_size == 0 || t.seq_len == 0 {
        return Err(err(
            "train.batch_size",
            "batch_size and seq_len must be positive".into(),
            "set both ≥ 1",
        ));
    }
    if t.grad_accum == 0 || t.batch_size % t.grad_accum != 0 {
        return Err(err(
            "train.grad_accum",
            format!(
                "batch_size {} is not divisible by grad_accum {}",
                t.batch_size, t.grad_accum
            ),
            "pick grad_accum dividing batch_size",
        ));
    }
    if !(t.lr > 0.0 && t.lr.is_finite()) {
        return Err(err(
            "train.lr",
            format!("learning rate {} must be positive", t.lr),
            "e.g. train.lr = 1e-3",
        ));
    }
    if !(0.0..1.0).contains(&t.warmup_frac) {
        return Err(err(
            "train.warmup_frac",
            format!("{} is outside [0, 1)", t.warmup_frac),
            "e.g. 0.1",
        ));
    }
    if !(0.0..1.0).contains(&t.beta1) || !(0.0..1.0).contains(&t.beta2) {
        return Err(err(
            "train.beta2",
            "AdamW betas must be in [0, 1)".into(),
            "e.g. beta1 = 0.9, beta2 = 0.95",
        ));
    }
    if r.checkpoint.keep_last == 0 {
        return Err(err(
            "checkpoint.keep_last",
            "must keep at least one checkpoint".into(),
            "set checkpoint.keep_last ≥ 1",
        ));
    }
    for (key, v) in [
        ("checkpoint.every_steps", r.checkpoint.every_steps),
        ("log.every_steps", r.log.every_steps),
        ("eval.every_steps", r.eval.every_steps),
    ] {
        if v == 0 {
            return Err(err(
                key,
                "must be positive".into(),
                "use a step interval ≥ 1",
            ));
        }
    }
    let c = &r.compression;
    let patterns = c
        .include
        .iter()
        .map(|g| {
            glob::Pattern::new(g).map_err(|e| {
                err(
                    "compression.include",
                    format!("bad glob `{g}`: {e}"),
                    "use * and ? wildcards",
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let excludes = c
        .exclude
        .iter()
        .map(|g| {
            glob::Pattern::new(g).map_err(|e| {
                err(
                    "compression.exclude",
                    format!("bad glob `{g}`: {e}"),
                    "use * and ? wildcards",
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (key, name, grid_key, grid_file) in [
        (
            "compression.weight",
            &c.weight,
            "compression.weight_grid_file",
            &c.weight_grid_file,
        ),
        (
            "compression.input",
            &c.input,
            "compression.input_grid_file",
            &c.input_grid_file,
        ),
    ] {
        let Some(name) = name else { continue };
        let mut reg = GridRegistry::builtin()
            .with_dir(Path::new("grids"))
            .map_err(|e| err(grid_key, e.to_string(), "fix or remove the grid file"))?;
        if let Some(f) = grid_file {
            reg = reg.with_file(Path::new(f)).map_err(|e| {
                err(
                    grid_key,
                    e.to_string(),
                    "point to a valid grid file (lowbit grids show FILE)",
                )
            })?;
        }
        let format = Format::parse_with(name, &reg).map_err(|e| {
            err(
                key,
                e.to_string(),
                "`lowbit formats list` shows valid names",
            )
        })?;
        let block = format.block_size();
        for (layer, d_in, _) in dims.linears() {
            let selected = patterns.iter().any(|p| p.matches(&layer))
                && !excludes.iter().any(|p| p.matches(&layer));
            if selected && d_in % block != 0 {
                return Err(err(
                    key,
                    format!(
                        "layer `{layer}` has d_in = {d_in}, not a multiple of block {block} of `{name}`"
                    ),
                    &format!(
                        "choose model sizes divisible by {block}, a smaller block (`{name}:block=N`), or add the layer to compression.exclude"
                    ),
                ));
            }
        }
    }
    Ok(())
}
