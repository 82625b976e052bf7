//! Recipe → model: the Llama configuration with its compression policy, and a host-side
//! initialisation that is a pure function of (seed, parameter name).
//!
//! Why initialise on the host: Burn's random tensors draw from one backend-global generator
//! (`Device::seed`), so the values a parameter gets depend on what else drew from it first —
//! another thread, another test, another backend's kernel order. Drawing every parameter from its
//! own ChaCha8 stream keyed by its HF name makes the initial model identical on every backend and
//! thread count, which the bit-identical-resume contract needs.

use super::error::TrainError;
use crate::recipe::{EstimatorName, HadamardMode, Recipe, resolve_model as resolve};
use burn::tensor::Device;
use lowbit_formats::GridRegistry;
use lowbit_nn::hf::{HostTensor, load_state_dict, state_dict};
use lowbit_nn::llama::{CompressionPolicy, Llama, LlamaConfig};
use lowbit_nn::quant::estimator::Estimator;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use std::collections::BTreeMap;
use std::path::Path;

/// The model configuration of `recipe` for a tokenizer of `vocab_size` tokens, its grids
/// resolved through the run's registry from the working directory
/// ([`crate::recipe::recipe_registry`]).
pub fn llama_config(recipe: &Recipe, vocab_size: usize) -> Result<LlamaConfig, TrainError> {
    let reg = crate::recipe::recipe_registry(recipe, Path::new(""))
        .map_err(|(key, message)| TrainError::Unsupported { key, message })?;
    llama_config_with(recipe, vocab_size, &reg)
}

/// [`llama_config`] with the run's registry built by the caller (once per run).
pub fn llama_config_with(
    recipe: &Recipe,
    vocab_size: usize,
    reg: &GridRegistry,
) -> Result<LlamaConfig, TrainError> {
    let dims = resolve(&recipe.model)
        .map_err(|(key, message)| TrainError::Unsupported { key, message })?;
    let c = &recipe.compression;
    let hadamard = match c.hadamard {
        HadamardMode::None => false,
        HadamardMode::Half => true,
        HadamardMode::Full => {
            return Err(TrainError::Unsupported {
                key: "compression.hadamard".into(),
                message: "`full` (rotate back after quantizing) is not implemented; use `half` \
                          (QuEST's HalfHadamard, the product stays in the rotated basis)"
                    .into(),
            });
        }
    };
    let estimator = match c.estimator {
        EstimatorName::Ste => Estimator::Ste,
        EstimatorName::ClippedSte => Estimator::ClippedSte { clip: 1.0 },
        EstimatorName::Trust => Estimator::Trust {
            factor: c.trust_factor as f32,
        },
        EstimatorName::Lsq => Estimator::Lsq,
    };
    let policy = CompressionPolicy::new()
        .with_weight(c.weight.clone())
        .with_input(c.input.clone())
        .with_hadamard(hadamard)
        .with_estimator(estimator)
        .with_grids(crate::recipe::run_grids(recipe, reg))
        .with_include(c.include.clone())
        .with_exclude(c.exclude.clone());
    Ok(LlamaConfig::new(
        vocab_size,
        dims.d_model,
        dims.n_layers,
        dims.n_heads,
        dims.n_kv_heads,
        dims.d_ff,
    )
    .with_rope_theta(recipe.model.rope_theta)
    .with_rms_norm_eps(recipe.model.rms_norm_eps)
    .with_tie_embeddings(recipe.model.tie_embeddings)
    .with_max_seq_len(recipe.train.seq_len)
    .with_compression(policy))
}

/// FNV-1a of a name: the ChaCha8 stream of that parameter.
fn stream_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The initial value of parameter `name`: norm scales 1, biases 0, output projections
/// (`o_proj`, `down_proj`) N(0, σ/√(2L)) as in GPT-2 / QuEST, every other matrix N(0, σ).
fn init_values(name: &str, n: usize, cfg: &LlamaConfig, seed: u64) -> Result<Vec<f32>, TrainError> {
    if name.ends_with("norm.weight") {
        return Ok(vec![1.0; n]);
    }
    if name.ends_with(".bias") {
        return Ok(vec![0.0; n]);
    }
    let std = if name.ends_with("o_proj.weight") || name.ends_with("down_proj.weight") {
        cfg.init_std / (2.0 * cfg.n_layers as f64).sqrt()
    } else {
        cfg.init_std
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream_of(name));
    let dist = Normal::new(0.0f32, std as f32).map_err(|e| TrainError::Unsupported {
        key: "model".into(),
        message: format!("initialisation std {std}: {e}"),
    })?;
    Ok((0..n).map(|_| dist.sample(&mut rng)).collect())
}

/// Whether `name` is an LSQ step size (`*.weight_step`, `*.input_step`), which is not drawn.
fn is_lsq_step(name: &str) -> bool {
    name.ends_with(".weight_step") || name.ends_with(".input_step")
}

/// Builds the model on `device` and initialises every parameter from (seed, name); then every
/// LSQ weight step is recomputed from the loaded weights by LSQ's rule (Esser et al. 2020,
/// §2.1: `2·mean|v|/sqrt(Q_P)` per row of the weight the quantizer sees, rotated if the layer
/// rotates), and every LSQ input step keeps `CompressedLinearConfig::init`'s value. Drawing the
/// steps like weights would give them random signs.
pub fn init_model(cfg: &LlamaConfig, seed: u64, device: &Device) -> Result<Llama, TrainError> {
    let model = cfg.init(device)?;
    let current = state_dict(&model)?;
    let mut init = BTreeMap::new();
    for (name, t) in current {
        // LSQ steps are replaced below (weight) or kept (input); integer tensors (a coded
        // weight's codes) are not drawn.
        if is_lsq_step(&name) || t.as_f32().is_none() {
            init.insert(name, t);
            continue;
        }
        let values = init_values(&name, t.len(), cfg, seed)?;
        init.insert(name, HostTensor::f32(t.shape, values));
    }
    Ok(load_state_dict(model, &init)?.with_lsq_init()?)
}
