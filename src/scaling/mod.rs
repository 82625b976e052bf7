//! `lowbit scaling fit|capacity|sweep`: scaling-law fits from run CSVs (crate `lowbit-scaling`),
//! capacity per format, and sweeps that train a grid of runs and fit them (crate
//! `lowbit-sweep`). This file is the command line; `fit.rs`, `capacity.rs` and `sweep.rs` run
//! the subcommands.

mod capacity;
mod fit;
mod sweep;

use crate::train_cmd::ProgressArg;
use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use lowbit_scaling::load_points;
use std::path::PathBuf;

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
            fit::fit_and_report(&points, law, &opts, &out, &data.display().to_string())?;
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
        } => sweep::sweep(&plan, fit, &opts, out, progress, dry_run, no_prepare),
        ScalingCmd::Capacity {
            formats,
            gmse_csv,
            samples,
            seed,
            link,
            json,
        } => capacity::run(
            &formats,
            gmse_csv.as_deref(),
            samples,
            seed,
            link.as_deref(),
            json,
        ),
    }
}
