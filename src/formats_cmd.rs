//! `lowbit formats list|report`.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use lowbit_formats::gmse::{GMSE_COLS, gaussian_samples, gmse_on};
use lowbit_formats::spec::BUILTIN_NAMES;
use lowbit_formats::{Format, GridRegistry};
use std::path::PathBuf;

/// Arguments of `lowbit formats`.
#[derive(Args)]
pub struct FormatsArgs {
    #[command(subcommand)]
    cmd: FormatsCmd,
    /// Directory of extra grid files (`*.toml`, e.g. a learned `mpo2`).
    #[arg(long, global = true, default_value = "grids")]
    grids_dir: PathBuf,
}

#[derive(Subcommand)]
enum FormatsCmd {
    /// Every built-in format (and grid file) with its bits per value.
    List,
    /// GMSE, its standard error, effective bits −½·log2(GMSE) and bits/value of each format on
    /// seeded N(0,1) samples.
    Report {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
        /// Number of Gaussian samples (rows of 4096).
        #[arg(long, default_value_t = 1 << 22)]
        samples: usize,
        /// Seed of the sample.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Formats to report (default: all built-ins and grid files).
        #[arg(long = "format")]
        formats: Vec<String>,
    },
}

fn all_names(reg: &GridRegistry) -> Vec<String> {
    let mut v: Vec<String> = BUILTIN_NAMES.iter().map(|s| s.to_string()).collect();
    for n in reg.names() {
        if !v.contains(&n) {
            v.push(n);
        }
    }
    v
}

/// Runs `lowbit formats`.
pub fn run(a: FormatsArgs) -> Result<()> {
    let reg = GridRegistry::builtin()
        .with_dir(&a.grids_dir)
        .with_context(|| format!("loading grid files from {}", a.grids_dir.display()))?;
    match a.cmd {
        FormatsCmd::List => {
            println!("{:<28} {:>10} {:>6}", "format", "bits/value", "block");
            for name in all_names(&reg) {
                let f = Format::parse_with(&name, &reg)?;
                println!(
                    "{:<28} {:>10.4} {:>6}",
                    name,
                    f.bits_per_value(),
                    f.block_size()
                );
            }
            Ok(())
        }
        FormatsCmd::Report {
            json,
            samples,
            seed,
            formats,
        } => {
            let names = if formats.is_empty() {
                all_names(&reg)
            } else {
                formats
            };
            let fs: Vec<Format> = names
                .iter()
                .map(|n| Format::parse_with(n, &reg))
                .collect::<Result<_, _>>()?;
            let cols = GMSE_COLS.min(samples.max(1));
            anyhow::ensure!(
                samples > 0 && samples % cols == 0,
                "--samples must be a positive multiple of {GMSE_COLS}"
            );
            let x = gaussian_samples(samples, seed);
            let mut rows = Vec::new();
            for (name, f) in names.iter().zip(&fs) {
                let g = gmse_on(f, &x, cols).with_context(|| format!("format {name}"))?;
                rows.push(serde_json::json!({
                    "name": name,
                    "gmse": g.gmse,
                    "gmse_se": g.se,
                    "effective_bits": g.effective_bits(),
                    "bits_per_value": f.bits_per_value(),
                    "block": f.block_size(),
                    "samples": g.n,
                    "seed": seed,
                }));
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!("GMSE on {samples} N(0,1) samples (seed {seed}, rows of {cols})");
                println!(
                    "{:<28} {:>10} {:>11} {:>10} {:>8}",
                    "format", "GMSE", "± SE", "eff. bits", "bits/val"
                );
                for r in &rows {
                    println!(
                        "{:<28} {:>10.6} {:>11.2e} {:>10.3} {:>8.3}",
                        r["name"].as_str().unwrap_or_default(),
                        r["gmse"].as_f64().unwrap_or(f64::NAN),
                        r["gmse_se"].as_f64().unwrap_or(f64::NAN),
                        r["effective_bits"].as_f64().unwrap_or(f64::NAN),
                        r["bits_per_value"].as_f64().unwrap_or(f64::NAN),
                    );
                }
            }
            Ok(())
        }
    }
}
