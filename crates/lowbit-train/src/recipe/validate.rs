//! Semantic checks after parsing: model dimensions, schedule ranges, format names, and that every
//! compressed layer's reduction dimension is a multiple of its formats' block sizes.

use super::load::RecipeError;
use super::model::resolve;
use super::schema::Recipe;
use lowbit_nn::NnError;
use lowbit_nn::llama::CompressionPolicy;
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
    // Formats and globs resolve as the trainer resolves them: the run's one registry
    // (recipe/grids.rs), lowbit-nn's policy (one parser, one glob matcher).
    let c = &r.compression;
    let reg = super::grids::recipe_registry(r, Path::new("")).map_err(|(key, msg)| {
        err(
            &key,
            msg,
            "point to a valid grid file (lowbit grids show FILE), or fix or remove it",
        )
    })?;
    let policy = CompressionPolicy::new()
        .with_weight(c.weight.clone())
        .with_input(c.input.clone())
        .with_include(c.include.clone())
        .with_exclude(c.exclude.clone());
    let resolved = policy.resolve(&reg).map_err(|e| match e {
        NnError::Policy { key, message } => {
            let fix = if key == "include" || key == "exclude" {
                "use * and ? wildcards"
            } else {
                "`lowbit formats list` shows valid names"
            };
            err(&format!("compression.{key}"), message, fix)
        }
        other => err("compression", other.to_string(), "see recipes/README.md"),
    })?;
    for (key, name, format) in [
        ("compression.weight", &c.weight, &resolved.formats.weight),
        ("compression.input", &c.input, &resolved.formats.input),
    ] {
        let (Some(name), Some(format)) = (name, format) else {
            continue;
        };
        let block = format.block_size();
        for (layer, d_in, _) in dims.linears() {
            if resolved.selects(&layer) && d_in % block != 0 {
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
