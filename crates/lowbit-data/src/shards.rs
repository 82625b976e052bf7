//! Token shards: `<split>.bin` (u16 or u32 little-endian) + `<split>.json` (header), cached under
//! `<cache_root>/<content-hash>/` together with the `tokenizer.json` that produced them. A cache
//! directory is written under a temporary name and renamed into place, so it is complete or
//! absent; every load checks the header against the data.

use crate::corpus::content_hash;
use crate::error::io;
use crate::split::{VAL_FRACTION, split_documents};
use crate::tokenizer::{TextTokenizer, TokenizerConfig};
use crate::{DataError, Document};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Header of one token shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardHeader {
    /// Shard format version (1).
    pub version: u32,
    /// `u16` (vocabularies ≤ 65536) or `u32`.
    pub dtype: String,
    /// Number of tokens.
    pub n_tokens: usize,
    /// Vocabulary size of the tokenizer.
    pub vocab_size: usize,
    /// Number of documents in the shard.
    pub n_documents: usize,
    /// `train` or `val`.
    pub split: String,
    /// Content hash of corpus + tokenizer configuration (the cache key).
    pub content_hash: String,
}

/// Tokenized train and validation streams plus the tokenizer.
pub struct TokenDataset {
    /// Training tokens (documents separated by end-of-text).
    pub train: Vec<u32>,
    /// Validation tokens.
    pub val: Vec<u32>,
    /// The tokenizer.
    pub tokenizer: TextTokenizer,
    /// The cache directory holding the shards.
    pub dir: PathBuf,
}

/// Writes one shard (`.bin` + `.json`).
pub fn write_shard(dir: &Path, header: &ShardHeader, tokens: &[u32]) -> Result<(), DataError> {
    let bin = dir.join(format!("{}.bin", header.split));
    let bytes: Vec<u8> = if header.dtype == "u16" {
        tokens
            .iter()
            .flat_map(|&t| (t as u16).to_le_bytes())
            .collect()
    } else {
        tokens.iter().flat_map(|t| t.to_le_bytes()).collect()
    };
    std::fs::write(&bin, bytes).map_err(io(&bin))?;
    let json = dir.join(format!("{}.json", header.split));
    let text = serde_json::to_string_pretty(header).map_err(|e| DataError::CorruptShard {
        path: json.clone(),
        reason: e.to_string(),
    })?;
    std::fs::write(&json, text).map_err(io(&json))
}

/// Reads and verifies one shard.
pub fn read_shard(dir: &Path, split: &str) -> Result<(ShardHeader, Vec<u32>), DataError> {
    let json = dir.join(format!("{split}.json"));
    let text = std::fs::read_to_string(&json).map_err(io(&json))?;
    let header: ShardHeader = serde_json::from_str(&text).map_err(|e| DataError::CorruptShard {
        path: json.clone(),
        reason: e.to_string(),
    })?;
    let bin = dir.join(format!("{split}.bin"));
    let bytes = std::fs::read(&bin).map_err(io(&bin))?;
    let width = match header.dtype.as_str() {
        "u16" => 2,
        "u32" => 4,
        other => {
            return Err(DataError::CorruptShard {
                path: json,
                reason: format!("unknown dtype `{other}`"),
            });
        }
    };
    if bytes.len() != header.n_tokens * width {
        return Err(DataError::CorruptShard {
            path: bin,
            reason: format!(
                "{} bytes, header says {} tokens of {width} bytes",
                bytes.len(),
                header.n_tokens
            ),
        });
    }
    let tokens: Vec<u32> = if width == 2 {
        bytes
            .chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as u32)
            .collect()
    } else {
        bytes
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    if let Some(t) = tokens.iter().find(|&&t| t as usize >= header.vocab_size) {
        return Err(DataError::CorruptShard {
            path: bin,
            reason: format!("token {t} ≥ vocab_size {}", header.vocab_size),
        });
    }
    Ok((header, tokens))
}

/// Tokenizes a corpus (training the tokenizer unless `tokenizer_json` is given) into cached
/// shards under `cache_root/<content-hash>/`, or loads them if already cached.
pub fn prepare(
    docs: &[Document],
    cfg: &TokenizerConfig,
    tokenizer_json: Option<&Path>,
    cache_root: &Path,
) -> Result<TokenDataset, DataError> {
    let tk_desc = match tokenizer_json {
        Some(p) => {
            let bytes = std::fs::read(p).map_err(io(p))?;
            format!("file:{}", String::from_utf8_lossy(&bytes))
        }
        None => format!("bpe:{}:{}", cfg.vocab_size, cfg.min_frequency),
    };
    let hash = content_hash(docs, &tk_desc);
    let dir = cache_root.join(&hash);
    if dir.join("val.json").exists() {
        let tokenizer = TextTokenizer::load(&dir.join("tokenizer.json"))?;
        let (_, train) = read_shard(&dir, "train")?;
        let (_, val) = read_shard(&dir, "val")?;
        return Ok(TokenDataset {
            train,
            val,
            tokenizer,
            dir,
        });
    }
    let tokenizer = match tokenizer_json {
        Some(p) => TextTokenizer::load(p)?,
        None => TextTokenizer::train(docs, cfg)?,
    };
    let (train_idx, val_idx) = split_documents(docs, VAL_FRACTION);
    let pick = |idx: &[usize]| idx.iter().map(|&i| &docs[i]).collect::<Vec<_>>();
    let train = tokenizer.encode_documents(&pick(&train_idx))?;
    let val = tokenizer.encode_documents(&pick(&val_idx))?;
    std::fs::create_dir_all(cache_root).map_err(io(cache_root))?;
    let tmp = cache_root.join(format!(".{hash}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let dtype = if tokenizer.vocab_size() <= 1 << 16 {
        "u16"
    } else {
        "u32"
    };
    for (split, tokens, n) in [
        ("train", &train, train_idx.len()),
        ("val", &val, val_idx.len()),
    ] {
        let header = ShardHeader {
            version: 1,
            dtype: dtype.into(),
            n_tokens: tokens.len(),
            vocab_size: tokenizer.vocab_size(),
            n_documents: n,
            split: split.into(),
            content_hash: hash.clone(),
        };
        write_shard(&tmp, &header, tokens)?;
    }
    tokenizer.save(&tmp.join("tokenizer.json"))?;
    match std::fs::rename(&tmp, &dir) {
        Ok(()) => {}
        // Another process finished the same cache first: theirs is identical.
        Err(_) if dir.join("val.json").exists() => {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        Err(e) => return Err(io(&dir)(e)),
    }
    Ok(TokenDataset {
        train,
        val,
        tokenizer,
        dir,
    })
}
