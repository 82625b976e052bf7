//! `state.json` of a checkpoint: everything besides tensors that a resumed run needs to take
//! exactly the steps the uninterrupted run would have taken.

use super::error::TrainError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Seeds of every random stream of a run. The data order is a pure function of (`data_seed`,
/// step) and the initialisation of (`init_seed`, parameter name), so these seeds *are* the full
/// generator states: no stream carries hidden position besides the step counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    /// ChaCha8 seed of the per-parameter initialisation streams.
    pub init_seed: u64,
    /// ChaCha8 seed of the batch sampler (stream = micro-batch index).
    pub data_seed: u64,
}

/// Where the sampler is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplerState {
    /// The next micro-batch index to draw (= completed steps × `micro_batches`).
    pub cursor: u64,
    /// Sequences per micro-batch.
    pub micro_batch: usize,
    /// Micro-batches per optimizer step.
    pub micro_batches: usize,
    /// Tokens per sequence.
    pub seq_len: usize,
}

/// Contents of `state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainState {
    /// Format version of this file.
    pub version: u32,
    /// Completed optimizer steps (including refused, skipped ones).
    pub step: u64,
    /// Optimizer updates applied (steps minus refused ones): AdamW's bias-correction count.
    pub optimizer_steps: u64,
    /// Training tokens consumed.
    pub tokens_seen: u64,
    /// Sampler position.
    pub sampler: SamplerState,
    /// Random streams.
    pub rng: RngState,
    /// Grid files the compressed layers use (family name → TOML text): a record of the copies
    /// the model is built from, which `config.json` (`lowbit_compression.grids`) carries.
    /// Checkpoints written before grids were carried keyed every `grids/*.toml` by path here.
    pub grids: std::collections::BTreeMap<String, String>,
    /// SHA-256 of `recipe.resolved.toml`.
    pub recipe_sha256: String,
    /// lowbit version that wrote the checkpoint.
    pub lowbit_version: String,
    /// Burn version.
    pub burn_version: String,
    /// Training loss of the last step.
    pub last_loss: Option<f64>,
    /// Last validation loss.
    pub last_val_loss: Option<f64>,
}

/// The Burn version lowbit is built against (pinned in the workspace).
pub const BURN_VERSION: &str = "0.22.1";

impl TrainState {
    /// The state of step 0 of a run: micro-batches of `micro` × `seq_len` tokens,
    /// `micro_batches` per step, every stream seeded by `seed`, no grids.
    pub fn fresh(seed: u64, micro: usize, micro_batches: usize, seq_len: usize) -> Self {
        Self {
            version: 1,
            step: 0,
            optimizer_steps: 0,
            tokens_seen: 0,
            sampler: SamplerState {
                cursor: 0,
                micro_batch: micro,
                micro_batches,
                seq_len,
            },
            rng: RngState {
                init_seed: seed,
                data_seed: seed,
            },
            grids: Default::default(),
            recipe_sha256: String::new(),
            lowbit_version: env!("CARGO_PKG_VERSION").into(),
            burn_version: BURN_VERSION.into(),
            last_loss: None,
            last_val_loss: None,
        }
    }
}

impl TrainState {
    /// Reads and checks `state.json`.
    pub fn read(path: &Path) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path).map_err(super::error::io_err(path))?;
        let s: Self = serde_json::from_str(&text).map_err(|e| TrainError::State {
            path: path.to_path_buf(),
            message: format!("not a lowbit state.json: {e}"),
        })?;
        if s.version != 1 {
            return Err(TrainError::State {
                path: path.to_path_buf(),
                message: format!("state version {} is not supported (expected 1)", s.version),
            });
        }
        Ok(s)
    }
}
