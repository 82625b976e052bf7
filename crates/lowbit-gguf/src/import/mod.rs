//! Import of a llama GGUF into an HF `LlamaForCausalLM` directory.
//!
//! Written files: `config.json`, `generation_config.json`, `model.safetensors` (f32, HF
//! names), `tokenizer.json`, `tokenizer_config.json`. The order of the checks is the order a
//! user fixes things in: architecture, hyper-parameters, tokenizer, tensors; nothing is written
//! to the output directory before all of them passed.

pub mod config;
pub mod spm;
pub mod tensors;
pub mod tokenizer;
mod write;

use crate::{GgufError, GgufFile};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Options of [`import_llama_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Replace a non-empty output directory instead of refusing.
    pub force: bool,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// The directory written.
    pub out_dir: PathBuf,
    /// Number of GGUF tensors per ggml type name (`"Q4_1"` → 169 ...).
    pub tensor_types: BTreeMap<String, usize>,
    /// Total elements of all tensors written (the model's parameter count).
    pub parameter_count: u64,
    /// Whether the embeddings are tied (the GGUF has no `output.weight`).
    pub tied_embeddings: bool,
    /// Vocabulary size.
    pub vocab_size: u64,
    /// The files written, inside `out_dir`.
    pub files: Vec<PathBuf>,
}

/// [`import_llama_with`] with default options (refuse a non-empty `out_dir`).
///
/// # Errors
/// As [`import_llama_with`].
pub fn import_llama(g: &GgufFile, out_dir: &Path) -> Result<ImportReport, GgufError> {
    import_llama_with(g, out_dir, &ImportOptions::default())
}

/// Converts the llama model in `g` into an HF directory at `out_dir`.
///
/// # Errors
/// [`GgufError::UnsupportedArchitecture`] unless `general.architecture` is `llama`; the
/// hyper-parameter errors of [`config::LlamaHparams::from_gguf`]; the tokenizer errors of
/// [`tokenizer::build`]; the tensor errors of [`tensors::convert`]; [`GgufError::OutputExists`]
/// and I/O errors from writing.
pub fn import_llama_with(
    g: &GgufFile,
    out_dir: &Path,
    opts: &ImportOptions,
) -> Result<ImportReport, GgufError> {
    let arch = g.get_str("general.architecture")?;
    if arch != "llama" {
        return Err(GgufError::UnsupportedArchitecture {
            architecture: arch.to_string(),
        });
    }
    let h = config::LlamaHparams::from_gguf(g)?;
    let ids = config::SpecialIds::from_gguf(g)?;
    let tok = tokenizer::build(g)?;
    let vocab = tok.vocab_size;
    // Fail on the output directory before the (slow) tensor conversion.
    let staging = write::Staging::new(out_dir, opts.force)?;
    let (tensors, tied) = tensors::convert(g, &h, vocab)?;

    let mut files = Vec::new();
    let mut wrote = |name: &str| files.push(out_dir.join(name));
    staging.json("config.json", &config::config_json(&h, vocab, tied, &ids))?;
    wrote("config.json");
    staging.json(
        "generation_config.json",
        &config::generation_config_json(&ids),
    )?;
    wrote("generation_config.json");
    staging.safetensors("model.safetensors", &tensors)?;
    wrote("model.safetensors");
    tok.tokenizer
        .save(staging.path("tokenizer.json"), true)
        .map_err(|e| GgufError::Tokenizer(e.to_string()))?;
    wrote("tokenizer.json");
    staging.json("tokenizer_config.json", &tokenizer_config(g, &tok, h.ctx)?)?;
    wrote("tokenizer_config.json");
    staging.commit(out_dir)?;

    let mut tensor_types = BTreeMap::new();
    for t in g.tensors() {
        *tensor_types
            .entry(t.ggml_type.name().to_string())
            .or_insert(0) += 1;
    }
    Ok(ImportReport {
        out_dir: out_dir.to_path_buf(),
        tensor_types,
        parameter_count: g.tensors().iter().map(|t| t.n_elements).sum(),
        tied_embeddings: tied,
        vocab_size: vocab,
        files,
    })
}

/// `tokenizer_config.json`: the special token strings, `add_bos_token` and the chat template,
/// for transformers' `PreTrainedTokenizerFast` (which reads the rest from `tokenizer.json`).
fn tokenizer_config(
    g: &GgufFile,
    tok: &tokenizer::BuiltTokenizer,
    ctx: u64,
) -> Result<Value, GgufError> {
    let mut o = Map::new();
    o.insert("tokenizer_class".into(), json!("PreTrainedTokenizerFast"));
    o.insert("add_bos_token".into(), json!(tok.add_bos));
    o.insert("add_eos_token".into(), json!(false));
    o.insert("bos_token".into(), json!(tok.bos));
    o.insert("eos_token".into(), json!(tok.eos));
    if let Some(pad) = &tok.pad {
        o.insert("pad_token".into(), json!(pad));
    }
    if let Some(unk) = &tok.unk {
        o.insert("unk_token".into(), json!(unk));
    }
    o.insert("clean_up_tokenization_spaces".into(), json!(false));
    o.insert("model_max_length".into(), json!(ctx));
    if let Some(t) = g.optional("tokenizer.chat_template", GgufFile::get_str)? {
        o.insert("chat_template".into(), json!(t));
    }
    Ok(Value::Object(o))
}
