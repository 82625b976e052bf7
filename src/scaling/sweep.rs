//! `lowbit scaling sweep`: expand a plan, prepare its corpora, train its runs through
//! `lowbit-sweep` (Ctrl-C checkpoints and stops; a rerun resumes), print the table and optionally
//! fit the summary.

use super::fit::fit_and_report;
use super::{FitOpts, LawArg};
use crate::train_cmd::ProgressArg;
use anyhow::{Context, Result};
use lowbit_sweep::{RunOutcome, RunStatus, SweepEvent, SweepOptions, expand, load_plan, run_sweep};
use lowbit_train::trainer::{KNOWN_CORPORA, Progress, missing_corpora};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// One line of a run's state for the progress log and the table.
fn status_text(o: &RunOutcome) -> String {
    match o.status {
        RunStatus::Skipped => "skipped (finished)".into(),
        RunStatus::Trained => "trained".into(),
        RunStatus::Resumed { from_step } => format!("resumed from step {from_step}"),
        RunStatus::Interrupted { at_step } => format!("interrupted at step {at_step}"),
    }
}

/// `lowbit scaling sweep`.
pub(super) fn sweep(
    plan_path: &Path,
    law: Option<LawArg>,
    opts: &FitOpts,
    out: Option<PathBuf>,
    progress: ProgressArg,
    dry_run: bool,
    no_prepare: bool,
) -> Result<()> {
    let root = Path::new(".");
    let plan = load_plan(plan_path)?;
    let out = out.or_else(|| plan.out.clone()).unwrap_or_else(|| {
        let stem = plan_path
            .file_stem()
            .map_or("sweep".into(), |s| s.to_string_lossy().into_owned());
        root.join("checkpoints").join("sweeps").join(stem)
    });
    let recipes_dir = plan
        .recipes_dir
        .clone()
        .unwrap_or_else(|| root.join("recipes"));
    let runs = expand(&plan, plan_path, &recipes_dir, &out)?;
    if dry_run {
        println!(
            "{:<32} {:>10} {:>6} {:>10} {:>9}  state",
            "run", "n_params", "steps", "tokens", "lr"
        );
        for r in &runs {
            let state = match std::fs::read_to_string(r.dir.join("LATEST")) {
                Ok(l) => format!("checkpoint {}", l.trim()),
                Err(_) => "new".into(),
            };
            println!(
                "{:<32} {:>10} {:>6} {:>10} {:>9.2e}  {state}",
                r.name, r.n_params, r.steps, r.tokens, r.lr
            );
        }
        let tokens: u64 = runs.iter().map(|r| r.tokens).sum();
        println!("{} runs, {tokens} tokens in all", runs.len());
        return Ok(());
    }
    let mut corpora: Vec<&str> = runs.iter().map(|r| r.recipe.data.corpus.as_str()).collect();
    corpora.sort_unstable();
    corpora.dedup();
    for corpus in corpora {
        for (name, path) in missing_corpora(corpus, root) {
            if no_prepare || !KNOWN_CORPORA.contains(&name.as_str()) {
                anyhow::bail!(
                    "data.corpus `{corpus}`: {} does not exist; run `lowbit data prepare {name}` \
                     or set data.corpus (train.set in the plan) to a directory of *.txt files",
                    path.display()
                );
            }
            eprintln!("preparing corpus {name} (datasets/prepare.sh {name}) …");
            crate::data_cmd::prepare_corpus(&name)?;
        }
    }
    let mut sweep_opts = SweepOptions::new(root, &out);
    sweep_opts.progress = match progress {
        ProgressArg::Auto => Progress::Auto,
        ProgressArg::Lines => Progress::Lines,
        ProgressArg::Quiet => Progress::Quiet,
    };
    let stop = sweep_opts.stop.clone();
    ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!(
            "\nstopping after this step; the run checkpoints and the sweep stops (rerun to resume)"
        );
    })
    .context("cannot install the Ctrl-C handler")?;
    eprintln!(
        "sweep {}: {} runs into {}",
        plan_path.display(),
        runs.len(),
        out.display()
    );
    let report = run_sweep(&plan.description, &runs, &sweep_opts, &mut |e| match e {
        SweepEvent::Start { index, total, run } => eprintln!(
            "[{}/{total}] {}: N = {}, {} steps, {} tokens, lr {:.2e}",
            index + 1,
            run.name,
            run.n_params,
            run.steps,
            run.tokens,
            run.lr
        ),
        SweepEvent::Done {
            index,
            total,
            outcome,
        } => {
            let val = outcome
                .val_loss
                .map_or(String::new(), |v| format!(", val_loss {v:.4}"));
            let speed = if outcome.wall_s > 0.0 {
                format!(", {:.1} s, {:.0} tok/s", outcome.wall_s, outcome.tok_s)
            } else {
                String::new()
            };
            eprintln!(
                "[{}/{total}] {}: {}{val}{speed}",
                index + 1,
                outcome.run,
                status_text(outcome)
            );
            for w in &outcome.warnings {
                eprintln!("warning: {w}");
            }
        }
    })?;
    if report.interrupted {
        eprintln!(
            "sweep interrupted after {} of {} runs; rerun the same command to resume",
            report.runs.len(),
            report.planned
        );
        std::process::exit(130);
    }
    let out_stream = |s: String| {
        if opts.json {
            eprintln!("{s}")
        } else {
            println!("{s}")
        }
    };
    out_stream(format!(
        "{:<32} {:<12} {:>10} {:>10} {:>9}  status",
        "run", "format", "n_params", "tokens", "val_loss"
    ));
    for o in &report.runs {
        out_stream(format!(
            "{:<32} {:<12} {:>10} {:>10} {:>9.4}  {}",
            o.run,
            o.format,
            o.n_params,
            o.tokens,
            o.val_loss.unwrap_or(f64::NAN),
            status_text(o)
        ));
    }
    if let Some(csv) = &report.summary_csv {
        out_stream(format!("summary     {}", csv.display()));
    }
    if let Some(law) = law {
        let fit_dir = out.join("fit");
        let started = std::time::Instant::now();
        let r = fit_and_report(
            &report.points,
            law,
            opts,
            &fit_dir,
            &out.display().to_string(),
        )?;
        let json = fit_dir.join("report.json");
        std::fs::write(&json, serde_json::to_string_pretty(&r)?)
            .with_context(|| format!("cannot write {}", json.display()))?;
        eprintln!(
            "fit: {:.2} s; report {}; plots in {}",
            started.elapsed().as_secs_f64(),
            json.display(),
            fit_dir.display()
        );
    }
    Ok(())
}
