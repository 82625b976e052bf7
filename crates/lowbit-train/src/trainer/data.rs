//! The recipe's data section → tokenized train/validation streams (cached by content hash).

use super::error::TrainError;
use crate::recipe::DataSection;
use lowbit_data::{Document, TokenDataset, TokenizerConfig, load_dir, prepare};
use std::path::{Path, PathBuf};

/// Corpora `datasets/prepare.sh` knows how to fetch (`lowbit data prepare NAME`).
pub const KNOWN_CORPORA: [&str; 3] = ["shakespeare", "sotu", "moby-dick"];

/// Directories of `corpus`, relative to `root` (the repository): a name under
/// `datasets/raw/`, `all` (every known corpus), or a directory of `*.txt` files.
pub fn corpus_dirs(corpus: &str, root: &Path) -> Vec<(String, PathBuf)> {
    let raw = root.join("datasets").join("raw");
    if corpus == "all" {
        return KNOWN_CORPORA
            .iter()
            .map(|n| (n.to_string(), raw.join(n)))
            .collect();
    }
    if KNOWN_CORPORA.contains(&corpus) {
        return vec![(corpus.to_string(), raw.join(corpus))];
    }
    let p = Path::new(corpus);
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        root.join(p)
    };
    vec![(corpus.to_string(), p)]
}

/// Corpus directories of `corpus` that do not exist yet, as (name, path).
pub fn missing_corpora(corpus: &str, root: &Path) -> Vec<(String, PathBuf)> {
    corpus_dirs(corpus, root)
        .into_iter()
        .filter(|(_, p)| !p.is_dir())
        .collect()
}

/// Loads and tokenizes the recipe's corpus, training the BPE tokenizer (or loading
/// `data.tokenizer`), with shards cached under `root/datasets/cache/`.
pub fn load_dataset(data: &DataSection, root: &Path) -> Result<TokenDataset, TrainError> {
    let mut docs: Vec<Document> = Vec::new();
    for (name, dir) in corpus_dirs(&data.corpus, root) {
        if !dir.is_dir() {
            let fix = if KNOWN_CORPORA.contains(&name.as_str()) {
                format!("run `lowbit data prepare {name}` (or `bash datasets/prepare.sh {name}`)")
            } else {
                format!(
                    "set data.corpus to one of {}, `all`, or a directory of *.txt files",
                    KNOWN_CORPORA.join(", ")
                )
            };
            return Err(TrainError::MissingData {
                corpus: data.corpus.clone(),
                path: dir,
                fix,
            });
        }
        docs.extend(load_dir(&dir)?);
    }
    let cfg = TokenizerConfig {
        vocab_size: data.vocab_size,
        ..TokenizerConfig::default()
    };
    let tk = data.tokenizer.as_ref().map(|t| root.join(t));
    Ok(prepare(
        &docs,
        &cfg,
        tk.as_deref(),
        &root.join("datasets").join("cache"),
    )?)
}
