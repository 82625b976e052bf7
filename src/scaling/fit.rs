//! The fit shared by `lowbit scaling fit` and `sweep --fit`: the CLI's options as a
//! [`FitConfig`], then fit, plots and the printed report.

use super::{FitOpts, LawArg, RhoArg};
use anyhow::{Context, Result};
use lowbit_scaling::{BootstrapInit, FitConfig, FitReport, Law, Point, RhoMode, fit, plot};
use std::path::Path;

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
pub(super) fn fit_and_report(
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
