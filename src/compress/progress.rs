//! What a compression run keeps between blocks, so a killed run resumes from the last finished
//! block: `OUT/.compress/settings.json` (everything that determines the result), one
//! `block-NNNNN.safetensors` (the block's coded layers) and `block-NNNNN.json` (their
//! `quantization_config` entries and `compress.jsonl` records) per finished block. Each file is
//! written atomically; a block counts as finished only when both of its files exist.

use anyhow::{Context, Result, bail};
use lowbit_nn::hf::{CodedLayer, HostTensor, read_safetensors, write_safetensors};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Name of the progress directory inside `--out`.
pub const PROGRESS_DIR: &str = ".compress";

/// One finished block's layer entries and log records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockRecord {
    /// `quantization_config.layers` entries of the block's coded layers.
    pub layers: BTreeMap<String, CodedLayer>,
    /// `compress.jsonl` lines of the block, in layer order.
    pub records: Vec<Value>,
}

/// The progress directory of one run.
pub struct ProgressDir {
    dir: PathBuf,
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot sync {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot rename to {}", path.display()))
}

impl ProgressDir {
    /// Opens (or starts) the progress of a run with `settings` in `out`. A directory left by a
    /// run with other settings is an error naming the keys that differ, unless `force`, which
    /// starts over.
    pub fn open(out: &Path, settings: &Value, force: bool) -> Result<Self> {
        let dir = out.join(PROGRESS_DIR);
        let path = dir.join("settings.json");
        if force && dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot remove {}", dir.display()))?;
        }
        if path.is_file() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let old: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", path.display()))?;
            if &old != settings {
                let keys: Vec<String> = settings
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, v)| old.get(k.as_str()) != Some(v))
                    .map(|(k, _)| k.clone())
                    .collect();
                bail!(
                    "{} holds an unfinished compression with other settings ({}); rerun with the \
                     same options to resume it, or add --force to start over",
                    out.display(),
                    keys.join(", ")
                );
            }
        } else {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            write_atomic(&path, &serde_json::to_string_pretty(settings)?)?;
        }
        Ok(Self { dir })
    }

    fn paths(&self, block: usize) -> (PathBuf, PathBuf) {
        let stem = format!("block-{block:05}");
        (
            self.dir.join(format!("{stem}.safetensors")),
            self.dir.join(format!("{stem}.json")),
        )
    }

    /// The saved tensors and record of `block`, if it finished.
    pub fn load(
        &self,
        block: usize,
    ) -> Result<Option<(BTreeMap<String, HostTensor>, BlockRecord)>> {
        let (st, js) = self.paths(block);
        if !(st.is_file() && js.is_file()) {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&js)
            .with_context(|| format!("cannot read {}", js.display()))?;
        let rec: BlockRecord = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a block record; add --force to start over",
                js.display()
            )
        })?;
        let tensors = read_safetensors(&st)?;
        Ok(Some((tensors, rec)))
    }

    /// Saves a finished block (tensors first: the record marks it finished).
    pub fn save(
        &self,
        block: usize,
        tensors: &BTreeMap<String, HostTensor>,
        rec: &BlockRecord,
    ) -> Result<()> {
        let (st, js) = self.paths(block);
        write_safetensors(&st, tensors, Default::default())?;
        write_atomic(&js, &serde_json::to_string(rec)?)
    }

    /// Removes the directory (after the checkpoint is written).
    pub fn finish(self) -> Result<()> {
        std::fs::remove_dir_all(&self.dir)
            .with_context(|| format!("cannot remove {}", self.dir.display()))
    }
}

/// Rewrites `path` (`compress.jsonl`) with `records`, one JSON object per line, atomically.
pub fn write_jsonl(path: &Path, records: &[Value]) -> Result<()> {
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r)?);
        text.push('\n');
    }
    write_atomic(path, &text)
}
