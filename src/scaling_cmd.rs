//! `lowbit scaling fit|capacity`: scaling-law fits from run CSVs (crate `lowbit-scaling`).

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use lowbit_scaling::{
    BootstrapInit, CapacityLink, FitConfig, FormatGmse, Law, RhoMode, capacity_table, fit,
    load_gmse_table, load_points, plot,
};
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
        /// Directory for the plots.
        #[arg(long, default_value = "checkpoints/scaling-fit")]
        out: PathBuf,
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
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
}

/// Runs `lowbit scaling`.
pub fn run(args: ScalingArgs) -> Result<()> {
    match args.cmd {
        ScalingCmd::Fit {
            data,
            law,
            rho,
            reference,
            huber_delta,
            bootstrap,
            bootstrap_full_grid,
            seed,
            drop_highest,
            compute,
            out,
            json,
        } => {
            let law = match (law, rho) {
                (LawArg::Chinchilla, _) => Law::Chinchilla,
                (LawArg::Unified, RhoArg::Free) => Law::Unified { rho: RhoMode::Free },
                (LawArg::Unified, RhoArg::Capacity) => Law::Unified {
                    rho: RhoMode::Capacity,
                },
            };
            let points = load_points(&data)?;
            let mut config = FitConfig::new(law);
            config.reference = reference;
            config.huber_delta = huber_delta;
            config.bootstrap = bootstrap;
            if bootstrap_full_grid {
                config.bootstrap_init = BootstrapInit::FullGrid;
            }
            config.seed = seed;
            config.drop_highest = drop_highest;
            if !compute.is_empty() {
                config.compute = compute;
            }
            let mut report =
                fit(&points, &config).with_context(|| format!("fitting {}", data.display()))?;
            report.plots = plot(&report, &points, &out)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{report}");
            }
            Ok(())
        }
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
