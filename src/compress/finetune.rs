//! AQLM's block-wise fine-tuning (Egiazarian et al. 2024, §3.4; `Vahe1994/AQLM:src/finetune.py`,
//! `finetune_groupwise`): after every linear of a block is coded, the block's continuous
//! parameters — codebooks and row scales of the VQ layers, the two
//! RMSNorm weights, any linear left in full precision — are trained by Adam to reproduce the
//! full-precision block's outputs on the same inputs (MSE), with the codes fixed. Only with
//! `--method aqlm`: scalar formats' block scales are constrained to their stored type.
//!
//! As the official code: Adam with β = (0.9, 0.999) and no weight decay (README: lr 1e-4),
//! minibatches of calibration windows in a seeded random order each epoch, a held-out split
//! of the windows for early stopping (`--finetune-patience` epochs without improvement), and
//! the best parameters on that split are kept. Where lowbit differs: the split is the *last*
//! ⌈N/8⌉ windows (the official code takes `--val_size` sequences from a separate draw; with a
//! file read from its start the tail is the reproducible equivalent), and with a single
//! window there is no split and the training loss decides.

use anyhow::{Context, Result};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use lowbit_nn::hf::{HostTensor, load_state_dict, state_dict};
use lowbit_nn::llama::{Block, Rope};
use lowbit_optim::{AdamW, AdamWConfig, Optimizer, WeightDecayRule};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// Settings of the block fine-tuning (`--finetune-*`).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FinetuneOptions {
    /// Most passes over the training windows (0: no fine-tuning).
    pub epochs: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Windows per minibatch.
    pub batch: usize,
    /// Stop after this many epochs without a better held-out loss.
    pub patience: usize,
    /// Seed of the minibatch order (mixed with the block index).
    pub seed: u64,
}

/// What fine-tuning one block did (a `compress.jsonl` line).
#[derive(Debug, Clone, Serialize)]
pub struct FinetuneRecord {
    /// Epochs run.
    pub epochs: usize,
    /// Held-out MSE of the block's outputs before fine-tuning (the training MSE without a split).
    pub loss_before: f64,
    /// The best held-out MSE reached, whose parameters are kept.
    pub loss_after: f64,
    /// Epoch of the best loss (0: the block as coded was never beaten).
    pub best_epoch: usize,
    /// Training windows / held-out windows.
    pub train_windows: usize,
    /// Held-out windows (0: the training loss decides).
    pub val_windows: usize,
    /// Wall time.
    pub seconds: f64,
}

fn windows(x: &Tensor<3>, idx: &[usize], device: &Device) -> Tensor<3> {
    let rows: Vec<Tensor<3>> = idx
        .iter()
        .map(|&i| x.clone().narrow(0, i, 1).to_device(device))
        .collect();
    Tensor::cat(rows, 0)
}

fn mse(out: Tensor<3>, y: Tensor<3>) -> Tensor<1> {
    (out - y).square().mean()
}

fn value(t: Tensor<1>) -> Result<f64> {
    let v = t
        .into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| anyhow::anyhow!("cannot read the fine-tuning loss: {e:?}"))?;
    Ok(v.first().copied().map_or(f64::NAN, f64::from))
}

/// Mean MSE of `block` over windows `idx` (one forward per minibatch, no graph kept).
fn loss_on(
    block: &Block,
    x: &Tensor<3>,
    y: &Tensor<3>,
    idx: &[usize],
    rope: &Rope,
    batch: usize,
    device: &Device,
) -> Result<f64> {
    let mut sum = 0.0;
    for c in idx.chunks(batch) {
        let out = block.forward(windows(x, c, device), rope)?;
        sum += value(mse(out, windows(y, c, device)))? * c.len() as f64;
    }
    Ok(sum / idx.len().max(1) as f64)
}

/// Fine-tunes `block` (coded, on `device`) so that on inputs `x` `[N, seq, d]` its outputs
/// approach `y` (the full-precision block's outputs on `x`). Returns the best block found and
/// the record. Block `index` seeds the minibatch order.
///
/// # Errors
/// A failed forward pass or an unreadable loss.
pub fn finetune_block(
    block: Block,
    x: &Tensor<3>,
    y: &Tensor<3>,
    rope: &Rope,
    o: &FinetuneOptions,
    index: usize,
    device: &Device,
) -> Result<(Block, FinetuneRecord)> {
    let t0 = Instant::now();
    let n = x.dims()[0];
    let batch = o.batch.max(1);
    let n_val = if n >= 2 { n.div_ceil(8) } else { 0 };
    let train: Vec<usize> = (0..n - n_val).collect();
    let val: Vec<usize> = (n - n_val..n).collect();
    let judge = if n_val > 0 { &val } else { &train };
    let before = loss_on(&block, x, y, judge, rope, batch, device)
        .context("block fine-tuning: the coded block's loss")?;
    let ad = device.clone().autodiff();
    let mut model = block.clone().fork(&ad).train();
    let mut best = (before, 0usize, block);
    let mut opt = AdamW::new(AdamWConfig {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.0,
        weight_decay_rule: WeightDecayRule::Linear,
    });
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed ^ (index as u64).wrapping_mul(0x9E37_79B9));
    let mut order = train.clone();
    let mut epochs = 0;
    let mut stale = 0;
    for epoch in 1..=o.epochs {
        order.shuffle(&mut rng);
        for c in order.chunks(batch) {
            let out = model.forward(windows(x, c, &ad), rope)?;
            let loss = mse(out, windows(y, c, &ad));
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = opt.step(model, grads, o.lr, 1.0)?;
        }
        epochs = epoch;
        let current = model.valid();
        let l = loss_on(&current, x, y, judge, rope, batch, device)?;
        if l < best.0 {
            best = (l, epoch, current);
            stale = 0;
        } else {
            stale += 1;
            if stale >= o.patience.max(1) {
                break;
            }
        }
    }
    let (loss_after, best_epoch, block) = best;
    Ok((
        block,
        FinetuneRecord {
            epochs,
            loss_before: before,
            loss_after,
            best_epoch,
            train_windows: train.len(),
            val_windows: n_val,
            seconds: t0.elapsed().as_secs_f64(),
        },
    ))
}

/// Every parameter of block `i` under its checkpoint name (`model.layers.{i}.…`): what a
/// fine-tuned block saves, since fine-tuning changes its norms and any full-precision linear
/// as well as the coded layers' continuous parameters.
///
/// # Errors
/// A parameter that cannot be read back.
pub fn block_tensors(block: &Block, i: usize) -> Result<BTreeMap<String, HostTensor>> {
    Ok(state_dict(block)?
        .into_iter()
        .map(|(k, t)| {
            let rel = k.strip_prefix("model.").unwrap_or(&k).to_string();
            (format!("model.layers.{i}.{rel}"), t)
        })
        .collect())
}

/// Block `i` with every parameter replaced by the saved `tensors` of [`block_tensors`] (on
/// resume; the coded layers must already have their coded structure).
///
/// # Errors
/// A saved tensor missing, unknown or of the wrong shape.
pub fn restore_block(
    block: Block,
    i: usize,
    tensors: &BTreeMap<String, HostTensor>,
) -> Result<Block> {
    let prefix = format!("model.layers.{i}.");
    let own: BTreeMap<String, HostTensor> = tensors
        .iter()
        .filter_map(|(k, t)| {
            k.strip_prefix(&prefix)
                .map(|r| (format!("model.{r}"), t.clone()))
        })
        .collect();
    load_state_dict(block, &own)
        .with_context(|| format!("cannot restore fine-tuned block {i} from its progress file"))
}
