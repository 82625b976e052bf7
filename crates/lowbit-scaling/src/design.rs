//! The data as the objective sees it: logs of N, D and L, a format index per point and a run
//! index per point (the bootstrap's resampling unit).

use crate::capacity::effective_bits;
use crate::data::Point;
use crate::error::{Result, ScalingError};
use crate::law::{Law, Layout, RhoMode};

/// Prepared arrays of one data set under one law.
#[derive(Debug, Clone)]
pub(crate) struct Design {
    /// Parameter layout (law, formats with the reference first, ln b_eff per format).
    pub layout: Layout,
    /// ln N per point.
    pub ln_n: Vec<f64>,
    /// ln D per point.
    pub ln_d: Vec<f64>,
    /// ln L per point.
    pub ln_l: Vec<f64>,
    /// Format index per point (into `layout.formats`).
    pub group: Vec<usize>,
    /// Run index per point (into `runs`).
    pub run: Vec<usize>,
    /// Run ids.
    pub runs: Vec<String>,
    /// Format index of each run (its first point's).
    pub run_group: Vec<usize>,
    /// GMSE per format, where the data gives one.
    pub gmse: Vec<Option<f64>>,
}

impl Design {
    /// Prepares `points` for `law` with `reference` as the ρ = 1 format.
    pub fn new(points: &[Point], law: Law, reference: &str) -> Result<Self> {
        if let Some(p) = points.iter().find(|p| {
            ![p.n_params, p.tokens, p.loss]
                .iter()
                .all(|v| *v > 0.0 && v.is_finite())
        }) {
            return Err(ScalingError::data(format!(
                "run `{}`: n_params {}, tokens {}, loss {} must all be positive and finite;                  fix or drop the point",
                p.run, p.n_params, p.tokens, p.loss
            )));
        }
        let mut formats: Vec<String> = points.iter().map(|p| p.format.clone()).collect();
        formats.sort();
        formats.dedup();
        if let Law::Unified { .. } = law {
            let Some(i) = formats.iter().position(|f| f == reference) else {
                return Err(ScalingError::data(format!(
                    "the unified law needs reference format `{reference}` (ρ = 1) in the data, \
                     found only {formats:?}; add {reference} runs or name another reference"
                )));
            };
            let r = formats.remove(i);
            formats.insert(0, r);
        }
        let gmse = format_gmse(points, &formats)?;
        let mut ln_bits = vec![0.0; formats.len()];
        if law
            == (Law::Unified {
                rho: RhoMode::Capacity,
            })
        {
            for (i, f) in formats.iter().enumerate().skip(1) {
                let g = gmse[i].ok_or_else(|| {
                    ScalingError::data(format!(
                        "rho = capacity needs the `gmse` column for format `{f}`; measure it \
                         with `lowbit formats report` or fit with rho = free"
                    ))
                })?;
                ln_bits[i] = effective_bits(g).ln();
            }
        }
        let layout = Layout {
            law,
            formats,
            ln_bits,
        };
        if points.len() <= layout.dim() {
            return Err(ScalingError::data(format!(
                "{} points cannot determine {} parameters of the {law} law; add runs",
                points.len(),
                layout.dim()
            )));
        }
        let mut runs: Vec<String> = Vec::new();
        let mut run_group = Vec::new();
        let mut run = Vec::with_capacity(points.len());
        let mut group = Vec::with_capacity(points.len());
        let mut run_index = std::collections::HashMap::new();
        for p in points {
            let g = layout
                .formats
                .iter()
                .position(|f| *f == p.format)
                .unwrap_or(0);
            let r = *run_index.entry(p.run.as_str()).or_insert_with(|| {
                runs.push(p.run.clone());
                run_group.push(g);
                runs.len() - 1
            });
            if run_group[r] != g {
                return Err(ScalingError::data(format!(
                    "run `{}` has points in formats `{}` and `{}`; give each format its own run id",
                    p.run, layout.formats[run_group[r]], p.format
                )));
            }
            run.push(r);
            group.push(g);
        }
        Ok(Self {
            ln_n: points.iter().map(|p| p.n_params.ln()).collect(),
            ln_d: points.iter().map(|p| p.tokens.ln()).collect(),
            ln_l: points.iter().map(|p| p.loss.ln()).collect(),
            layout,
            group,
            run,
            runs,
            run_group,
            gmse,
        })
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.ln_l.len()
    }
}

/// The GMSE of each format (all of its points must agree).
fn format_gmse(points: &[Point], formats: &[String]) -> Result<Vec<Option<f64>>> {
    let mut out: Vec<Option<f64>> = vec![None; formats.len()];
    for p in points {
        let (Some(i), Some(g)) = (formats.iter().position(|f| *f == p.format), p.gmse) else {
            continue;
        };
        match out[i] {
            None => out[i] = Some(g),
            Some(prev) if (prev - g).abs() <= 1e-9 * prev.abs().max(g.abs()) => {}
            Some(prev) => {
                return Err(ScalingError::data(format!(
                    "format `{}` has two GMSE values, {prev} and {g} (run `{}`); a format has one \
                     GMSE — give the variants different format names",
                    p.format, p.run
                )));
            }
        }
    }
    Ok(out)
}
