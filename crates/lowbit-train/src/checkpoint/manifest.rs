//! `manifest.json`: size and SHA-256 of every file of a checkpoint.

use super::{CheckpointError, io};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// One file's size and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
}

/// The manifest of one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Manifest format version (1).
    pub version: u32,
    /// Optimizer step of the checkpoint.
    pub step: u64,
    /// Every file but the manifest itself.
    pub files: BTreeMap<String, FileEntry>,
}

/// SHA-256 of bytes, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) fn hash_file(path: &Path) -> Result<(u64, String), CheckpointError> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok((
        size,
        h.finalize().iter().map(|b| format!("{b:02x}")).collect(),
    ))
}

impl Manifest {
    /// Reads `dir/manifest.json` and checks every listed file's size and hash.
    pub fn verify(dir: &Path) -> Result<Manifest, CheckpointError> {
        let corrupt = |reason: String| CheckpointError::Corrupt {
            path: dir.to_path_buf(),
            reason,
        };
        let mp = dir.join("manifest.json");
        let text =
            std::fs::read_to_string(&mp).map_err(|e| corrupt(format!("manifest.json: {e}")))?;
        let m: Manifest =
            serde_json::from_str(&text).map_err(|e| corrupt(format!("manifest.json: {e}")))?;
        for (name, entry) in &m.files {
            let p = dir.join(name);
            if !p.exists() {
                return Err(corrupt(format!("{name} is missing")));
            }
            let (size, sha) = hash_file(&p)?;
            if size != entry.size {
                return Err(corrupt(format!(
                    "{name} has {size} bytes, manifest says {}",
                    entry.size
                )));
            }
            if sha != entry.sha256 {
                return Err(corrupt(format!("{name} SHA-256 mismatch")));
            }
        }
        Ok(m)
    }
}
