//! Plots of a fit, each as PNG and SVG with stable names:
//! `loss_vs_params.{png,svg}` (points per format, fitted curves at each format's geometric-mean
//! D/N), `rho_vs_bits.{png,svg}` (unified law, formats with a GMSE: ρ against effective bits,
//! with the link curve in capacity mode) and `residuals.{png,svg}` (ln residuals against N).
//!
//! Text is drawn with DejaVu Sans embedded in the binary (plotters' `ab_glyph` feature), so no
//! system font library is needed.

use crate::data::Point;
use crate::error::{Result, ScalingError};
use crate::report::FitReport;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Once;

const SIZE: (u32, u32) = (900, 640);

/// Writes the plots of `report` over `points` into `out_dir` (created if needed) and returns
/// the files written. `rho_vs_bits` is skipped when no format has a GMSE or the law is
/// Chinchilla.
pub fn plot(report: &FitReport, points: &[Point], out_dir: &Path) -> Result<Vec<PathBuf>> {
    register_fonts();
    std::fs::create_dir_all(out_dir).map_err(|source| ScalingError::Io {
        path: out_dir.to_path_buf(),
        source,
    })?;
    let series = Series::new(report, points);
    let mut files = render(
        &LossFigure { report, s: &series },
        out_dir,
        "loss_vs_params",
    )?;
    let rho = RhoFigure { report };
    if rho.has_points() {
        files.extend(render(&rho, out_dir, "rho_vs_bits")?);
    }
    files.extend(render(
        &ResidualFigure { s: &series },
        out_dir,
        "residuals",
    )?);
    Ok(files)
}

fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TTF shipped by the `dejavu` crate; a failure only loses labels.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

/// A figure that can be drawn on any plotters backend.
trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

fn render(fig: &impl Figure, out_dir: &Path, stem: &str) -> Result<Vec<PathBuf>> {
    let png = out_dir.join(format!("{stem}.png"));
    let svg = out_dir.join(format!("{stem}.svg"));
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |message| ScalingError::Plot { path, message }
    };
    {
        let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
        fig.draw(&root)
            .and_then(|_| root.present().map_err(|e| e.to_string()))
            .map_err(err(&png))?;
    }
    {
        let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
        fig.draw(&root)
            .and_then(|_| root.present().map_err(|e| e.to_string()))
            .map_err(err(&svg))?;
    }
    Ok(vec![png, svg])
}

/// Points grouped by format with their predictions.
struct Series {
    formats: Vec<String>,
    /// (format index, N, D, loss, predicted loss)
    rows: Vec<(usize, f64, f64, f64, f64)>,
}

impl Series {
    fn new(report: &FitReport, points: &[Point]) -> Self {
        let mut formats: Vec<String> = points.iter().map(|p| p.format.clone()).collect();
        formats.sort();
        formats.dedup();
        let rows = points
            .iter()
            .filter_map(|p| {
                let g = formats.iter().position(|f| *f == p.format)?;
                Some((g, p.n_params, p.tokens, p.loss, report.predict(p)?))
            })
            .collect();
        Self { formats, rows }
    }

    fn range(&self, f: impl Fn(&(usize, f64, f64, f64, f64)) -> f64) -> (f64, f64) {
        let lo = self.rows.iter().map(&f).fold(f64::INFINITY, f64::min);
        let hi = self.rows.iter().map(&f).fold(f64::NEG_INFINITY, f64::max);
        if lo.is_finite() && hi.is_finite() {
            (lo, hi)
        } else {
            (1.0, 2.0)
        }
    }
}

fn colour(i: usize) -> RGBColor {
    let c = Palette99::pick(i).to_rgba();
    RGBColor(c.0, c.1, c.2)
}

fn e<E: std::fmt::Display>(x: E) -> String {
    x.to_string()
}

struct LossFigure<'a> {
    report: &'a FitReport,
    s: &'a Series,
}

impl Figure for LossFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(e)?;
        let (n_lo, n_hi) = self.s.range(|r| r.1);
        let (l_lo, l_hi) = self.s.range(|r| r.3.min(r.4));
        let (_, l_top) = self.s.range(|r| r.3.max(r.4));
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("loss vs N — {}", self.report.law),
                ("sans-serif", 24),
            )
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(
                (n_lo / 1.3..n_hi * 1.3).log_scale(),
                l_lo * 0.97..l_top.max(l_hi) * 1.03,
            )
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("non-embedding parameters N")
            .y_desc("loss")
            .y_labels(10)
            .x_label_formatter(&|x| format!("{x:.0e}"))
            .y_label_formatter(&|y| format!("{y:.2}"))
            .draw()
            .map_err(e)?;
        for (g, name) in self.s.formats.iter().enumerate() {
            let c = colour(g);
            let pts: Vec<_> = self.s.rows.iter().filter(|r| r.0 == g).collect();
            let ratio =
                (pts.iter().map(|r| (r.2 / r.1).ln()).sum::<f64>() / pts.len().max(1) as f64).exp();
            let rho = self.report.rho_of(name, None).unwrap_or(1.0);
            chart
                .draw_series(pts.iter().map(|r| Circle::new((r.1, r.3), 3, c.filled())))
                .map_err(e)?
                .label(format!("{name} (curve at D/N = {ratio:.0})"))
                .legend(move |(x, y)| Circle::new((x, y), 4, c.filled()));
            let curve = (0..=100).map(|k| {
                let n = n_lo / 1.3 * (n_hi * 1.69 / n_lo).powf(k as f64 / 100.0);
                (n, self.report.params.loss(n, ratio * n, rho))
            });
            chart
                .draw_series(LineSeries::new(curve, c.stroke_width(2)))
                .map_err(e)?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(e)
    }
}

struct ResidualFigure<'a> {
    s: &'a Series,
}

impl Figure for ResidualFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(e)?;
        let (n_lo, n_hi) = self.s.range(|r| r.1);
        let (_, r_max) = self.s.range(|r| (r.3.ln() - r.4.ln()).abs());
        let r_max = (r_max * 1.1).max(1e-6);
        let mut chart = ChartBuilder::on(root)
            .caption("residuals ln L_obs − ln L_fit", ("sans-serif", 24))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d((n_lo / 1.3..n_hi * 1.3).log_scale(), -r_max..r_max)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("non-embedding parameters N")
            .y_desc("residual (ln)")
            .x_label_formatter(&|x| format!("{x:.0e}"))
            .draw()
            .map_err(e)?;
        chart
            .draw_series(LineSeries::new(
                [(n_lo / 1.3, 0.0), (n_hi * 1.3, 0.0)],
                BLACK.stroke_width(1),
            ))
            .map_err(e)?;
        for (g, name) in self.s.formats.iter().enumerate() {
            let c = colour(g);
            chart
                .draw_series(
                    self.s
                        .rows
                        .iter()
                        .filter(|r| r.0 == g)
                        .map(|r| Circle::new((r.1, r.3.ln() - r.4.ln()), 3, c.filled())),
                )
                .map_err(e)?
                .label(name.clone())
                .legend(move |(x, y)| Circle::new((x, y), 4, c.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(e)
    }
}

struct RhoFigure<'a> {
    report: &'a FitReport,
}

impl RhoFigure<'_> {
    fn points(&self) -> Vec<(String, f64, f64)> {
        self.report
            .formats
            .iter()
            .filter_map(|r| Some((r.format.clone(), r.effective_bits?, r.rho)))
            .collect()
    }

    fn has_points(&self) -> bool {
        !self.points().is_empty()
    }
}

impl Figure for RhoFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(e)?;
        let pts = self.points();
        let b_max = pts.iter().map(|p| p.1).fold(4.0, f64::max) + 1.0;
        let rho_max = pts.iter().map(|p| p.2).fold(1.0, f64::max) * 1.1;
        let mut chart = ChartBuilder::on(root)
            .caption(
                "capacity: rho vs effective bits −½·log2 GMSE",
                ("sans-serif", 24),
            )
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..b_max, 0.0..rho_max)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("effective bits b_eff")
            .y_desc("rho")
            .draw()
            .map_err(e)?;
        if let Some(link) = self.report.params.link {
            let curve = (1..=200).map(|k| {
                let b = b_max * k as f64 / 200.0;
                (b, link.rho(b))
            });
            chart
                .draw_series(LineSeries::new(curve, BLUE.stroke_width(2)))
                .map_err(e)?
                .label(format!(
                    "rho = {:.3}·tanh({:.4}·b^{:.3})",
                    link.scale, link.rate, link.exponent
                ))
                .legend(|(x, y)| {
                    PathElement::new([(x - 10, y), (x + 10, y)], BLUE.stroke_width(2))
                });
        }
        chart
            .draw_series(pts.iter().map(|p| Circle::new((p.1, p.2), 5, RED.filled())))
            .map_err(e)?
            .label("fitted rho per format")
            .legend(|(x, y)| Circle::new((x, y), 4, RED.filled()));
        chart
            .draw_series(pts.iter().map(|p| {
                EmptyElement::at((p.1, p.2))
                    + Text::new(p.0.clone(), (8, -18), ("sans-serif", 15).into_font())
            }))
            .map_err(e)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(e)
    }
}
