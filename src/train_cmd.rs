//! `lowbit train --recipe NAME|PATH [--set k=v]... [--run-name X] [--resume auto|PATH]
//! [--allow-recipe-change]`.
//!
//! Prepares the recipe's corpus if it is missing, trains, and prints the run directory and the
//! final validation loss and perplexity. Ctrl-C / SIGTERM finish the current step and write a
//! checkpoint before exiting.

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use lowbit_train::recipe::load_recipe;
use lowbit_train::trainer::{self, Progress, Resume, TrainOptions, missing_corpora};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// How progress is shown.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressArg {
    /// Bar on a terminal, lines otherwise.
    Auto,
    /// One line per log step.
    Lines,
    /// Nothing but the summary.
    Quiet,
}

/// Arguments of `lowbit train`.
#[derive(Args)]
pub struct TrainArgs {
    /// Recipe name in recipes/ (e.g. nvfp4-po2) or a path to a .toml file.
    #[arg(long, default_value = "nvfp4-po2")]
    pub recipe: String,
    /// Override a recipe value, type-checked: `--set train.steps=100` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Run directory name under --out (default: the recipe name).
    #[arg(long)]
    pub run_name: Option<String>,
    /// Root of run directories.
    #[arg(long, default_value = "checkpoints")]
    pub out: PathBuf,
    /// `auto` continues from the newest complete checkpoint of the run (verified); a path
    /// continues from that checkpoint directory.
    #[arg(long)]
    pub resume: Option<String>,
    /// With --resume: continue even if the recipe changes keys a resume may not change (format,
    /// model, optimizer, data, …); the changed keys are printed as a warning. Without it such a
    /// resume is an error naming the keys.
    #[arg(long)]
    pub allow_recipe_change: bool,
    /// Progress display.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Do not run datasets/prepare.sh for a missing corpus; fail instead.
    #[arg(long)]
    pub no_prepare: bool,
    /// Where to train: `cpu` (default, Burn's flex backend), `cuda[:N]`, `wgpu`, or a
    /// comma-separated list of CUDA devices (`cuda:0,cuda:1`) for data parallelism. Overrides
    /// the recipe's `train.devices`.
    #[arg(long, value_name = "DEVICE[,DEVICE…]")]
    pub device: Option<String>,
}

/// Runs `lowbit train`.
pub fn run(a: TrainArgs) -> Result<()> {
    let root = Path::new(".");
    let mut sets = a.sets.clone();
    if let Some(d) = &a.device {
        let list: Vec<String> = d.split(',').map(|s| format!("{:?}", s.trim())).collect();
        sets.push(format!("train.devices=[{}]", list.join(",")));
    }
    let recipe = load_recipe(&a.recipe, &root.join("recipes"), &sets)?;
    // Before any corpus preparation: a device this build cannot use is a setup error.
    lowbit_train::device::parse_devices(&recipe.train.devices)
        .map_err(|e| anyhow::anyhow!("train.devices: {e}"))?;
    for (name, path) in missing_corpora(&recipe.data.corpus, root) {
        if a.no_prepare || !trainer::KNOWN_CORPORA.contains(&name.as_str()) {
            bail!(
                "data.corpus `{}`: {} does not exist; run `lowbit data prepare {name}` or set \
                 data.corpus to a directory of *.txt files",
                recipe.data.corpus,
                path.display()
            );
        }
        eprintln!("preparing corpus {name} (datasets/prepare.sh {name}) …");
        crate::data_cmd::prepare_corpus(&name)?;
    }
    let text = toml::to_string(&recipe).context("cannot serialise the resolved recipe")?;
    let run_name = a.run_name.clone().unwrap_or_else(|| {
        Path::new(&a.recipe)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into())
    });
    let mut opts = run_options(a.out.join(&run_name), a.resume.as_deref(), a.progress)?;
    opts.allow_recipe_change = a.allow_recipe_change;
    let data = trainer::load_dataset(&recipe.data, root)?;
    eprintln!(
        "run {}: {} steps × {} tokens, corpus {} ({} train / {} val tokens, vocab {})",
        opts.run_dir.display(),
        recipe.train.steps,
        recipe.train.batch_size * recipe.train.seq_len,
        recipe.data.corpus,
        data.train.len(),
        data.val.len(),
        data.tokenizer.vocab_size()
    );
    let s = trainer::train(&recipe, &text, &data, &opts)?;
    finish(&s, a.json)
}

/// Options of a run in `run_dir`: `--resume` (`auto` or a checkpoint path), the progress
/// display, and a Ctrl-C handler that finishes the current step and checkpoints (a second
/// Ctrl-C aborts). Shared by `train` and `finetune`.
pub fn run_options(
    run_dir: PathBuf,
    resume: Option<&str>,
    progress: ProgressArg,
) -> Result<TrainOptions> {
    let mut opts = TrainOptions::new(run_dir);
    opts.resume = match resume {
        None => Resume::Never,
        Some("auto") => Resume::Auto,
        Some(p) => Resume::From(PathBuf::from(p)),
    };
    opts.progress = match progress {
        ProgressArg::Auto => Progress::Auto,
        ProgressArg::Lines => Progress::Lines,
        ProgressArg::Quiet => Progress::Quiet,
    };
    let stop = opts.stop.clone();
    ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
            // Second signal: the user insists.
            std::process::exit(130);
        }
        eprintln!("\nstopping after this step; writing a checkpoint (Ctrl-C again to abort)");
    })
    .context("cannot install the Ctrl-C handler")?;
    Ok(opts)
}

/// Prints a run's warnings and summary (JSON with `json`); exits 130 if it was interrupted.
pub fn finish(s: &trainer::TrainSummary, json: bool) -> Result<()> {
    for w in &s.warnings {
        eprintln!("warning: {w}");
    }
    if json {
        let v = serde_json::json!({
            "run_dir": s.run_dir, "steps": s.steps, "tokens": s.tokens,
            "final_loss": s.final_loss, "val_loss": s.val_loss, "val_ppl": s.val_ppl,
            "wall_s": s.wall_s, "tok_s": s.tok_s, "interrupted": s.interrupted,
            "checkpoint": s.checkpoint,
        });
        println!("{v}");
    } else {
        println!("run dir     {}", s.run_dir.display());
        println!("steps       {} ({} tokens)", s.steps, s.tokens);
        if let (Some(v), Some(p)) = (s.val_loss, s.val_ppl) {
            println!("val loss    {v:.4}");
            println!("val ppl     {p:.2}");
        }
        println!("wall time   {:.1} s ({:.0} tok/s)", s.wall_s, s.tok_s);
        if let Some(c) = &s.checkpoint {
            println!("checkpoint  {}", c.display());
        }
    }
    if s.interrupted {
        std::process::exit(130);
    }
    Ok(())
}
