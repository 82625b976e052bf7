//! `lowbit judge train --features feats.safetensors --out HEAD_DIR`: standardisation + L2
//! logistic regression, C chosen by validation ROC-AUC on a prompt-level split (spec §6.3).

use anyhow::{Context, Result};
use clap::Args;
use lowbit_judge::features::Features;
use lowbit_judge::head::{HeadConfig, train_head};
use std::path::PathBuf;

/// Arguments of `lowbit judge train`.
#[derive(Args)]
pub struct TrainArgs {
    /// Feature file from `lowbit judge features`.
    #[arg(long)]
    pub features: PathBuf,
    /// Output head directory (head.safetensors + head.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Feature set: dd-dt (the paper's default), dt, dd, all, prev.
    #[arg(long, default_value = "dd-dt")]
    pub feature_set: String,
    /// Fraction of problems held out for choosing C and the thresholds.
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f64,
    /// Seed of the problem-level split (the official script uses 52).
    #[arg(long, default_value_t = 52)]
    pub seed: u64,
    /// Refit the chosen C on all rows (the thresholds stay those of the validation split).
    #[arg(long)]
    pub refit_all: bool,
}

/// Runs `lowbit judge train`.
pub fn run(a: TrainArgs) -> Result<()> {
    let f = Features::load(&a.features)?;
    let (x, cols) = f.matrix(&a.feature_set)?;
    let cfg = HeadConfig::new()
        .with_val_fraction(a.val_fraction)
        .with_seed(a.seed)
        .with_refit_all(a.refit_all);
    let head = train_head(
        &x,
        f.rows(),
        cols,
        &f.important,
        &f.group,
        &a.feature_set,
        &cfg,
    )
    .with_context(|| format!("cannot train a head on {}", a.features.display()))?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    head.save(&a.out)?;
    println!("| C | validation ROC-AUC |\n|---|---|");
    for (c, auc) in &head.c_search {
        println!("| {c:.3e} | {auc:.4} |");
    }
    println!(
        "\nchosen C = {:.3e}, validation ROC-AUC {:.4}; {} rows ({} important), {} features ({}); head in {}",
        head.c,
        head.val_auc,
        f.rows(),
        f.important.iter().filter(|&&y| y).count(),
        cols,
        a.feature_set,
        a.out.display()
    );
    Ok(())
}
