//! `config.json` of `transformers`' `LlamaForCausalLM` ↔ [`LlamaConfig`].
//!
//! Reference: `transformers/models/llama/configuration_llama.py`. Reads both the 4.x layout
//! (top-level `rope_theta`, optional `rope_scaling`) and the 5.x layout (`rope_parameters:
//! {rope_type, rope_theta}`); writes a file both load (top-level `rope_theta` *and*
//! `rope_parameters`). Anything that would change the model's function in a way lowbit's Llama
//! does not implement (RoPE scaling, biases, another activation, a decoupled `head_dim`) is an
//! [`NnError::UnsupportedConfig`] naming the field, never silently ignored. Fields that do not
//! change the forward pass (`attention_dropout`, `pretraining_tp`, `use_cache`, dtype, ids) are
//! accepted.

use super::weights::StoreDtype;
use crate::NnError;
use crate::llama::{CompressionPolicy, LlamaConfig};
use serde_json::{Map, Value, json};
use std::path::Path;

/// Name of the config file inside an HF directory.
pub const CONFIG_FILE: &str = "config.json";

/// Non-architectural `config.json` entries lowbit keeps: special token ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecialTokens {
    /// `bos_token_id`.
    pub bos_token_id: Option<u32>,
    /// `eos_token_id` (an integer or a list in `config.json`); generation stops on any of them.
    pub eos_token_ids: Vec<u32>,
}

fn unsupported(field: &str, message: impl Into<String>) -> NnError {
    NnError::UnsupportedConfig {
        field: field.to_string(),
        message: message.into(),
    }
}

fn usize_field(o: &Map<String, Value>, field: &str) -> Result<Option<usize>, NnError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|x| usize::try_from(x).ok())
            .map(Some)
            .ok_or_else(|| unsupported(field, format!("expected a non-negative integer, got {v}"))),
    }
}

fn required(o: &Map<String, Value>, field: &str) -> Result<usize, NnError> {
    usize_field(o, field)?.ok_or_else(|| unsupported(field, "missing (required)"))
}

fn f64_field(o: &Map<String, Value>, field: &str) -> Result<Option<f64>, NnError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| unsupported(field, format!("expected a number, got {v}"))),
    }
}

fn bool_field(o: &Map<String, Value>, field: &str) -> Result<Option<bool>, NnError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(unsupported(field, format!("expected true/false, got {v}"))),
    }
}

fn id_list(o: &Map<String, Value>, field: &str) -> Result<Vec<u32>, NnError> {
    let one = |v: &Value| {
        v.as_u64()
            .and_then(|x| u32::try_from(x).ok())
            .ok_or_else(|| unsupported(field, format!("expected a token id, got {v}")))
    };
    match o.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().map(one).collect(),
        Some(v) => Ok(vec![one(v)?]),
    }
}

/// The RoPE base from either layout; any RoPE type but `default` is refused.
fn rope_theta(o: &Map<String, Value>) -> Result<f64, NnError> {
    let check_type = |field: &str, params: &Value| -> Result<(), NnError> {
        let ty = params.get("rope_type").or_else(|| params.get("type"));
        match ty {
            None | Some(Value::Null) => Ok(()),
            Some(Value::String(s)) if s == "default" => Ok(()),
            Some(v) => Err(unsupported(
                &format!("{field}.rope_type"),
                format!(
                    "{v} is not supported; lowbit implements only \"default\" RoPE (no scaling)"
                ),
            )),
        }
    };
    if let Some(s) = o.get("rope_scaling").filter(|v| !v.is_null()) {
        check_type("rope_scaling", s)?;
    }
    if let Some(p) = o.get("rope_parameters").filter(|v| !v.is_null()) {
        let Some(po) = p.as_object() else {
            return Err(unsupported(
                "rope_parameters",
                format!("expected an object, got {p}"),
            ));
        };
        check_type("rope_parameters", p)?;
        if let Some(theta) = f64_field(po, "rope_theta")
            .map_err(|_| unsupported("rope_parameters.rope_theta", "expected a number"))?
        {
            return Ok(theta);
        }
    }
    Ok(f64_field(o, "rope_theta")?.unwrap_or(10_000.0))
}

/// Parses a `LlamaForCausalLM` `config.json` value.
///
/// `compression` of the result comes from the lowbit-only key `lowbit_compression` when present
/// (written by [`config_to_json`] for compressed models), else full precision.
///
/// # Errors
/// [`NnError::UnsupportedConfig`] naming the first field that is missing, malformed or describes
/// a model lowbit cannot run.
pub fn config_from_json(v: &Value) -> Result<(LlamaConfig, SpecialTokens), NnError> {
    let o = v
        .as_object()
        .ok_or_else(|| unsupported("<root>", "config.json is not a JSON object"))?;
    if let Some(mt) = o.get("model_type").filter(|v| !v.is_null())
        && mt.as_str() != Some("llama")
    {
        return Err(unsupported(
            "model_type",
            format!("{mt}; only \"llama\" (LlamaForCausalLM) is supported"),
        ));
    }
    if let Some(act) = o.get("hidden_act").filter(|v| !v.is_null())
        && act.as_str() != Some("silu")
    {
        return Err(unsupported(
            "hidden_act",
            format!("{act}; only \"silu\" (SwiGLU) is supported"),
        ));
    }
    for field in ["attention_bias", "mlp_bias"] {
        if bool_field(o, field)? == Some(true) {
            return Err(unsupported(
                field,
                "true; lowbit's Llama has no projection biases",
            ));
        }
    }
    let d_model = required(o, "hidden_size")?;
    let n_heads = required(o, "num_attention_heads")?;
    let n_layers = required(o, "num_hidden_layers")?;
    let vocab = required(o, "vocab_size")?;
    let d_ff = required(o, "intermediate_size")?;
    let n_kv = usize_field(o, "num_key_value_heads")?.unwrap_or(n_heads);
    if n_heads == 0 || d_model % n_heads != 0 {
        return Err(unsupported(
            "num_attention_heads",
            format!("{n_heads} does not divide hidden_size {d_model}"),
        ));
    }
    if n_kv == 0 || n_heads % n_kv != 0 {
        return Err(unsupported(
            "num_key_value_heads",
            format!("{n_kv} does not divide num_attention_heads {n_heads}"),
        ));
    }
    if let Some(hd) = usize_field(o, "head_dim")?
        && hd != d_model / n_heads
    {
        return Err(unsupported(
            "head_dim",
            format!(
                "{hd} differs from hidden_size / num_attention_heads = {}; lowbit needs them equal",
                d_model / n_heads
            ),
        ));
    }
    let mut cfg = LlamaConfig::new(vocab, d_model, n_layers, n_heads, n_kv, d_ff)
        .with_rope_theta(rope_theta(o)?)
        // transformers' LlamaConfig defaults.
        .with_rms_norm_eps(f64_field(o, "rms_norm_eps")?.unwrap_or(1e-6))
        .with_tie_embeddings(bool_field(o, "tie_word_embeddings")?.unwrap_or(false))
        .with_max_seq_len(usize_field(o, "max_position_embeddings")?.unwrap_or(2048))
        .with_init_std(f64_field(o, "initializer_range")?.unwrap_or(0.02));
    if let Some(p) = o.get("lowbit_compression").filter(|v| !v.is_null()) {
        let mut p = p.clone();
        // Checkpoints written before grids were carried by content have only `grid_files`
        // (paths); they load as before, reading those paths.
        if let Some(po) = p.as_object_mut() {
            po.entry("grids").or_insert_with(|| json!([]));
        }
        let policy: CompressionPolicy = serde_json::from_value(p).map_err(|e| {
            unsupported(
                "lowbit_compression",
                format!("not a compression policy: {e}"),
            )
        })?;
        cfg = cfg.with_compression(policy);
    }
    if cfg.rms_norm_eps <= 0.0 {
        return Err(unsupported("rms_norm_eps", "must be positive"));
    }
    let special = SpecialTokens {
        bos_token_id: id_list(o, "bos_token_id")?.first().copied(),
        eos_token_ids: id_list(o, "eos_token_id")?,
    };
    Ok((cfg, special))
}

/// The `config.json` value of `cfg`, loadable by `transformers` 4.x and 5.x.
pub fn config_to_json(cfg: &LlamaConfig, special: &SpecialTokens, dtype: StoreDtype) -> Value {
    let eos = match special.eos_token_ids.as_slice() {
        [] => Value::Null,
        [one] => json!(one),
        many => json!(many),
    };
    let mut v = json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.d_model,
        "intermediate_size": cfg.d_ff,
        "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.n_kv_heads,
        "head_dim": cfg.head_dim(),
        "hidden_act": "silu",
        "max_position_embeddings": cfg.max_seq_len,
        "rms_norm_eps": cfg.rms_norm_eps,
        "rope_theta": cfg.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "rope_scaling": null,
        "tie_word_embeddings": cfg.tie_embeddings,
        "attention_bias": false,
        "mlp_bias": false,
        "attention_dropout": 0.0,
        "initializer_range": cfg.init_std,
        "bos_token_id": special.bos_token_id,
        "eos_token_id": eos,
        "torch_dtype": dtype.torch_name(),
        "dtype": dtype.torch_name(),
        "use_cache": true,
    });
    let p = &cfg.compression;
    if (p.weight.is_some() || p.input.is_some())
        && let (Some(o), Ok(pv)) = (v.as_object_mut(), serde_json::to_value(p))
    {
        o.insert("lowbit_compression".into(), pv);
    }
    v
}

/// Reads `path` (a `config.json`).
///
/// # Errors
/// [`NnError::MissingFile`], [`NnError::Checkpoint`] for invalid JSON, or
/// [`NnError::UnsupportedConfig`].
pub fn read_config_json(path: &Path) -> Result<(LlamaConfig, SpecialTokens), NnError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            NnError::MissingFile {
                path: path.to_path_buf(),
                what: "model config".into(),
            }
        } else {
            NnError::Io {
                path: path.to_path_buf(),
                source: e,
            }
        }
    })?;
    let v: Value = serde_json::from_str(&text).map_err(|e| NnError::Checkpoint {
        path: path.to_path_buf(),
        message: format!("not valid JSON: {e}"),
    })?;
    config_from_json(&v)
}

/// Writes `config.json` for `cfg` to `path` atomically.
pub fn write_config_json(
    cfg: &LlamaConfig,
    special: &SpecialTokens,
    dtype: StoreDtype,
    path: &Path,
) -> Result<(), NnError> {
    let v = config_to_json(cfg, special, dtype);
    let text = serde_json::to_string_pretty(&v).map_err(|e| NnError::Checkpoint {
        path: path.to_path_buf(),
        message: format!("cannot encode config: {e}"),
    })?;
    super::weights::write_text_atomic(path, &(text + "\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        json!({
            "model_type": "llama", "vocab_size": 131, "hidden_size": 48, "intermediate_size": 100,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
            "hidden_act": "silu", "rms_norm_eps": 1e-5, "max_position_embeddings": 64,
            "eos_token_id": [2, 7], "bos_token_id": 1
        })
    }

    fn err_field(v: Value) -> String {
        match config_from_json(&v) {
            Err(NnError::UnsupportedConfig { field, .. }) => field,
            other => panic!("expected an unsupported-field error, got {other:?}"),
        }
    }

    #[test]
    fn reads_both_rope_layouts_and_defaults() {
        let mut v = base();
        let (c, s) = config_from_json(&v).unwrap();
        assert_eq!(
            (c.d_model, c.n_kv_heads, c.d_ff, c.max_seq_len),
            (48, 2, 100, 64)
        );
        assert_eq!(c.rope_theta, 10_000.0);
        assert!(!c.tie_embeddings);
        assert_eq!(s.eos_token_ids, vec![2, 7]);
        v["rope_theta"] = json!(500.0);
        assert_eq!(config_from_json(&v).unwrap().0.rope_theta, 500.0);
        v["rope_parameters"] = json!({"rope_type": "default", "rope_theta": 1234.5});
        assert_eq!(config_from_json(&v).unwrap().0.rope_theta, 1234.5);
        // GQA default: as many KV heads as heads.
        let mut v = base();
        v.as_object_mut().unwrap().remove("num_key_value_heads");
        assert_eq!(config_from_json(&v).unwrap().0.n_kv_heads, 4);
    }

    #[test]
    fn unsupported_fields_are_named() {
        let set = |k: &str, x: Value| {
            let mut v = base();
            v[k] = x;
            v
        };
        assert_eq!(err_field(set("hidden_act", json!("gelu"))), "hidden_act");
        assert_eq!(
            err_field(set("attention_bias", json!(true))),
            "attention_bias"
        );
        assert_eq!(err_field(set("mlp_bias", json!(true))), "mlp_bias");
        assert_eq!(err_field(set("head_dim", json!(16))), "head_dim");
        assert_eq!(err_field(set("model_type", json!("mistral"))), "model_type");
        assert_eq!(
            err_field(set("num_key_value_heads", json!(3))),
            "num_key_value_heads"
        );
        assert_eq!(err_field(set("vocab_size", json!(-1))), "vocab_size");
        assert_eq!(
            err_field(set(
                "rope_parameters",
                json!({"rope_type": "llama3", "rope_theta": 1.0})
            )),
            "rope_parameters.rope_type"
        );
        assert_eq!(
            err_field(set(
                "rope_scaling",
                json!({"type": "linear", "factor": 2.0})
            )),
            "rope_scaling.rope_type"
        );
        let mut v = base();
        v.as_object_mut().unwrap().remove("hidden_size");
        assert_eq!(err_field(v), "hidden_size");
    }

    #[test]
    fn write_then_read_is_identity() {
        let cfg = LlamaConfig::new(131, 48, 3, 6, 2, 100)
            .with_rope_theta(777.0)
            .with_rms_norm_eps(1e-5)
            .with_tie_embeddings(true)
            .with_max_seq_len(96)
            .with_compression(CompressionPolicy::new().with_weight(Some("nvfp4".into())));
        let special = SpecialTokens {
            bos_token_id: None,
            eos_token_ids: vec![0],
        };
        let v = config_to_json(&cfg, &special, StoreDtype::F32);
        assert_eq!(v["architectures"][0], "LlamaForCausalLM");
        assert_eq!(v["torch_dtype"], "float32");
        let (back, s) = config_from_json(&v).unwrap();
        assert_eq!(s, special);
        assert_eq!(back.compression, cfg.compression);
        assert_eq!(
            (
                back.vocab_size,
                back.d_model,
                back.n_layers,
                back.n_heads,
                back.n_kv_heads
            ),
            (131, 48, 3, 6, 2)
        );
        assert_eq!(
            (back.d_ff, back.max_seq_len, back.tie_embeddings),
            (100, 96, true)
        );
        assert_eq!((back.rope_theta, back.rms_norm_eps), (777.0, 1e-5));
        // Full-precision models carry no lowbit key.
        let fp = config_to_json(
            &cfg.clone().with_compression(CompressionPolicy::new()),
            &special,
            StoreDtype::F32,
        );
        assert!(fp.get("lowbit_compression").is_none());
    }

    #[test]
    fn grids_travel_by_content_and_old_path_only_policies_still_load() {
        let grid = lowbit_formats::GridText {
            source: "grids/mine.toml".into(),
            toml: "name = \"mine\"\n".into(),
        };
        let cfg = LlamaConfig::new(131, 48, 2, 4, 2, 100).with_compression(
            CompressionPolicy::new()
                .with_weight(Some("mine".into()))
                .with_grids(vec![grid]),
        );
        let v = config_to_json(&cfg, &SpecialTokens::default(), StoreDtype::F32);
        assert_eq!(
            v["lowbit_compression"]["grids"][0]["source"],
            "grids/mine.toml"
        );
        assert_eq!(config_from_json(&v).unwrap().0.compression, cfg.compression);
        // Written before grids were carried: paths only, no `grids` key.
        let mut old = base();
        old["lowbit_compression"] = json!({
            "weight": "mine", "input": null, "hadamard": false, "estimator": "Ste",
            "grid_files": ["grids/mine.toml"],
            "include": ["model.layers.*.self_attn.*_proj"], "exclude": []
        });
        let p = config_from_json(&old).unwrap().0.compression;
        assert_eq!(p.grid_files, vec!["grids/mine.toml".to_string()]);
        assert!(p.grids.is_empty());
    }
}
