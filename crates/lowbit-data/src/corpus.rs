//! A corpus is a sorted list of named text documents (the `*.txt` files under a directory).

use crate::DataError;
use crate::error::io;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// One document: its path relative to the corpus root and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Path relative to the corpus root, `/`-separated (stable across machines).
    pub name: String,
    /// UTF-8 text (invalid bytes replaced).
    pub text: String,
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    for e in std::fs::read_dir(dir).map_err(io(dir))? {
        let p = e.map_err(io(dir))?.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "txt") {
            out.push(p);
        }
    }
    Ok(())
}

/// Loads every `*.txt` file below `root`, sorted by relative path.
pub fn load_dir(root: &Path) -> Result<Vec<Document>, DataError> {
    let mut paths = Vec::new();
    walk(root, &mut paths)?;
    paths.sort();
    let mut docs = Vec::new();
    for p in paths {
        let bytes = std::fs::read(&p).map_err(io(&p))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if text.trim().is_empty() {
            continue;
        }
        let rel = p.strip_prefix(root).unwrap_or(&p);
        let name = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        docs.push(Document { name, text });
    }
    if docs.is_empty() {
        return Err(DataError::EmptyCorpus {
            path: root.to_path_buf(),
        });
    }
    Ok(docs)
}

/// SHA-256 (hex) over the documents' names and texts and a tokenizer description: the cache key
/// of the token shards.
pub fn content_hash(docs: &[Document], tokenizer_desc: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"lowbit-data v1\0");
    h.update(tokenizer_desc.as_bytes());
    for d in docs {
        h.update((d.name.len() as u64).to_le_bytes());
        h.update(d.name.as_bytes());
        h.update((d.text.len() as u64).to_le_bytes());
        h.update(d.text.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
