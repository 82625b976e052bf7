//! `lowbit compress --checkpoint DIR --format FORMAT --method rtn|gptq|mr-gptq|aqlm --out DIR
//! [--calib-text FILE]`: post-training compression of a full-precision Llama into a compressed
//! checkpoint (`lowbit_nn::hf::compressed`) that `lowbit eval`, `generate` and `export` load.
//!
//! Sequential, block by block, as GPTQ's `llama_sequential`: the calibration windows are
//! embedded once; for each block, one full-precision pass of the block on the current hidden
//! states gives every linear's inputs (all seven linears of a block from that one pass), each
//! selected linear is compressed from its Hessian, and the block — now compressed — is run again
//! to give the next block its inputs, so every layer is calibrated on what the already
//! compressed layers before it produce. With `--finetune-epochs N` the coded block's continuous
//! parameters are then fine-tuned to the full-precision block's outputs (`finetune`) before
//! the next block's inputs are computed. `compress.jsonl` gets one line per layer with its
//! relative output error ‖WXᵀ − ŴXᵀ‖²/‖WXᵀ‖² on the calibration inputs; a killed run resumes
//! from the last finished block (`progress`).

pub(crate) mod calib;
mod finetune;
mod method;
mod progress;
mod run;

pub use method::Method;
pub use run::run;

use crate::train_cmd::ProgressArg;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Element type of the full-precision tensors (embeddings, norms, uncompressed linears).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DtypeArg {
    /// f32 (lossless).
    F32,
    /// bfloat16.
    Bf16,
}

/// Arguments of `lowbit compress`.
#[derive(Args)]
pub struct CompressArgs {
    /// Full-precision HF directory (`lowbit import gguf`, `lowbit models get`), lowbit run or
    /// step directory.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Weight format: a lowbit format (`int4:block=128`, `int3:block=128`, `nvfp4`, `mxfp4`,
    /// `po2-nf4-default`, …; `lowbit formats list`) or `vq:MxBgG` for AQLM.
    #[arg(long)]
    pub format: String,
    /// Post-training method.
    #[arg(long, value_enum)]
    pub method: Method,
    /// Output directory (the compressed checkpoint, with `compress.jsonl`).
    #[arg(long)]
    pub out: PathBuf,
    /// Calibration text (required by every method but rtn) and its windows.
    #[command(flatten)]
    pub calib: calib::CalibArgs,
    /// GPTQ damping, relative to the mean Hessian diagonal (`percdamp`).
    #[arg(long, default_value_t = 0.01)]
    pub damp: f32,
    /// GPTQ lazy-batch block size.
    #[arg(long, default_value_t = 128)]
    pub block_size: usize,
    /// GPTQ act-order (columns by decreasing Hessian diagonal) with static groups.
    #[arg(long)]
    pub act_order: bool,
    /// MR-GPTQ: block of the Walsh–Hadamard rotation (default: the format's block size).
    #[arg(long)]
    pub hadamard_block: Option<usize>,
    /// MR-GPTQ: block scales from the block's absmax instead of FP-Quant's MSE search.
    #[arg(long)]
    pub absmax_scales: bool,
    /// AQLM: beam size of the code search.
    #[arg(long, default_value_t = 1)]
    pub beam_size: usize,
    /// AQLM: most alternations of codebook/scale Adam steps and code search per layer.
    #[arg(long, default_value_t = 100)]
    pub max_epochs: usize,
    /// AQLM: Adam steps per alternation.
    #[arg(long, default_value_t = 100)]
    pub steps_per_epoch: usize,
    /// AQLM: stop a layer when an alternation improves its objective by less than this fraction
    /// (the official `relative_mse_tolerance`).
    #[arg(long, default_value_t = 0.01)]
    pub relative_tolerance: f64,
    /// AQLM: seed of the k-means start.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// AQLM-style block fine-tuning (§3.4): after a block is coded, train its continuous
    /// parameters (codebooks, scales, norms) for at most this many epochs to match the
    /// full-precision block's outputs (0: off; needs calibration text).
    #[arg(long, default_value_t = 0)]
    pub finetune_epochs: usize,
    /// Block fine-tuning: Adam learning rate.
    #[arg(long, default_value_t = 1e-4)]
    pub finetune_lr: f64,
    /// Block fine-tuning: calibration windows per minibatch.
    #[arg(long, default_value_t = 4)]
    pub finetune_batch: usize,
    /// Block fine-tuning: stop after this many epochs without a better held-out loss.
    #[arg(long, default_value_t = 3)]
    pub finetune_patience: usize,
    /// Compress only linears whose HF name matches one of these globs (default: every linear
    /// inside the blocks).
    #[arg(long = "include")]
    pub include: Vec<String>,
    /// Keep linears matching these globs in full precision.
    #[arg(long = "exclude")]
    pub exclude: Vec<String>,
    /// Directory of extra grid files (learned grids such as `po2-nf4-default`).
    #[arg(long, default_value = "grids")]
    pub grids_dir: PathBuf,
    /// Element type of the tensors that stay full precision.
    #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
    pub dtype: DtypeArg,
    /// Overwrite a finished checkpoint in `--out`, or discard an unfinished run's progress.
    #[arg(long)]
    pub force: bool,
    /// Progress display.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
    /// `cpu`, `cuda[:N]` or `wgpu` (the latter two in builds with that feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Stop after this many blocks, as a kill would (tests of resume).
    #[arg(long, hide = true)]
    pub stop_after_blocks: Option<usize>,
}
