//! `rho_vs_bits`: each format's fitted ρ against its effective bits −½·log2 GMSE, with the 95%
//! bootstrap interval as an error bar when the fit was bootstrapped, the reference's ρ = 1 as a
//! dashed line, and in capacity mode the fitted link ρ = L·tanh(F·b^C).

use crate::report::FitReport;
use lowbit_plot::plotters::coord::Shift;
use lowbit_plot::plotters::prelude::*;
use lowbit_plot::{Figure, SANS, chart, colour, err, legend};

pub(super) struct RhoFigure<'a> {
    pub report: &'a FitReport,
}

/// One format of the plot.
struct RhoPoint {
    /// Index of the format among the report's (sorted) formats: the colour it has in every plot.
    colour: usize,
    format: String,
    bits: f64,
    rho: f64,
    /// 95% bootstrap interval of ρ, when the fit was bootstrapped.
    interval: Option<(f64, f64)>,
}

impl RhoFigure<'_> {
    fn points(&self) -> Vec<RhoPoint> {
        let boot = self.report.bootstrap.as_ref();
        self.report
            .formats
            .iter()
            .enumerate()
            .filter_map(|(k, r)| {
                let interval = boot
                    .and_then(|b| b.get(&format!("rho[{}]", r.format)))
                    .filter(|i| i.ci_low.is_finite() && i.ci_high.is_finite())
                    .map(|i| (i.ci_low, i.ci_high));
                Some(RhoPoint {
                    colour: k,
                    format: r.format.clone(),
                    bits: r.effective_bits?,
                    rho: r.rho,
                    interval,
                })
            })
            .collect()
    }

    pub(super) fn has_points(&self) -> bool {
        !self.points().is_empty()
    }
}

impl Figure for RhoFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let pts = self.points();
        let link = self.report.params.link;
        let (b_lo, b_hi) = pts
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                (lo.min(p.bits), hi.max(p.bits))
            });
        // With a link curve the whole 0…b range shows its shape; without one the axis zooms onto
        // the formats, whose effective bits often differ by a few hundredths.
        let (x_lo, x_hi) = if link.is_some() {
            (0.0, b_hi.max(4.0) + 1.0)
        } else {
            let pad = ((b_hi - b_lo) * 0.25).max(0.5);
            (b_lo - pad, b_hi + pad)
        };
        let top = pts
            .iter()
            .map(|p| p.interval.map_or(p.rho, |i| i.1.max(p.rho)))
            .fold(1.0, f64::max);
        let caption = if pts.iter().any(|p| p.interval.is_some()) {
            "capacity ρ vs effective bits −½·log2 GMSE (bars: 95% bootstrap interval)"
        } else {
            "capacity ρ vs effective bits −½·log2 GMSE"
        };
        let mut chart = chart(root, caption)
            .build_cartesian_2d(x_lo..x_hi, 0.0..top * 1.12)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("effective bits b_eff of the weight format")
            .y_desc(format!(
                "ρ (N parameters act as ρ·N {} parameters)",
                self.report.reference.as_deref().unwrap_or("reference")
            ))
            .label_style((SANS, 14))
            .axis_desc_style((SANS, 15))
            .draw()
            .map_err(err)?;
        let grey = RGBColor(90, 90, 90);
        chart
            .draw_series(DashedLineSeries::new(
                [(x_lo, 1.0), (x_hi, 1.0)],
                8,
                5,
                grey.stroke_width(1),
            ))
            .map_err(err)?
            .label(format!(
                "ρ = 1 ({})",
                self.report.reference.as_deref().unwrap_or("reference")
            ))
            .legend(move |(x, y)| PathElement::new([(x - 10, y), (x + 10, y)], grey));
        if let Some(link) = link {
            let curve = (1..=200).map(|k| {
                let b = x_hi * k as f64 / 200.0;
                (b, link.rho(b))
            });
            chart
                .draw_series(LineSeries::new(curve, BLUE.stroke_width(2)))
                .map_err(err)?
                .label(format!(
                    "ρ = {:.3}·tanh({:.4}·b^{:.3})",
                    link.scale, link.rate, link.exponent
                ))
                .legend(|(x, y)| {
                    PathElement::new([(x - 10, y), (x + 10, y)], BLUE.stroke_width(2))
                });
        }
        for p in &pts {
            let c = colour(p.colour);
            if let Some((lo, hi)) = p.interval {
                chart
                    .draw_series(std::iter::once(ErrorBar::new_vertical(
                        p.bits,
                        lo,
                        p.rho,
                        hi,
                        c.stroke_width(2),
                        14,
                    )))
                    .map_err(err)?;
            }
            let text = match p.interval {
                Some((lo, hi)) => format!("{} {:.2} [{lo:.2}, {hi:.2}]", p.format, p.rho),
                None => format!("{} {:.2}", p.format, p.rho),
            };
            chart
                .draw_series(std::iter::once(Circle::new((p.bits, p.rho), 6, c.filled())))
                .map_err(err)?
                .label(text)
                .legend(move |(x, y)| Circle::new((x, y), 5, c.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    }
}
