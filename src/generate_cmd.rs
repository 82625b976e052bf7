//! `lowbit generate --checkpoint DIR --prompt TEXT [--max-new-tokens N] [--temperature T]
//! [--top-p P] [--seed S]`: continues the prompt with the KV cache and prints the continuation.
//!
//! Generation stops at `max_new_tokens`, at the checkpoint's end-of-sequence id (`eos_token_id`
//! of `config.json`, else the tokenizer's `<|endoftext|>`), or at the model's max_seq_len.

use crate::eval_cmd::{encode, load_checkpoint};
use anyhow::{Result, bail};
use clap::Args;
use lowbit_nn::llama::{GenerateConfig, generate};
use std::path::PathBuf;

/// Arguments of `lowbit generate`.
#[derive(Args)]
pub struct GenerateArgs {
    /// HF model directory, lowbit step directory or lowbit run directory (its LATEST step).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Text to continue.
    #[arg(long)]
    pub prompt: String,
    /// Most tokens to generate (lowered to fit the model's max_seq_len).
    #[arg(long, default_value_t = 64)]
    pub max_new_tokens: usize,
    /// Softmax temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    /// Nucleus mass in (0, 1]; 1 samples from the whole vocabulary.
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f64,
    /// Seed of the sampling stream.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// `cpu` (Burn's flex backend), `cuda[:N]` or `wgpu` (the latter two in builds with that
    /// feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Runs `lowbit generate`.
pub fn run(a: GenerateArgs) -> Result<()> {
    let device = lowbit_train::device::parse_device(&a.device)?;
    let ck = load_checkpoint(&a.checkpoint, &device)?;
    let prompt = encode(&ck.tokenizer, &a.prompt)?;
    if prompt.is_empty() {
        bail!("--prompt gives no tokens; give some text to continue");
    }
    let max_len = ck.loaded.model.max_seq_len();
    if prompt.len() >= max_len {
        bail!(
            "the prompt is {} tokens; the model's max_seq_len {max_len} leaves no room to generate",
            prompt.len()
        );
    }
    let room = max_len - prompt.len();
    if a.max_new_tokens > room {
        eprintln!(
            "note: max_new_tokens lowered from {} to {room} (max_seq_len {max_len})",
            a.max_new_tokens
        );
    }
    let mut eos = ck.loaded.special.eos_token_ids.clone();
    if eos.is_empty() {
        eos.extend(ck.tokenizer.token_to_id("<|endoftext|>"));
    }
    let cfg = GenerateConfig::new()
        .with_max_new_tokens(a.max_new_tokens.min(room))
        .with_temperature(a.temperature)
        .with_top_p(a.top_p)
        .with_seed(a.seed)
        .with_eos_token_ids(eos);
    let new = generate(&ck.loaded.model, &prompt, &cfg)?;
    let text = ck
        .tokenizer
        .decode(&new, true)
        .map_err(|e| anyhow::anyhow!("cannot decode: {e}"))?;
    println!("{text}");
    Ok(())
}
