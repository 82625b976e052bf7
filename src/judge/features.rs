//! `lowbit judge features --target T --draft D --labels labels.jsonl --out feats.safetensors`:
//! both models' final hidden states at every mined mismatch (spec §6.2).

use super::mine::read_done;
use super::models::{RunArgs, load_pair, progress};
use anyhow::{Result, bail};
use clap::Args;
use lowbit_judge::features::Features;
use lowbit_judge::lm::Lm;
use std::path::PathBuf;

/// Arguments of `lowbit judge features`.
#[derive(Args)]
pub struct FeaturesArgs {
    /// Target model (the one the labels were mined with).
    #[arg(long)]
    pub target: PathBuf,
    /// Draft model.
    #[arg(long)]
    pub draft: PathBuf,
    /// Labels from `lowbit judge mine`.
    #[arg(long)]
    pub labels: PathBuf,
    /// Output feature file (safetensors).
    #[arg(long)]
    pub out: PathBuf,
    /// Device and progress display.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Runs `lowbit judge features`.
pub fn run(a: FeaturesArgs) -> Result<()> {
    let device = lowbit_train::device::parse_device(&a.run.device)?;
    if !a.labels.is_file() {
        bail!(
            "--labels {}: no such file; run `lowbit judge mine` first",
            a.labels.display()
        );
    }
    let mined = read_done(&a.labels)?;
    if mined.iter().all(|m| m.mismatches.is_empty()) {
        bail!(
            "{}: no labelled mismatches in {} problems; mine more problems or use a weaker draft",
            a.labels.display(),
            mined.len()
        );
    }
    let mut pair = load_pair(&a.target, &a.draft, &device)?;
    let vocab = pair.target.vocab_size();
    let mut f = Features::new(pair.draft.hidden_size(), pair.target.hidden_size());
    let (bar, lines) = progress(a.run.progress, mined.len() as u64, "problems");
    for (k, m) in mined.iter().enumerate() {
        if let Some(t) = m.tokens.iter().find(|&&t| t as usize >= vocab) {
            bail!(
                "{}: problem {} has token {t} outside the target's vocabulary of {vocab}; were the labels mined with these models?",
                a.labels.display(),
                m.id
            );
        }
        f.push(&mut pair.target, &mut pair.draft, m)?;
        bar.set_position(k as u64 + 1);
        if lines && (k + 1) % 50 == 0 {
            eprintln!("{}/{} problems, {} rows", k + 1, mined.len(), f.rows());
        }
    }
    bar.finish_and_clear();
    f.save(&a.out)?;
    let imp = f.important.iter().filter(|&&x| x).count();
    eprintln!(
        "wrote {} rows ({imp} important) of {} problems to {} (d_draft {}, d_target {})",
        f.rows(),
        f.problem_ids.len(),
        a.out.display(),
        f.d_draft,
        f.d_target
    );
    Ok(())
}
