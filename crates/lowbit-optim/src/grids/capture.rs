//! Real blocks from a model: activation blocks at every compressed linear's input (reservoir
//! samples by [`BlockSampler`], one sampler per batch so every block keeps the amax of the
//! tensor it came from), weight blocks with their column (for importance weights), and the
//! mean square of every input channel — all after the Hadamard rotation when a layer uses one.

use super::blocks::BlockSet;
use super::error::GridLearnError;
use burn::tensor::{Device, Int, Tensor, TensorData};
use lowbit_nn::NnError;
use lowbit_nn::capture::{BlockSampler, LayerView, Recorder, host, with_recorder};
use lowbit_nn::llama::Llama;
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use std::any::Any;
use std::collections::BTreeMap;

/// What to capture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CaptureConfig {
    /// Values per block.
    pub block: usize,
    /// Most blocks per layer and kind (activations: over all batches together).
    pub max_blocks: usize,
    /// Seed of the samplers.
    pub seed: u64,
}

/// Blocks of one kind from one tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorBlocks {
    /// HF module name of the layer.
    pub layer: String,
    /// Absolute maximum of the whole tensor (the NVFP4 tensor scale's input).
    pub tensor_amax: f32,
    /// The blocks, `[n, block]`.
    pub blocks: Vec<f32>,
    /// First input channel of each block (weights only).
    pub columns: Vec<usize>,
}

/// Everything captured over the batches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Captured {
    /// Values per block.
    pub block: usize,
    /// Weight blocks, one entry per layer.
    pub weights: Vec<TensorBlocks>,
    /// Activation blocks, one entry per layer and batch.
    pub activations: Vec<TensorBlocks>,
    /// Mean square of every input channel per layer, over all batches.
    pub channel_ms: BTreeMap<String, Vec<f64>>,
    /// Batches run.
    pub batches: usize,
}

impl Captured {
    /// Number of weight and activation blocks.
    pub fn counts(&self) -> (usize, usize) {
        let n = |v: &[TensorBlocks]| v.iter().map(|t| t.blocks.len() / self.block).sum();
        (n(&self.weights), n(&self.activations))
    }

    /// Number of distinct layers seen.
    pub fn layers(&self) -> usize {
        self.channel_ms.len()
    }

    /// The blocks to learn from. With `importance`, each weight value weighs the mean square
    /// of its input channel (normalised to mean 1 per layer) and activations weigh 1.
    pub fn block_set(
        &self,
        weights: bool,
        activations: bool,
        importance: bool,
    ) -> Result<BlockSet, GridLearnError> {
        let mut set = BlockSet::new(self.block)?;
        if weights {
            for t in &self.weights {
                let w = match (importance, self.channel_ms.get(&t.layer)) {
                    (true, Some(ms)) => Some(self.weight_importance(t, ms)),
                    _ => None,
                };
                set.push(&t.blocks, t.tensor_amax, w.as_deref())?;
            }
        }
        if activations {
            for t in &self.activations {
                let ones = importance.then(|| vec![1.0; t.blocks.len()]);
                set.push(&t.blocks, t.tensor_amax, ones.as_deref())?;
            }
        }
        Ok(set)
    }

    fn weight_importance(&self, t: &TensorBlocks, ms: &[f64]) -> Vec<f32> {
        let mean = ms.iter().sum::<f64>() / ms.len().max(1) as f64;
        let mut w = Vec::with_capacity(t.blocks.len());
        for &c in &t.columns {
            for j in 0..self.block {
                let v = ms.get(c + j).copied().unwrap_or(mean);
                w.push(if mean > 0.0 { (v / mean) as f32 } else { 1.0 });
            }
        }
        w
    }
}

struct Rec {
    cfg: CaptureConfig,
    sampler: BlockSampler,
    input_amax: BTreeMap<String, f32>,
    channel_sq: BTreeMap<String, (Vec<f64>, u64)>,
    weights: BTreeMap<String, TensorBlocks>,
}

fn amax(v: &[f32]) -> f32 {
    v.iter().fold(0f32, |m, x| m.max(x.abs()))
}

/// FNV-1a of a layer name: its weight sampler's stream.
fn stream_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl Recorder for Rec {
    fn record(&mut self, l: &LayerView<'_>) -> Result<(), NnError> {
        self.sampler.record(l)?;
        let (x, cols) = host(&l.input)?;
        let a = self.input_amax.entry(l.name.to_string()).or_default();
        *a = a.max(amax(&x));
        let (sq, rows) = self
            .channel_sq
            .entry(l.name.to_string())
            .or_insert_with(|| (vec![0.0; cols], 0));
        for row in x.chunks(cols) {
            for (s, &v) in sq.iter_mut().zip(row) {
                *s += v as f64 * v as f64;
            }
            *rows += 1;
        }
        if !self.weights.contains_key(l.name) {
            let (w, cols) = host(&l.weight)?;
            let b = self.cfg.block;
            if cols % b == 0 {
                let n = w.len() / b;
                let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.seed);
                rng.set_stream(stream_of(l.name));
                let mut idx = sample(&mut rng, n, self.cfg.max_blocks.min(n)).into_vec();
                idx.sort_unstable();
                let t = TensorBlocks {
                    layer: l.name.to_string(),
                    tensor_amax: amax(&w),
                    blocks: idx
                        .iter()
                        .flat_map(|&i| w[i * b..(i + 1) * b].to_vec())
                        .collect(),
                    columns: idx.iter().map(|&i| (i * b) % cols).collect(),
                };
                self.weights.insert(l.name.to_string(), t);
            }
        }
        Ok(())
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// Runs `model` on every batch of token ids (`[rows, seq_len]` row-major) and captures blocks:
/// all weight blocks up to `max_blocks` per layer (a seeded sample), and up to
/// ⌈max_blocks / batches⌉ activation blocks per layer and batch (a seeded reservoir).
pub fn capture(
    model: &Llama,
    batches: &[Vec<u32>],
    seq_len: usize,
    device: &Device,
    cfg: &CaptureConfig,
) -> Result<Captured, GridLearnError> {
    if batches.is_empty() || seq_len == 0 || cfg.block == 0 {
        return Err(GridLearnError::Config(
            "capture needs at least one batch, seq_len > 0 and block > 0".into(),
        ));
    }
    let per_batch = cfg.max_blocks.div_ceil(batches.len());
    let mut rec = Rec {
        cfg: *cfg,
        sampler: BlockSampler::new(cfg.block, per_batch, cfg.seed),
        input_amax: BTreeMap::new(),
        channel_sq: BTreeMap::new(),
        weights: BTreeMap::new(),
    };
    let mut out = Captured {
        block: cfg.block,
        batches: batches.len(),
        ..Captured::default()
    };
    for (bi, ids) in batches.iter().enumerate() {
        if ids.is_empty() || ids.len() % seq_len != 0 {
            return Err(GridLearnError::Config(format!(
                "batch {bi} has {} tokens, not whole rows of {seq_len}",
                ids.len()
            )));
        }
        let seed = cfg.seed ^ (bi as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        rec.sampler = BlockSampler::new(cfg.block, per_batch, seed);
        rec.input_amax.clear();
        let v: Vec<i64> = ids.iter().map(|&t| t as i64).collect();
        let n = v.len();
        let x = Tensor::<1, Int>::from_data(TensorData::new(v, [n]), device)
            .reshape([n / seq_len, seq_len]);
        let (logits, r) = with_recorder(rec, || model.forward(x))?;
        logits?;
        rec = r;
        for (layer, blocks) in std::mem::take(&mut rec.sampler.input) {
            out.activations.push(TensorBlocks {
                tensor_amax: rec.input_amax.get(&layer).copied().unwrap_or(0.0),
                layer,
                blocks: blocks.concat(),
                columns: Vec::new(),
            });
        }
    }
    out.weights = rec.weights.into_values().collect();
    out.channel_ms = rec
        .channel_sq
        .into_iter()
        .map(|(k, (s, rows))| (k, s.iter().map(|v| v / rows.max(1) as f64).collect()))
        .collect();
    Ok(out)
}
