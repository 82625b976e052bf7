//! Bootstrap standard errors and 95% percentile intervals (Besiroglu et al. 2024 report SEs
//! from 4000 resamples of Chinchilla's points).
//!
//! We resample *runs* with replacement, stratified by format (each format keeps its number of
//! runs, so no resample loses the reference or a format's ρ), and refit with per-point
//! multiplicities as weights. Resample i draws from ChaCha8(seed) stream i, and results are
//! gathered in index order, so the summary is identical for every thread count.

use crate::data::Point;
use crate::design::Design;
use crate::error::{Result, ScalingError};
use crate::fit::{FitConfig, build_starts, prepare};
use crate::law::LawParams;
use crate::optimal::compute_optimal;
use crate::solver::{minimize, multistart};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Where each resample's L-BFGS starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BootstrapInit {
    /// From the full-data estimate (one L-BFGS run per resample).
    #[default]
    FromEstimate,
    /// From the whole init grid (as slow as the main fit, per resample).
    FullGrid,
}

/// Bootstrap distribution of one quantity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Quantity, e.g. `alpha`, `rho[nvfp4]`, `N*[C=1e21]`.
    pub name: String,
    /// Value at the full-data fit.
    pub estimate: f64,
    /// Standard deviation over resamples (n − 1 denominator).
    pub se: f64,
    /// 2.5th percentile (linear interpolation between order statistics).
    pub ci_low: f64,
    /// 97.5th percentile.
    pub ci_high: f64,
}

/// Summary of a bootstrap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootstrapSummary {
    /// Resamples drawn.
    pub resamples: usize,
    /// Resamples whose fit succeeded (the intervals use these).
    pub succeeded: usize,
    /// Seed of the resampling.
    pub seed: u64,
    /// Where each resample's fit started.
    pub init: BootstrapInit,
    /// One interval per quantity.
    pub intervals: Vec<Interval>,
}

impl BootstrapSummary {
    /// The interval of quantity `name`.
    pub fn get(&self, name: &str) -> Option<&Interval> {
        self.intervals.iter().find(|i| i.name == name)
    }
}

/// Bootstraps `config.bootstrap` resamples of `points` (after the same exclusion rule as
/// [`crate::fit`]) around `estimate`, the full-data fit.
pub fn bootstrap(
    points: &[Point],
    config: &FitConfig,
    estimate: &LawParams,
) -> Result<BootstrapSummary> {
    config.validate()?;
    let (design, _) = prepare(points, config)?;
    bootstrap_design(&design, config, estimate)
}

/// Quantities the bootstrap summarises: the law's parameters and, per budget, N* and D*/N* of
/// the reference.
pub(crate) fn summary_values(
    params: &LawParams,
    reference: &str,
    compute: &[f64],
) -> Vec<(String, f64)> {
    let mut v = params.named_values(Some(reference));
    for &c in compute {
        let (n, d) = compute_optimal(params.a, params.b, params.alpha, params.beta, c);
        v.push((format!("N*[C={c:e}]"), n));
        v.push((format!("D*/N*[C={c:e}]"), d / n));
    }
    v
}

pub(crate) fn bootstrap_design(
    design: &Design,
    config: &FitConfig,
    estimate: &LawParams,
) -> Result<BootstrapSummary> {
    let layout = &design.layout;
    let center = layout.theta(estimate);
    let starts = match config.bootstrap_init {
        BootstrapInit::FromEstimate => Vec::new(),
        BootstrapInit::FullGrid => build_starts(design, config),
    };
    let draws: Vec<Option<Vec<(String, f64)>>> = (0..config.bootstrap)
        .into_par_iter()
        .map(|i| {
            let w = resample_weights(design, config.seed, i as u64);
            let theta = match config.bootstrap_init {
                BootstrapInit::FromEstimate => {
                    minimize(
                        design,
                        Some(&w),
                        config.huber_delta,
                        center.clone(),
                        &config.solver,
                    )?
                    .0
                }
                BootstrapInit::FullGrid => {
                    multistart(
                        design,
                        Some(&w),
                        config.huber_delta,
                        &starts,
                        &config.solver,
                    )
                    .ok()?
                    .0
                    .theta
                }
            };
            Some(summary_values(
                &layout.params(&theta),
                &config.reference,
                &config.compute,
            ))
        })
        .collect();
    let ok: Vec<Vec<(String, f64)>> = draws.into_iter().flatten().collect();
    if ok.len() < 2 {
        return Err(ScalingError::FitFailed {
            message: format!(
                "only {} of {} bootstrap fits succeeded; raise --bootstrap or check the data",
                ok.len(),
                config.bootstrap
            ),
        });
    }
    let intervals = summary_values(estimate, &config.reference, &config.compute)
        .into_iter()
        .enumerate()
        .map(|(k, (name, estimate))| {
            let mut xs: Vec<f64> = ok.iter().map(|d| d[k].1).collect();
            xs.sort_by(f64::total_cmp);
            let n = xs.len() as f64;
            let mean = xs.iter().sum::<f64>() / n;
            let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
            Interval {
                name,
                estimate,
                se: var.sqrt(),
                ci_low: percentile(&xs, 0.025),
                ci_high: percentile(&xs, 0.975),
            }
        })
        .collect();
    Ok(BootstrapSummary {
        resamples: config.bootstrap,
        succeeded: ok.len(),
        seed: config.seed,
        init: config.bootstrap_init,
        intervals,
    })
}

/// Multiplicity of each point in resample `index`: runs drawn with replacement within each
/// format, every point of a drawn run counted once per draw.
pub(crate) fn resample_weights(design: &Design, seed: u64, index: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    let mut run_count = vec![0.0; design.runs.len()];
    for g in 0..design.layout.formats.len() {
        let members: Vec<usize> = (0..design.runs.len())
            .filter(|&r| design.run_group[r] == g)
            .collect();
        for _ in 0..members.len() {
            run_count[members[rng.random_range(0..members.len())]] += 1.0;
        }
    }
    design.run.iter().map(|&r| run_count[r]).collect()
}

/// The q-quantile of sorted `xs` (linear interpolation, NumPy's default).
fn percentile(xs: &[f64], q: f64) -> f64 {
    let pos = q * (xs.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(xs.len() - 1);
    xs[lo] + (pos - lo as f64) * (xs[hi] - xs[lo])
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentile_matches_numpy_linear() {
        let xs = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert_eq!(percentile(&xs, 0.5), 3.0);
        assert!((percentile(&xs, 0.975) - 9.4).abs() < 1e-12);
        assert!((percentile(&xs, 0.025) - 1.1).abs() < 1e-12);
    }
}
