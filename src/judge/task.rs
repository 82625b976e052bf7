//! `lowbit judge task --kind arithmetic --seed S --n N --out FILE.jsonl [--corpus-out DIR]`.

use anyhow::{Context, Result, bail};
use clap::Args;
use lowbit_data::tokenizer::EOT;
use lowbit_judge::data::{read_jsonl, write_atomic, write_jsonl};
use lowbit_judge::task::ArithmeticConfig;
use std::collections::HashSet;
use std::path::PathBuf;

/// Problems per corpus file.
const PER_FILE: usize = 250;

/// Arguments of `lowbit judge task`.
#[derive(Args)]
pub struct TaskArgs {
    /// Problem family (only `arithmetic`; GSM8K itself is read with `--data` elsewhere).
    #[arg(long, default_value = "arithmetic")]
    pub kind: String,
    /// Seed of the problem stream.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of problems.
    #[arg(long)]
    pub n: usize,
    /// Operations per problem.
    #[arg(long, default_value_t = 2)]
    pub steps: usize,
    /// Largest start value and operand.
    #[arg(long, default_value_t = 20)]
    pub max_value: u32,
    /// Also draw "k times as many" steps.
    #[arg(long)]
    pub multiply: bool,
    /// Skip questions that appear in these jsonl files (held-out sets never repeat training
    /// questions).
    #[arg(long)]
    pub exclude: Vec<PathBuf>,
    /// Output jsonl.
    #[arg(long)]
    pub out: PathBuf,
    /// Also write `DIR/problems-NNNN.txt` (250 problems each): each problem's prompt and worked
    /// solution, separated by `<|endoftext|>`, a corpus for `lowbit train` (`data.corpus = DIR`).
    #[arg(long)]
    pub corpus_out: Option<PathBuf>,
}

/// Runs `lowbit judge task`.
pub fn run(a: TaskArgs) -> Result<()> {
    if a.kind != "arithmetic" {
        bail!(
            "--kind {}: the only generated task is `arithmetic` (GSM8K jsonl is read directly by mine/eval)",
            a.kind
        );
    }
    if a.n == 0 {
        bail!("--n 0: ask for at least one problem");
    }
    let cfg = ArithmeticConfig::new()
        .with_steps(a.steps)
        .with_max_value(a.max_value)
        .with_multiply(a.multiply);
    let mut exclude = HashSet::new();
    for f in &a.exclude {
        exclude.extend(read_jsonl(f)?.into_iter().map(|p| p.question));
    }
    let problems = cfg.generate(a.seed, a.n, &exclude)?;
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    write_jsonl(&a.out, &problems)?;
    if let Some(dir) = &a.corpus_out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        // Files of 250 problems: the trainer splits train/validation by document (file).
        for (k, chunk) in problems.chunks(PER_FILE).enumerate() {
            let text: Vec<String> = chunk.iter().map(|p| p.training_text()).collect();
            let body = text.join(EOT) + EOT;
            write_atomic(&dir.join(format!("problems-{k:04}.txt")), body.as_bytes())?;
        }
    }
    eprintln!("wrote {} problems to {}", problems.len(), a.out.display());
    Ok(())
}
