//! The recipe schema. Every field is documented here and in `recipes/README.md`; unknown keys
//! are errors (`deny_unknown_fields`). Defaults follow the QuEST training setup
//! (formats-and-scaling.md §6: AdamW β = (0.9, 0.95), weight decay 0.1, grad-clip 1.0,
//! OneCycle: 10% warmup from lr/100, cosine to lr/10).

pub use lowbit_optim::WeightDecayRule;
use serde::{Deserialize, Serialize};

/// A complete, resolved training recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Name of a recipe in the same directory this one builds on (resolved before parsing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    /// One-line description shown by `lowbit train --list`.
    #[serde(default)]
    pub description: String,
    /// Model architecture.
    pub model: ModelSection,
    /// Training data.
    pub data: DataSection,
    /// Which layers are compressed, and how.
    #[serde(default)]
    pub compression: CompressionSection,
    /// Optimisation and schedule.
    pub train: TrainSection,
    /// Checkpointing.
    #[serde(default)]
    pub checkpoint: CheckpointSection,
    /// Logging.
    #[serde(default)]
    pub log: LogSection,
    /// Periodic validation.
    #[serde(default)]
    pub eval: EvalSection,
}

/// Llama-style decoder (RMSNorm, RoPE, SwiGLU, GQA).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// Size preset (`tiny`, `small`, `30m`, `50m`, `100m`, `200m`, `430m`, `800m`); explicit
    /// fields below override it.
    #[serde(default)]
    pub preset: Option<String>,
    /// Hidden size.
    #[serde(default)]
    pub d_model: Option<usize>,
    /// Number of decoder blocks.
    #[serde(default)]
    pub n_layers: Option<usize>,
    /// Attention heads.
    #[serde(default)]
    pub n_heads: Option<usize>,
    /// Key/value heads (GQA); defaults to `n_heads`.
    #[serde(default)]
    pub n_kv_heads: Option<usize>,
    /// SwiGLU hidden size; defaults to 256·ceil(8·d_model/3/256).
    #[serde(default)]
    pub d_ff: Option<usize>,
    /// RoPE base frequency.
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    /// RMSNorm epsilon.
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// Share the embedding and LM-head matrices.
    #[serde(default)]
    pub tie_embeddings: bool,
}

/// Where the tokens come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// Corpus: a name under `datasets/raw/` (`shakespeare`, `sotu`, `moby-dick`), `all`, or a
    /// directory of `*.txt` files.
    pub corpus: String,
    /// Vocabulary size of the byte-level BPE trained on the corpus.
    #[serde(default = "default_vocab")]
    pub vocab_size: usize,
    /// Use this `tokenizer.json` instead of training one.
    #[serde(default)]
    pub tokenizer: Option<String>,
}

/// Gradient estimator through the quantizers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EstimatorName {
    /// Straight-through (identity gradient).
    Ste,
    /// STE masked outside the clipping range.
    ClippedSte,
    /// QuEST trust mask (gradient only where |q − x| ≤ trust).
    Trust,
    /// Learned step size (Esser et al. 2020).
    Lsq,
}

/// Hadamard rotation of compressed linears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HadamardMode {
    /// No rotation.
    None,
    /// Rotate W and X, keep the product in the rotated basis (QuEST `HalfHadamard`).
    Half,
    /// Rotate, quantize, rotate back.
    Full,
}

/// Compression policy by module name (HF Llama names, e.g. `model.layers.*.self_attn.q_proj`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompressionSection {
    /// Weight format (`lowbit formats list`); absent = full precision.
    #[serde(default)]
    pub weight: Option<String>,
    /// Input-activation format; absent = full precision.
    #[serde(default)]
    pub input: Option<String>,
    /// Grid file for the weight format's grids (e.g. a learned `grids/mpo2.toml`).
    #[serde(default)]
    pub weight_grid_file: Option<String>,
    /// Grid file for the input format's grids.
    #[serde(default)]
    pub input_grid_file: Option<String>,
    /// Gradient estimator.
    #[serde(default = "default_estimator")]
    pub estimator: EstimatorName,
    /// Trust factor of the `trust` estimator, in units of half a quantization step.
    #[serde(default = "one")]
    pub trust_factor: f64,
    /// Hadamard rotation.
    #[serde(default = "default_hadamard")]
    pub hadamard: HadamardMode,
    /// Globs of module names to compress (default: every linear inside the blocks).
    #[serde(default = "default_include")]
    pub include: Vec<String>,
    /// Globs excluded from `include`.
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// What to do when the loss or gradient norm is NaN/Inf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NonFinitePolicy {
    /// Refuse the step, write a checkpoint of the last good state, stop with an error.
    Stop,
    /// Refuse the step, log it, continue with the next batch.
    Skip,
}

/// Optimisation, schedule and batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    /// Optimizer steps.
    pub steps: u64,
    /// Seed of every random stream (init, data order, stochastic rounding).
    pub seed: u64,
    /// Sequences per optimizer step (across accumulation).
    pub batch_size: usize,
    /// Tokens per sequence.
    pub seq_len: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Micro-batches per step (batch_size must divide evenly).
    #[serde(default = "one_usize")]
    pub grad_accum: usize,
    /// Fraction of steps spent warming up from lr / `initial_lr_div`.
    #[serde(default = "default_warmup")]
    pub warmup_frac: f64,
    /// Warmup starts at lr / this.
    #[serde(default = "default_div")]
    pub initial_lr_div: f64,
    /// Cosine decay ends at lr · this.
    #[serde(default = "default_final")]
    pub final_lr_frac: f64,
    /// AdamW β1.
    #[serde(default = "default_beta1")]
    pub beta1: f64,
    /// AdamW β2.
    #[serde(default = "default_beta2")]
    pub beta2: f64,
    /// AdamW ε.
    #[serde(default = "default_adam_eps")]
    pub eps: f64,
    /// Decoupled weight decay λ, applied to the parameters `weight_decay_rule` selects.
    #[serde(default = "default_wd")]
    pub weight_decay: f64,
    /// Which parameters decay: `linear` (default: block linears and an untied `lm_head`),
    /// `quest` (block linears only, QuEST), `nanogpt` (every ≥2-D tensor incl. the embedding).
    #[serde(default)]
    pub weight_decay_rule: WeightDecayRule,
    /// Global gradient-norm clip (0 = off).
    #[serde(default = "one")]
    pub grad_clip: f64,
    /// Non-finite loss / grad-norm policy.
    #[serde(default = "default_nonfinite")]
    pub on_non_finite: NonFinitePolicy,
    /// Devices for data parallelism (`cpu`, or CUDA indices such as `cuda:0`).
    #[serde(default = "default_devices")]
    pub devices: Vec<String>,
}

/// Checkpointing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSection {
    /// Write a checkpoint every this many steps (and at the end, and on Ctrl-C).
    #[serde(default = "default_ckpt_every")]
    pub every_steps: u64,
    /// Complete checkpoints kept; older ones are deleted only after a newer one is committed.
    #[serde(default = "default_keep")]
    pub keep_last: usize,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// Write a metrics line every this many steps.
    #[serde(default = "one_u64")]
    pub every_steps: u64,
}

/// Periodic validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSection {
    /// Validate every this many steps (and at the end).
    #[serde(default = "default_eval_every")]
    pub every_steps: u64,
    /// Validation batches per evaluation.
    #[serde(default = "default_eval_batches")]
    pub batches: usize,
}

impl Default for CompressionSection {
    fn default() -> Self {
        Self {
            weight: None,
            input: None,
            weight_grid_file: None,
            input_grid_file: None,
            estimator: default_estimator(),
            trust_factor: 1.0,
            hadamard: default_hadamard(),
            include: default_include(),
            exclude: Vec::new(),
        }
    }
}
impl Default for CheckpointSection {
    fn default() -> Self {
        Self {
            every_steps: default_ckpt_every(),
            keep_last: default_keep(),
        }
    }
}
impl Default for LogSection {
    fn default() -> Self {
        Self { every_steps: 1 }
    }
}
impl Default for EvalSection {
    fn default() -> Self {
        Self {
            every_steps: default_eval_every(),
            batches: default_eval_batches(),
        }
    }
}

fn default_rope_theta() -> f64 {
    10_000.0
}
fn default_eps() -> f64 {
    1e-5
}
fn default_vocab() -> usize {
    4096
}
fn default_estimator() -> EstimatorName {
    EstimatorName::Ste
}
fn default_hadamard() -> HadamardMode {
    HadamardMode::None
}
fn default_include() -> Vec<String> {
    vec![
        "model.layers.*.self_attn.*_proj".into(),
        "model.layers.*.mlp.*_proj".into(),
    ]
}
fn one() -> f64 {
    1.0
}
fn one_usize() -> usize {
    1
}
fn one_u64() -> u64 {
    1
}
fn default_warmup() -> f64 {
    0.1
}
fn default_div() -> f64 {
    100.0
}
fn default_final() -> f64 {
    0.1
}
fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.95
}
fn default_adam_eps() -> f64 {
    1e-8
}
fn default_wd() -> f64 {
    0.1
}
fn default_nonfinite() -> NonFinitePolicy {
    NonFinitePolicy::Stop
}
fn default_devices() -> Vec<String> {
    vec!["cpu".into()]
}
fn default_ckpt_every() -> u64 {
    1000
}
fn default_keep() -> usize {
    3
}
fn default_eval_every() -> u64 {
    500
}
fn default_eval_batches() -> usize {
    8
}
