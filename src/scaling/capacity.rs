//! `lowbit scaling capacity`: effective bits and ρ of formats under a capacity link, from GMSEs
//! measured here with lowbit-formats or read from a table.

use anyhow::Result;
use lowbit_scaling::{CapacityLink, FormatGmse, capacity_table, load_gmse_table};
use std::path::Path;

/// Prints the capacity table of `formats` (or of the GMSE table `gmse_csv`) under `link` (L, F, C;
/// default the placeholder link).
pub(super) fn run(
    formats: &[String],
    gmse_csv: Option<&Path>,
    samples: usize,
    seed: u64,
    link: Option<&[f64]>,
    json: bool,
) -> Result<()> {
    let link = match link {
        Some([scale, rate, exponent]) => CapacityLink {
            scale: *scale,
            rate: *rate,
            exponent: *exponent,
        },
        Some(_) => anyhow::bail!("--link takes three numbers L,F,C"),
        None => CapacityLink::PLACEHOLDER,
    };
    let table = match gmse_csv {
        Some(path) => load_gmse_table(path)?,
        None => measure_gmse(formats, samples, seed)?,
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
                r.format, r.gmse, r.gmse_se, r.effective_bits, r.effective_bits_se, r.rho, r.rho_se
            );
        }
    }
    Ok(())
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
