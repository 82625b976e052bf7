//! The batch sampler: the batch at step t is a pure function of (seed, t) — sequence b of step t
//! starts at a uniform offset drawn from ChaCha8(seed), stream t — so a resumed run needs only
//! the step counter, and any worker can produce any step.

use crate::DataError;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Draws `[batch, seq_len]` windows (inputs and next-token targets) from a token stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampler {
    /// Seed of the data stream (from the recipe).
    pub seed: u64,
    /// Sequences per batch.
    pub batch: usize,
    /// Tokens per sequence.
    pub seq_len: usize,
}

/// One batch, row-major `[batch, seq_len]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Input token ids.
    pub inputs: Vec<u32>,
    /// Target ids (inputs shifted by one).
    pub targets: Vec<u32>,
}

impl Sampler {
    /// The batch of step `step`.
    pub fn batch(&self, tokens: &[u32], step: u64, split: &str) -> Result<Batch, DataError> {
        let need = self.seq_len + 1;
        if tokens.len() < need {
            return Err(DataError::TooFewTokens {
                split: split.into(),
                tokens: tokens.len(),
                need,
            });
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(step);
        let max_start = tokens.len() - need;
        let mut inputs = Vec::with_capacity(self.batch * self.seq_len);
        let mut targets = Vec::with_capacity(self.batch * self.seq_len);
        for _ in 0..self.batch {
            let s = rng.random_range(0..=max_start);
            inputs.extend_from_slice(&tokens[s..s + self.seq_len]);
            targets.extend_from_slice(&tokens[s + 1..s + need]);
        }
        Ok(Batch { inputs, targets })
    }

    /// The i-th of the fixed validation batches: non-overlapping windows in order, so validation
    /// loss is comparable across steps and runs.
    pub fn val_batch(&self, tokens: &[u32], i: usize) -> Result<Batch, DataError> {
        let need = self.seq_len + 1;
        let windows = tokens.len().saturating_sub(1) / self.seq_len;
        if windows == 0 {
            return Err(DataError::TooFewTokens {
                split: "val".into(),
                tokens: tokens.len(),
                need,
            });
        }
        let mut inputs = Vec::with_capacity(self.batch * self.seq_len);
        let mut targets = Vec::with_capacity(self.batch * self.seq_len);
        for b in 0..self.batch {
            let s = ((i * self.batch + b) % windows) * self.seq_len;
            inputs.extend_from_slice(&tokens[s..s + self.seq_len]);
            targets.extend_from_slice(&tokens[s + 1..s + need]);
        }
        Ok(Batch { inputs, targets })
    }
}
