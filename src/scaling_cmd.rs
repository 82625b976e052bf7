//! `lowbit scaling fit|capacity|sweep`: scaling-law fits from run CSVs, capacity per format,
//! and sweeps that train a grid of runs and fit them (crate `lowbit-scaling`).

use crate::train_cmd::ProgressArg;
use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use lowbit_scaling::sweep::{
    RunOutcome, RunStatus, SweepEvent, SweepOptions, expand, load_plan, run_sweep,
};
use lowbit_scaling::{
    BootstrapInit, CapacityLink, FitConfig, FitReport, FormatGmse, Law, Point, RhoMode,
    capacity_table, fit, load_gmse_table, load_points, plot,
};
use lowbit_train::trainer::{KNOWN_CORPORA, Progress, missing_corpora};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// Arguments of `lowbit scaling`.
#[derive(Args)]
pub struct ScalingArgs {
    #[command(subcommand)]
    cmd: ScalingCmd,
}

/// The law to fit.
#[derive(Clone, Copy, ValueEnum)]
enum LawArg {
    /// L = E + A/N^α + B/D^β (Hoffmann et al. 2022).
    Chinchilla,
    /// L = A·(N·ρ(R))^(−α) + B·D^(−β) + E with ρ(bf16) = 1.
    Unified,
}

/// How ρ of the unified law is parameterised.
#[derive(Clone, Copy, ValueEnum)]
enum RhoArg {
    /// One ρ per format, fitted jointly.
    Free,
    /// ρ = L·tanh(F·b_eff^C) from the `gmse` column; L, F, C fitted jointly.
    Capacity,
}

/// Fit settings shared by `fit` and `sweep --fit`.
#[derive(Args)]
struct FitOpts {
    /// ρ parameterisation of the unified law.
    #[arg(long, value_enum, default_value = "free")]
    rho: RhoArg,
    /// The ρ = 1 format of the unified law.
    #[arg(long, default_value = "bf16")]
    reference: String,
    /// Huber threshold on log residuals.
    #[arg(long, default_value_t = 1e-3)]
    huber_delta: f64,
    /// Bootstrap resamples of runs (0: none; Besiroglu et al. use 4000).
    #[arg(long, default_value_t = 0)]
    bootstrap: usize,
    /// Start every bootstrap fit from the full init grid instead of the estimate (slow).
    #[arg(long)]
    bootstrap_full_grid: bool,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Drop the K highest-loss points before fitting.
    #[arg(long, default_value_t = 0)]
    drop_highest: usize,
    /// Compute budget(s) in FLOP for the compute-optimal table (repeatable).
    #[arg(long = "compute")]
    compute: Vec<f64>,
    /// Print the fit report as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum ScalingCmd {
    /// Fit a scaling law to a run CSV (or JSON lines) and write plots.
    Fit {
        /// Run data: columns run, format, n_params, tokens, loss [, weight_format, act_format,
        /// sparsity, gmse] (crates/lowbit-scaling/README.md).
        #[arg(long)]
        data: PathBuf,
        /// The law.
        #[arg(long, value_enum)]
        law: LawArg,
        #[command(flatten)]
        opts: FitOpts,
        /// Directory for the plots.
        #[arg(long, default_value = "checkpoints/scaling-fit")]
        out: PathBuf,
    },
    /// Effective bits and ρ of formats from their GMSE under a capacity link.
    Capacity {
        /// Formats to measure with lowbit-formats (default: nvfp4, mxfp4, int4, int8, nf4,
        /// po2-nf4, split87, sfp4, 2of4+int4).
        #[arg(long = "format", conflicts_with = "gmse_csv")]
        formats: Vec<String>,
        /// Read GMSE from a table instead: CSV with format, gmse[, gmse_se], or the JSON of
        /// `lowbit formats report --json`.
        #[arg(long)]
        gmse_csv: Option<PathBuf>,
        /// Gaussian samples per format when measuring (rows of 4096).
        #[arg(long, default_value_t = 1 << 22)]
        samples: usize,
        /// Seed of the Gaussian sample.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// The link as L,F,C (default: the placeholder fit of formats-and-scaling.md §7.4).
        #[arg(long, value_delimiter = ',', num_args = 3)]
        link: Option<Vec<f64>>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Train a grid of runs (sizes × token budgets × recipes) from a plan, resumably, write
    /// `summary.csv` in the fitting schema, and optionally fit it.
    Sweep {
        /// The plan (recipes/README.md, "Sweeps"), e.g. recipes/sweeps/tiny.toml.
        #[arg(long)]
        plan: PathBuf,
        /// Fit this law to the summary after the runs (plots and report.json in OUT/fit).
        #[arg(long, value_enum)]
        fit: Option<LawArg>,
        #[command(flatten)]
        opts: FitOpts,
        /// Output directory (default: the plan's `out`, else checkpoints/sweeps/<plan stem>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Progress display of each run.
        #[arg(long, value_enum, default_value_t = ProgressArg::Quiet)]
        progress: ProgressArg,
        /// List the runs (steps, tokens, N, lr) and their state without training.
        #[arg(long)]
        dry_run: bool,
        /// Do not run datasets/prepare.sh for a missing corpus; fail instead.
        #[arg(long)]
        no_prepare: bool,
    },
}

/// Runs `lowbit scaling`.
pub fn run(args: ScalingArgs) -> Result<()> {
    match args.cmd {
        ScalingCmd::Fit {
            data,
            law,
            opts,
            out,
        } => {
            let points = load_points(&data)?;
            fit_and_report(&points, law, &opts, &out, &data.display().to_string())?;
            Ok(())
        }
        ScalingCmd::Sweep {
            plan,
            fit,
            opts,
            out,
            progress,
            dry_run,
            no_prepare,
        } => sweep(&plan, fit, &opts, out, progress, dry_run, no_prepare),
        ScalingCmd::Capacity {
            formats,
            gmse_csv,
            samples,
            seed,
            link,
            json,
        } => {
            let link = match link.as_deref() {
                Some([scale, rate, exponent]) => CapacityLink {
                    scale: *scale,
                    rate: *rate,
                    exponent: *exponent,
                },
                Some(_) => anyhow::bail!("--link takes three numbers L,F,C"),
                None => CapacityLink::PLACEHOLDER,
            };
            let table = match gmse_csv {
                Some(path) => load_gmse_table(&path)?,
                None => measure_gmse(&formats, samples, seed)?,
            };
            let rows = capacity_table(&table, &link)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "link rho = {}·tanh({}·b^{}),  b = −½·log2 GMSE",
                    link.scale, link.rate, link.exponent
                );
                println!(
                    "{:<24} {:>10} {:>10} {:>8} {:>8} {:>8} {:>8}",
                    "format", "GMSE", "± SE", "b_eff", "± SE", "rho", "± SE"
                );
                for r in &rows {
                    println!(
                        "{:<24} {:>10.6} {:>10.2e} {:>8.3} {:>8.1e} {:>8.4} {:>8.1e}",
                        r.format,
                        r.gmse,
                        r.gmse_se,
                        r.effective_bits,
                        r.effective_bits_se,
                        r.rho,
                        r.rho_se
                    );
                }
            }
            Ok(())
        }
    }
}

/// GMSE of formats measured with lowbit-formats on one shared seeded Gaussian sample.
fn measure_gmse(formats: &[String], samples: usize, seed: u64) -> Result<Vec<FormatGmse>> {
    use lowbit_formats::gmse::{GMSE_COLS, gaussian_samples, gmse_on};
    const DEFAULT: [&str; 9] = [
        "nvfp4",
        "mxfp4",
        "int4",
        "int8",
        "nf4",
        "po2-nf4",
        "split87",
        "sfp4",
        "2of4+int4",
    ];
    let names: Vec<String> = if formats.is_empty() {
        DEFAULT.iter().map(|s| s.to_string()).collect()
    } else {
        formats.to_vec()
    };
    anyhow::ensure!(
        samples >= GMSE_COLS && samples % GMSE_COLS == 0,
        "--samples must be a positive multiple of {GMSE_COLS}"
    );
    let reg = lowbit_formats::GridRegistry::builtin().with_dir(std::path::Path::new("grids"))?;
    let x = gaussian_samples(samples, seed);
    names
        .iter()
        .map(|n| {
            let f = lowbit_formats::Format::parse_with(n, &reg)?;
            let g = gmse_on(&f, &x, GMSE_COLS)?;
            Ok(FormatGmse {
                format: n.clone(),
                gmse: g.gmse,
                gmse_se: g.se,
            })
        })
        .collect()
}

/// The fit configuration of `law` under the shared options.
fn fit_config(law: LawArg, o: &FitOpts) -> FitConfig {
    let law = match (law, o.rho) {
        (LawArg::Chinchilla, _) => Law::Chinchilla,
        (LawArg::Unified, RhoArg::Free) => Law::Unified { rho: RhoMode::Free },
        (LawArg::Unified, RhoArg::Capacity) => Law::Unified {
            rho: RhoMode::Capacity,
        },
    };
    let mut config = FitConfig::new(law);
    config.reference = o.reference.clone();
    config.huber_delta = o.huber_delta;
    config.bootstrap = o.bootstrap;
    if o.bootstrap_full_grid {
        config.bootstrap_init = BootstrapInit::FullGrid;
    }
    config.seed = o.seed;
    config.drop_highest = o.drop_highest;
    if !o.compute.is_empty() {
        config.compute = o.compute.clone();
    }
    config
}

/// Fits `points`, writes the plots into `out`, prints the report (table or JSON) and returns it.
fn fit_and_report(
    points: &[Point],
    law: LawArg,
    opts: &FitOpts,
    out: &Path,
    source: &str,
) -> Result<FitReport> {
    let config = fit_config(law, opts);
    let mut report = fit(points, &config).with_context(|| format!("fitting {source}"))?;
    report.plots = plot(&report, points, out)?;
    if opts.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(report)
}

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
fn sweep(
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
