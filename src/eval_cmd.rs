//! `lowbit eval --checkpoint DIR --text-file FILE [--max-tokens N] [--seq-len L] [--json]`.
//!
//! DIR is an HF directory (`config.json`, `model.safetensors`, `tokenizer.json`) or a lowbit run
//! or step directory. The file is tokenized with DIR's `tokenizer.json` and cut into
//! non-overlapping windows of `seq_len` inputs whose targets are the next tokens, so every token
//! but the first is predicted exactly once; `nll` is the mean over those predictions (nats) and
//! `ppl = exp(nll)`; `tokens` is how many predictions were averaged.
//!
//! The model is built from the grid files the checkpoint carries (`config.json`), never from
//! `grids/` of the working directory; a same-named file there with other levels is reported.

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Int, Tensor, TensorData};
use clap::Args;
use lowbit_nn::hf::{LoadedModel, grid_conflicts, load_dir};
use std::path::{Path, PathBuf};
use tokenizers::Tokenizer;

/// Arguments of `lowbit eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// HF model directory, lowbit step directory or lowbit run directory (its LATEST step).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// UTF-8 text to score.
    #[arg(long)]
    pub text_file: PathBuf,
    /// Score only the first N tokens of the file.
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// Window length in input tokens (default: the model's max_seq_len).
    #[arg(long)]
    pub seq_len: Option<usize>,
    /// Print `{"nll":..,"ppl":..,"tokens":..,"seq_len":..}` on stdout.
    #[arg(long)]
    pub json: bool,
    /// `cpu` (Burn's flex backend), `cuda[:N]` or `wgpu` (the latter two in builds with that
    /// feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// A model with the tokenizer saved beside it.
pub struct Checkpoint {
    /// The model and its config.
    pub loaded: LoadedModel,
    /// `tokenizer.json` of the checkpoint.
    pub tokenizer: Tokenizer,
}

/// Loads the model and tokenizer of `path`, checking that every token id fits the model.
pub fn load_checkpoint(path: &Path, device: &Device) -> Result<Checkpoint> {
    let loaded = load_dir(path, device)
        .with_context(|| format!("cannot load checkpoint {}", path.display()))?;
    report_grid_conflicts(&loaded);
    let Some(tk_path) = loaded.tokenizer.clone() else {
        bail!(
            "{} has no tokenizer.json; eval and generate need the tokenizer the model was trained with",
            loaded.dir.display()
        );
    };
    let tokenizer = Tokenizer::from_file(&tk_path)
        .map_err(|e| anyhow::anyhow!("cannot read tokenizer {}: {e}", tk_path.display()))?;
    let (tk_vocab, vocab) = (tokenizer.get_vocab_size(true), loaded.config.vocab_size);
    if tk_vocab > vocab {
        bail!(
            "{} has {tk_vocab} tokens but the model's vocab_size is {vocab}; the tokenizer does not belong to this model",
            tk_path.display()
        );
    }
    Ok(Checkpoint { loaded, tokenizer })
}

/// Warns (stderr) about each grid file in the working directory that has the name of a grid
/// the checkpoint carries but other levels: the model uses the checkpoint's copy, and the user
/// may have expected the file.
pub fn report_grid_conflicts(loaded: &LoadedModel) {
    for c in grid_conflicts(&loaded.config.compression, Path::new(".")) {
        eprintln!("warning: {}: {c}", loaded.dir.display());
    }
}

/// Token ids of `text` (no special tokens added).
pub fn encode(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    Ok(tokenizer
        .encode(text, false)
        .map_err(|e| anyhow::anyhow!("cannot tokenize: {e}"))?
        .get_ids()
        .to_vec())
}

/// `[1, seq]` token tensor.
pub fn token_tensor(ids: &[u32], device: &Device) -> Tensor<2, Int> {
    let v: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
    Tensor::<1, Int>::from_data(TensorData::new(v, [ids.len()]), device).reshape([1, ids.len()])
}

/// Sum of next-token NLLs (nats, f64) over one window: `ids[..n-1]` predict `ids[1..]`.
fn window_nll(ck: &Checkpoint, ids: &[u32], device: &Device) -> Result<f64> {
    let logits = ck
        .loaded
        .model
        .forward(token_tensor(&ids[..ids.len() - 1], device))?;
    let [_, t, v] = logits.dims();
    let host = logits
        .into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| anyhow::anyhow!("cannot read logits: {e:?}"))?;
    let mut sum = 0.0;
    for p in 0..t {
        let row = &host[p * v..(p + 1) * v];
        let max = f64::from(row.iter().copied().fold(f32::NEG_INFINITY, f32::max));
        let lse = max
            + row
                .iter()
                .map(|&x| (f64::from(x) - max).exp())
                .sum::<f64>()
                .ln();
        sum += lse - f64::from(row[ids[p + 1] as usize]);
    }
    Ok(sum)
}

/// Runs `lowbit eval`.
pub fn run(a: EvalArgs) -> Result<()> {
    let text = std::fs::read_to_string(&a.text_file)
        .with_context(|| format!("cannot read text file {}", a.text_file.display()))?;
    let device = lowbit_train::device::parse_device(&a.device)?;
    let ck = load_checkpoint(&a.checkpoint, &device)?;
    let max_len = ck.loaded.model.max_seq_len();
    let seq_len = a.seq_len.unwrap_or(max_len);
    if seq_len == 0 || seq_len > max_len {
        bail!("--seq-len {seq_len} must be between 1 and the model's max_seq_len {max_len}");
    }
    let mut ids = encode(&ck.tokenizer, &text)?;
    if let Some(n) = a.max_tokens {
        ids.truncate(n);
    }
    if ids.len() < 2 {
        bail!(
            "{} gives {} token(s); need at least 2 to score a prediction",
            a.text_file.display(),
            ids.len()
        );
    }
    let mut total = 0.0;
    for start in (0..ids.len() - 1).step_by(seq_len) {
        let end = (start + seq_len + 1).min(ids.len());
        total += window_nll(&ck, &ids[start..end], &device)?;
    }
    let count = ids.len() - 1;
    let nll = total / count as f64;
    let ppl = nll.exp();
    if a.json {
        println!(
            "{}",
            serde_json::json!({"nll": nll, "ppl": ppl, "tokens": count, "seq_len": seq_len})
        );
    } else {
        println!(
            "checkpoint {}\ntokens {count}  seq_len {seq_len}  nll {nll:.6}  ppl {ppl:.4}",
            ck.loaded.dir.display()
        );
    }
    Ok(())
}
