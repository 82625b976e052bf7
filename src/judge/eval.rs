//! `lowbit judge eval --target T --draft D --head H --data F [--window W] [--thresholds …]
//! --out results.jsonl`: target-only greedy decoding, lossless speculative decoding, AutoJudge
//! at each threshold and the top-K acceptance baseline, one jsonl line per (problem, mode,
//! threshold), then the summary table and the accuracy / accepted-tokens plot.

use super::models::{RunArgs, load_pair, progress};
use super::report::{Line, summarise, write_plot};
use anyhow::{Context, Result, bail};
use clap::Args;
use lowbit_judge::answer::{is_correct, parse_answer};
use lowbit_judge::data::{read_jsonl, write_atomic};
use lowbit_judge::head::JudgeHead;
use lowbit_judge::specdec::{Accept, Decoded, speculative, target_greedy};
use std::path::PathBuf;

/// Arguments of `lowbit judge eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// Target model.
    #[arg(long)]
    pub target: PathBuf,
    /// Draft model (same vocabulary).
    #[arg(long)]
    pub draft: PathBuf,
    /// Judge head directory (`lowbit judge train`); without it the autojudge mode is skipped.
    #[arg(long)]
    pub head: Option<PathBuf>,
    /// Problems (GSM8K-style jsonl).
    #[arg(long)]
    pub data: PathBuf,
    /// Only the first N problems.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Draft tokens per verification cycle.
    #[arg(long, default_value_t = 16)]
    pub window: usize,
    /// AutoJudge thresholds on P(important), comma-separated (a mismatch is accepted iff
    /// P < threshold; 0 accepts none).
    #[arg(long, value_delimiter = ',')]
    pub thresholds: Vec<f64>,
    /// AutoJudge thresholds as quantiles of the head's validation P(important) (its threshold
    /// table: multiples of 0.04), used when --thresholds is not given; quantile q accepts about
    /// a fraction q of the validation mismatches.
    #[arg(long, value_delimiter = ',', default_value = "0.2,0.4,0.6,0.8,0.96")]
    pub quantiles: Vec<f64>,
    /// K of the top-K acceptance baseline, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "2,3,5")]
    pub topk: Vec<usize>,
    /// Most new tokens per problem.
    #[arg(long, default_value_t = 256)]
    pub max_new_tokens: usize,
    /// Output jsonl; the summary goes beside it as `.summary.md` and the plot as `.png`/`.svg`.
    #[arg(long)]
    pub out: PathBuf,
    /// Device and progress display.
    #[command(flatten)]
    pub run: RunArgs,
}

/// One decoding mode with its parameter.
enum Mode {
    Target,
    Exact,
    Judge(f64),
    TopK(usize),
}

impl Mode {
    fn name(&self) -> &'static str {
        match self {
            Mode::Target => "target",
            Mode::Exact => "exact-sd",
            Mode::Judge(_) => "autojudge",
            Mode::TopK(_) => "topk",
        }
    }

    fn threshold(&self) -> Option<f64> {
        match self {
            Mode::Judge(t) => Some(*t),
            Mode::TopK(k) => Some(*k as f64),
            _ => None,
        }
    }
}

/// Runs `lowbit judge eval`.
pub fn run(a: EvalArgs) -> Result<()> {
    let device = lowbit_train::device::parse_device(&a.run.device)?;
    let mut problems = read_jsonl(&a.data)?;
    if let Some(n) = a.limit {
        problems.truncate(n);
    }
    if a.window == 0 {
        bail!("--window 0: draft at least one token per cycle");
    }
    let head = match &a.head {
        Some(h) => Some(JudgeHead::load(h)?),
        None => None,
    };
    let mut pair = load_pair(&a.target, &a.draft, &device)?;
    let mut modes = vec![Mode::Target, Mode::Exact];
    if let Some(h) = &head {
        let mut ts = a.thresholds.clone();
        if ts.is_empty() {
            for &q in &a.quantiles {
                ts.push(h.threshold_at(q).with_context(|| {
                    format!(
                        "--quantiles {q}: the head's threshold table has no such quantile (0..=1)"
                    )
                })?);
            }
        }
        if let Some(t) = ts.iter().find(|t| !t.is_finite() || **t < 0.0) {
            bail!("--thresholds {t}: thresholds are probabilities >= 0");
        }
        modes.extend(ts.into_iter().map(Mode::Judge));
    }
    if a.topk.contains(&0) {
        bail!("--topk 0: K must be at least 1");
    }
    modes.extend(a.topk.iter().map(|&k| Mode::TopK(k)));
    let (bar, lines) = progress(a.run.progress, problems.len() as u64, "problems");
    let mut out = Vec::new();
    for (k, p) in problems.iter().enumerate() {
        let prompt = pair.encode(&p.prompt())?;
        for m in &modes {
            let d: Decoded = match m {
                Mode::Target => {
                    target_greedy(&mut pair.target, &prompt, &pair.eos, a.max_new_tokens)?
                }
                _ => {
                    let accept = match m {
                        Mode::Judge(t) => Accept::Judge {
                            head: head.as_ref().context("autojudge needs --head")?,
                            threshold: *t,
                        },
                        Mode::TopK(k) => Accept::TopK(*k),
                        _ => Accept::Exact,
                    };
                    speculative(
                        &mut pair.target,
                        &mut pair.draft,
                        &prompt,
                        &pair.eos,
                        a.max_new_tokens,
                        a.window,
                        &accept,
                    )?
                }
            };
            let text = pair.decode(&d.tokens)?;
            out.push(Line {
                id: p.id.clone(),
                mode: m.name().to_string(),
                threshold: m.threshold(),
                answer: parse_answer(&text),
                correct: is_correct(&text, &p.answer),
                text,
                accepted_per_cycle: d.accepted_per_cycle(),
                cycles: d.cycles,
                tokens: d.tokens.len(),
                mismatches_accepted: d.mismatches_accepted,
                target_calls: d.target_calls,
                draft_calls: d.draft_calls,
                wall_s: d.wall_s,
            });
        }
        bar.set_position(k as u64 + 1);
        if lines && (k + 1) % 10 == 0 {
            eprintln!("{}/{} problems", k + 1, problems.len());
        }
    }
    bar.finish_and_clear();
    let mut body = String::new();
    for l in &out {
        body.push_str(&serde_json::to_string(l)?);
        body.push('\n');
    }
    write_atomic(&a.out, body.as_bytes())?;
    let table = summarise(&out);
    println!("{table}");
    write_atomic(&a.out.with_extension("summary.md"), table.as_bytes())?;
    let files = write_plot(&out, &a.out.with_extension(""))?;
    eprintln!(
        "wrote {} lines to {}, the summary and {}",
        out.len(),
        a.out.display(),
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
