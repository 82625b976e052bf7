//! Plots of a fit, each as PNG and SVG with stable names, drawn through `lowbit-plot` (embedded
//! DejaVu fonts, 1-2-5 log ticks):
//! - `loss_vs_params.{png,svg}`: points per format and the fitted law along the budgets the data
//!   holds fixed ([`loss_curves`]);
//! - `rho_vs_bits.{png,svg}` (unified law, formats with a GMSE): ρ against effective bits with its
//!   bootstrap interval, and the link curve in capacity mode;
//! - `residuals.{png,svg}`: ln residuals against N.

mod curves;
mod loss;
mod residuals;
mod rho;

pub use curves::{CurveBudget, LossCurve, loss_curves};

use crate::data::Point;
use crate::error::{Result, ScalingError};
use crate::report::FitReport;
use lowbit_plot::{PlotError, render};
use std::path::{Path, PathBuf};

/// Pixel size of every plot.
const SIZE: (u32, u32) = (900, 640);

/// Writes the plots of `report` over `points` into `out_dir` (created if needed) and returns
/// the files written. `rho_vs_bits` is skipped when no format has a GMSE or the law is
/// Chinchilla.
pub fn plot(report: &FitReport, points: &[Point], out_dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out_dir).map_err(|source| ScalingError::Io {
        path: out_dir.to_path_buf(),
        source,
    })?;
    let series = Series::new(report, points);
    let curves = loss_curves(report, points);
    let loss = loss::LossFigure {
        report,
        s: &series,
        curves: &curves,
    };
    let mut files = render(&loss, &out_dir.join("loss_vs_params"), SIZE).map_err(plot_err)?;
    let rho = rho::RhoFigure { report };
    if rho.has_points() {
        files.extend(render(&rho, &out_dir.join("rho_vs_bits"), SIZE).map_err(plot_err)?);
    }
    let res = residuals::ResidualFigure { s: &series };
    files.extend(render(&res, &out_dir.join("residuals"), SIZE).map_err(plot_err)?);
    Ok(files)
}

fn plot_err(e: PlotError) -> ScalingError {
    ScalingError::Plot {
        path: e.path,
        message: e.message,
    }
}

/// One data point with its fit: format index, N, D, observed and predicted loss.
struct Row {
    format: usize,
    n: f64,
    loss: f64,
    predicted: f64,
}

/// Points grouped by format (sorted names) with their predictions.
struct Series {
    formats: Vec<String>,
    rows: Vec<Row>,
}

impl Series {
    fn new(report: &FitReport, points: &[Point]) -> Self {
        let formats = format_names(points);
        let rows = points
            .iter()
            .filter_map(|p| {
                Some(Row {
                    format: formats.iter().position(|f| *f == p.format)?,
                    n: p.n_params,
                    loss: p.loss,
                    predicted: report.predict(p)?,
                })
            })
            .collect();
        Self { formats, rows }
    }

    /// (min, max) of `f` over the rows; (1, 2) when there are none.
    fn range(&self, f: impl Fn(&Row) -> f64) -> (f64, f64) {
        min_max(self.rows.iter().map(f)).unwrap_or((1.0, 2.0))
    }

    /// The N axis: the data's range widened by 1.3× on each side.
    fn n_axis(&self) -> (f64, f64) {
        let (lo, hi) = self.range(|r| r.n);
        (lo / 1.3, hi * 1.3)
    }
}

/// Sorted, distinct format names of `points`.
fn format_names(points: &[Point]) -> Vec<String> {
    let mut formats: Vec<String> = points.iter().map(|p| p.format.clone()).collect();
    formats.sort();
    formats.dedup();
    formats
}

/// (min, max) of the finite values, `None` if there are none.
fn min_max(v: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    v.filter(|x| x.is_finite()).fold(None, |acc, x| match acc {
        None => Some((x, x)),
        Some((lo, hi)) => Some((lo.min(x), hi.max(x))),
    })
}
