//! Writing the HF directory atomically: everything goes into a hidden temporary directory
//! beside the target, which is renamed into place only once every file is complete, so an
//! interrupted import never leaves a half-written model directory behind.

use super::tensors::HfTensor;
use crate::GgufError;
use safetensors::{Dtype, tensor::TensorView};
use std::path::{Path, PathBuf};

/// A temporary directory removed on drop unless [`Staging::commit`] moved it into place.
pub struct Staging {
    dir: PathBuf,
    done: bool,
}

impl Staging {
    /// Checks `out` (absent, an empty directory, or `force`) and creates the staging directory
    /// in its parent.
    ///
    /// # Errors
    /// [`GgufError::OutputExists`] for a non-empty `out` without `force`; [`GgufError::Io`].
    pub fn new(out: &Path, force: bool) -> Result<Staging, GgufError> {
        if out.exists() && !force {
            let mut entries = std::fs::read_dir(out).map_err(|e| GgufError::io(out, e))?;
            if entries.next().is_some() {
                return Err(GgufError::OutputExists {
                    path: out.to_path_buf(),
                });
            }
        }
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        std::fs::create_dir_all(&parent).map_err(|e| GgufError::io(&parent, e))?;
        let dir = parent.join(format!(".{name}.lowbit-gguf-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| GgufError::io(&dir, e))?;
        }
        std::fs::create_dir(&dir).map_err(|e| GgufError::io(&dir, e))?;
        Ok(Staging { dir, done: false })
    }

    /// Path of `file` inside the staging directory.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Writes `value` as pretty JSON to `file`.
    ///
    /// # Errors
    /// [`GgufError::Io`].
    pub fn json(&self, file: &str, value: &serde_json::Value) -> Result<(), GgufError> {
        let path = self.path(file);
        let mut text = serde_json::to_string_pretty(value)
            .map_err(|e| GgufError::io(&path, std::io::Error::other(e)))?;
        text.push('\n');
        std::fs::write(&path, text).map_err(|e| GgufError::io(&path, e))
    }

    /// Writes the tensors as f32 safetensors to `file`.
    ///
    /// # Errors
    /// [`GgufError::Safetensors`].
    pub fn safetensors(&self, file: &str, tensors: &[HfTensor]) -> Result<(), GgufError> {
        let bytes: Vec<Vec<u8>> = tensors
            .iter()
            .map(|t| t.data.iter().flat_map(|x| x.to_le_bytes()).collect())
            .collect();
        let views = tensors
            .iter()
            .zip(&bytes)
            .map(|(t, b)| {
                TensorView::new(Dtype::F32, t.shape.clone(), b)
                    .map(|v| (t.name.clone(), v))
                    .map_err(|e| GgufError::Safetensors(format!("{}: {e}", t.name)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        safetensors::serialize_to_file(views, None, &self.path(file))
            .map_err(|e| GgufError::Safetensors(e.to_string()))
    }

    /// Moves the staging directory to `out`, replacing what is there.
    ///
    /// # Errors
    /// [`GgufError::Io`].
    pub fn commit(mut self, out: &Path) -> Result<(), GgufError> {
        if out.exists() {
            std::fs::remove_dir_all(out).map_err(|e| GgufError::io(out, e))?;
        }
        std::fs::rename(&self.dir, out).map_err(|e| GgufError::io(out, e))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            // Best effort: a failed cleanup leaves only a hidden directory, never a model.
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
