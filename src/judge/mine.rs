//! `lowbit judge mine --target T --draft D --data F --out labels.jsonl`: the semi-greedy search
//! over every problem of F (resumable: problems already in `--out` are skipped, a torn last
//! line is dropped).

use super::models::{RunArgs, load_pair, progress};
use anyhow::{Context, Result};
use clap::Args;
use lowbit_judge::data::read_jsonl;
use lowbit_judge::mine::{MineConfig, Mined, mine};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Arguments of `lowbit judge mine`.
#[derive(Args)]
pub struct MineArgs {
    /// Target model: run, step or HF directory.
    #[arg(long)]
    pub target: PathBuf,
    /// Draft model (same vocabulary).
    #[arg(long)]
    pub draft: PathBuf,
    /// Problems (GSM8K-style jsonl).
    #[arg(long)]
    pub data: PathBuf,
    /// Output labels (jsonl, one line per problem).
    #[arg(long)]
    pub out: PathBuf,
    /// Only the first N problems.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Most tokens the target generates per response.
    #[arg(long, default_value_t = 256)]
    pub max_new_tokens: usize,
    /// Seconds per problem before its search stops early.
    #[arg(long, default_value_t = 600.0)]
    pub time_budget_s: f64,
    /// Device and progress display.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Reads the problems already mined; rewrites the file without a torn last line.
pub fn read_done(path: &Path) -> Result<Vec<Mined>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut done = Vec::new();
    let mut good = 0;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let last = i + 1 == lines.len();
        match serde_json::from_str::<Mined>(line.trim_end()) {
            Ok(m) if line.ends_with('\n') => {
                done.push(m);
                good += line.len();
            }
            // Only the last line may be torn (a killed run); anything else is not ours.
            _ if last => break,
            Ok(_) => break,
            Err(e) => anyhow::bail!(
                "{}:{}: not a mined-problem line ({e}); use another --out or remove the file",
                path.display(),
                i + 1
            ),
        }
    }
    if good < text.len() {
        std::fs::write(path, &text[..good])
            .with_context(|| format!("cannot rewrite {}", path.display()))?;
    }
    Ok(done)
}

/// Runs `lowbit judge mine`.
pub fn run(a: MineArgs) -> Result<()> {
    let device = lowbit_train::device::parse_device(&a.run.device)?;
    let mut problems = read_jsonl(&a.data)?;
    if let Some(n) = a.limit {
        problems.truncate(n);
    }
    let mut pair = load_pair(&a.target, &a.draft, &device)?;
    let done: HashSet<String> = read_done(&a.out)?.into_iter().map(|m| m.id).collect();
    let cfg = MineConfig::new()
        .with_max_new_tokens(a.max_new_tokens)
        .with_time_budget_s(a.time_budget_s);
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&a.out)
        .with_context(|| format!("cannot open {}", a.out.display()))?;
    let (bar, lines) = progress(a.run.progress, problems.len() as u64, "problems");
    let (mut n_mis, mut n_imp) = (0usize, 0usize);
    for (k, p) in problems.iter().enumerate() {
        bar.set_position(k as u64);
        if done.contains(&p.id) {
            continue;
        }
        let prompt = pair.encode(&p.prompt())?;
        let tk = &pair.tokenizer;
        let decode = |ids: &[u32]| {
            tk.decode(ids, true)
                .map_err(|e| lowbit_judge::JudgeError::Input(format!("cannot decode: {e}")))
        };
        let m = mine(
            &p.id,
            &mut pair.target,
            &mut pair.draft,
            &prompt,
            &pair.eos,
            &decode,
            &cfg,
        )?;
        n_mis += m.mismatches.len();
        n_imp += m.mismatches.iter().filter(|x| x.important).count();
        let mut line = serde_json::to_string(&m)?;
        line.push('\n');
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .with_context(|| format!("cannot append to {}", a.out.display()))?;
        bar.set_message(format!("{n_mis} mismatches, {n_imp} important"));
        if lines {
            eprintln!(
                "{}/{} {}: {} mismatches ({} important), answer {:?}, {:.1} s",
                k + 1,
                problems.len(),
                p.id,
                m.mismatches.len(),
                m.mismatches.iter().filter(|x| x.important).count(),
                m.target_answer,
                m.seconds
            );
        }
    }
    bar.finish_and_clear();
    eprintln!(
        "mined {} problems ({} already done): {n_mis} mismatches, {n_imp} important; labels in {}",
        problems.len() - done.len().min(problems.len()),
        done.len(),
        a.out.display()
    );
    Ok(())
}
