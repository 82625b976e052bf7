//! `lowbit export --format compressed-tensors` (vLLM's format).

use anyhow::{Result, bail};
use lowbit_nn::hf::{LoadedModel, StoreDtype};
use std::path::Path;

/// Writes the compressed-tensors export of `loaded` into `out`.
pub fn export(_loaded: &LoadedModel, _out: &Path, _dtype: StoreDtype) -> Result<()> {
    bail!("compressed-tensors export is not built yet")
}
