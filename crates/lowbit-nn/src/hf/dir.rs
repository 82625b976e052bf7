//! HF-format model directories: `config.json` + `model.safetensors` (+ `tokenizer.json`), the
//! layout of `transformers`' `save_pretrained` and of every lowbit checkpoint step directory.
//!
//! [`load_dir`] takes a plain HF directory, a lowbit step directory (`RUN/step-00000100/`) or a
//! lowbit run directory, whose `LATEST` file names the newest complete step directory.
//!
//! Tied embeddings: `transformers` omits `lm_head.weight` when `tie_word_embeddings` is true,
//! but some exporters still write it. Such a file is accepted when its `lm_head.weight` equals
//! `model.embed_tokens.weight` exactly (the copy is dropped); a different head is an error, since
//! the config then contradicts the weights. Older `transformers` versions saved the RoPE buffer
//! `model.layers.{i}.self_attn.rotary_emb.inv_freq`; it is recomputed from `rope_theta` and
//! ignored on load.

use super::compressed::apply_quantization_config;
use super::config::{CONFIG_FILE, SpecialTokens, config_to_json, read_config_json};
use super::quant_config::QuantizationConfig;
use super::state::{load_state_dict, state_dict};
use super::weights::{
    MODEL_FILE, StoreDtype, read_checkpoint, write_safetensors, write_text_atomic,
};
use crate::NnError;
use crate::llama::{CompressionPolicy, Llama, LlamaConfig};
use burn::tensor::Device;
use std::path::{Path, PathBuf};

/// Name of the tokenizer file inside an HF directory.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// File of a lowbit run directory naming its newest complete step directory.
pub const LATEST_FILE: &str = "LATEST";

/// A model loaded from an HF-format directory.
#[derive(Debug)]
pub struct LoadedModel {
    /// The model, on the requested device.
    pub model: Llama,
    /// Its configuration (from `config.json`, with the compression policy applied).
    pub config: LlamaConfig,
    /// Special token ids from `config.json`.
    pub special: SpecialTokens,
    /// `tokenizer.json` beside the weights, if there is one.
    pub tokenizer: Option<PathBuf>,
    /// The directory the files were read from (the step directory for a run directory).
    pub dir: PathBuf,
    /// The `quantization_config` of a compressed checkpoint (its coded linears).
    pub quantization: Option<QuantizationConfig>,
}

/// Options of [`load_dir_with`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Compression policy to apply instead of the one recorded in `config.json`
    /// (`lowbit_compression`); `None` keeps the recorded one (full precision if none).
    pub compression: Option<CompressionPolicy>,
}

/// Options of [`save_dir_with`].
#[derive(Debug, Clone, Default)]
pub struct SaveOptions {
    /// Element type of `model.safetensors`.
    pub dtype: StoreDtype,
    /// Special token ids written to `config.json`.
    pub special: SpecialTokens,
}

/// The directory holding `config.json` for `path`: `path` itself, or, for a lowbit run
/// directory, `path/<contents of LATEST>`.
///
/// # Errors
/// [`NnError::MissingFile`] naming `path` when it does not exist, `config.json` when neither it
/// nor `LATEST` is there, and the step directory when `LATEST` points nowhere.
pub fn resolve_dir(path: &Path) -> Result<PathBuf, NnError> {
    if !path.exists() {
        return Err(NnError::MissingFile {
            path: path.to_path_buf(),
            what: "checkpoint directory".into(),
        });
    }
    if path.join(CONFIG_FILE).is_file() {
        return Ok(path.to_path_buf());
    }
    let latest = path.join(LATEST_FILE);
    if latest.is_file() {
        let text = std::fs::read_to_string(&latest).map_err(|e| NnError::Io {
            path: latest.clone(),
            source: e,
        })?;
        let name = text.trim();
        if name.is_empty() || name.contains('/') || name.contains('\\') || name == ".." {
            return Err(NnError::Checkpoint {
                path: latest,
                message: format!("expected a step directory name, found {name:?}"),
            });
        }
        let step = path.join(name);
        if !step.join(CONFIG_FILE).is_file() {
            return Err(NnError::MissingFile {
                path: step.join(CONFIG_FILE),
                what: format!("model config of the step named by {}", latest.display()),
            });
        }
        return Ok(step);
    }
    Err(NnError::MissingFile {
        path: path.join(CONFIG_FILE),
        what: "model config; expected an HF directory, a lowbit step directory or a run directory with LATEST".into(),
    })
}

/// Loads a full-precision (or `config.json`-recorded compression) model; see [`load_dir_with`].
pub fn load_dir(path: &Path, device: &Device) -> Result<LoadedModel, NnError> {
    load_dir_with(path, device, &LoadOptions::default())
}

/// Loads the model of an HF directory, lowbit step directory or lowbit run directory.
///
/// # Errors
/// [`NnError::MissingFile`] for an absent directory, config or weights file;
/// [`NnError::UnsupportedConfig`] naming a config field; [`NnError::Checkpoint`] for a
/// malformed weights file or a tied head that differs from the embedding; [`NnError::StateDict`]
/// naming missing, unknown or mis-shaped tensors.
pub fn load_dir_with(
    path: &Path,
    device: &Device,
    opts: &LoadOptions,
) -> Result<LoadedModel, NnError> {
    let dir = resolve_dir(path)?;
    let config_path = dir.join(CONFIG_FILE);
    let (mut config, special) = read_config_json(&config_path)?;
    let quantization = read_quantization_config(&config_path)?;
    if let Some(p) = &opts.compression {
        config = config.with_compression(p.clone());
    }
    let mut tensors = read_checkpoint(&dir)?;
    tensors.retain(|name, _| !name.ends_with(".rotary_emb.inv_freq"));
    if config.tie_embeddings
        && let Some(head) = tensors.get("lm_head.weight")
    {
        if tensors.get("model.embed_tokens.weight") != Some(head) {
            return Err(NnError::Checkpoint {
                path: dir.join(MODEL_FILE),
                message: "tie_word_embeddings is true but lm_head.weight differs from model.embed_tokens.weight; set tie_word_embeddings to false".into(),
            });
        }
        tensors.remove("lm_head.weight");
    }
    let mut model = config.init(device)?;
    if let Some(qc) = &quantization {
        model = apply_quantization_config(model, qc, &mut tensors, device)?;
    }
    let model = load_state_dict(model, &tensors)?;
    let tokenizer = Some(dir.join(TOKENIZER_FILE)).filter(|p| p.is_file());
    Ok(LoadedModel {
        model,
        config,
        special,
        tokenizer,
        dir,
        quantization,
    })
}

/// The `quantization_config` of the `config.json` at `path` (already known to parse as JSON).
fn read_quantization_config(path: &Path) -> Result<Option<QuantizationConfig>, NnError> {
    let text = std::fs::read_to_string(path).map_err(|e| NnError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| NnError::Checkpoint {
        path: path.to_path_buf(),
        message: format!("not valid JSON: {e}"),
    })?;
    QuantizationConfig::from_config_json(&v)
}

/// Writes `config.json` and an f32 `model.safetensors` into `dir` (created if needed).
pub fn save_dir(model: &Llama, cfg: &LlamaConfig, dir: &Path) -> Result<(), NnError> {
    save_dir_with(model, cfg, dir, &SaveOptions::default())
}

/// Writes `config.json` and `model.safetensors` (each atomically) into `dir`.
///
/// # Errors
/// [`NnError::ModelMismatch`] if `model` does not have `cfg`'s tensor shapes, [`NnError::Io`] on a
/// write failure.
pub fn save_dir_with(
    model: &Llama,
    cfg: &LlamaConfig,
    dir: &Path,
    opts: &SaveOptions,
) -> Result<(), NnError> {
    if model.layers.len() != cfg.n_layers {
        return Err(NnError::ModelMismatch(format!(
            "layers {} vs {}",
            model.layers.len(),
            cfg.n_layers
        )));
    }
    save_tensors_dir(&state_dict(model)?, cfg, dir, opts, None)
}

/// Writes `tensors` as `model.safetensors` and `cfg` (plus the top-level key `extra`, e.g. a
/// `quantization_config`) as `config.json`, each atomically, into `dir` (created if needed).
///
/// # Errors
/// [`NnError::ModelMismatch`] if the embedding or head disagree with `cfg`, [`NnError::Io`] on a
/// write failure.
pub(crate) fn save_tensors_dir(
    tensors: &std::collections::BTreeMap<String, super::state::HostTensor>,
    cfg: &LlamaConfig,
    dir: &Path,
    opts: &SaveOptions,
    extra: Option<(&str, serde_json::Value)>,
) -> Result<(), NnError> {
    let emb = tensors
        .get("model.embed_tokens.weight")
        .map(|t| t.shape.clone());
    let want = vec![cfg.vocab_size, cfg.d_model];
    let tied = !tensors.contains_key("lm_head.weight");
    if emb.as_ref() != Some(&want) || tied != cfg.tie_embeddings {
        return Err(NnError::ModelMismatch(format!(
            "embedding {emb:?} vs {want:?}, tied {tied} vs {}",
            cfg.tie_embeddings,
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| NnError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    write_safetensors(&dir.join(MODEL_FILE), tensors, opts.dtype)?;
    let path = dir.join(CONFIG_FILE);
    let mut v = config_to_json(cfg, &opts.special, opts.dtype);
    if let (Some((k, x)), Some(o)) = (extra, v.as_object_mut()) {
        o.insert(k.to_string(), x);
    }
    let text = serde_json::to_string_pretty(&v).map_err(|e| NnError::Checkpoint {
        path: path.clone(),
        message: format!("cannot encode config: {e}"),
    })?;
    write_text_atomic(&path, &(text + "\n"))
}
