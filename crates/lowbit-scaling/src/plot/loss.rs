//! `loss_vs_params`: observed losses against N, coloured by format, with the fitted law drawn at
//! each budget of the data (one line per format × budget, [`super::loss_curves`]) and each
//! budget's label at the right end of its lines.

use super::{LossCurve, Series, min_max};
use crate::report::FitReport;
use lowbit_plot::plotters::coord::Shift;
use lowbit_plot::plotters::prelude::*;
use lowbit_plot::{Figure, SANS, chart, colour, err, legend, log_axis, si_label};

pub(super) struct LossFigure<'a> {
    pub report: &'a FitReport,
    pub s: &'a Series,
    pub curves: &'a [LossCurve],
}

impl Figure for LossFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let (n_lo, n_hi) = self.s.n_axis();
        let losses = self.s.rows.iter().map(|r| r.loss).chain(
            self.curves
                .iter()
                .flat_map(|c| c.points.iter().map(|p| p.1)),
        );
        let (l_lo, l_hi) = min_max(losses).unwrap_or((1.0, 2.0));
        let pad = (l_hi - l_lo).max(1e-3) * 0.04;
        let kind = match self.curves.first().map(|c| c.budget) {
            Some(super::CurveBudget::Tokens(_)) => "each token budget D",
            _ => "each tokens-per-parameter ratio D/N",
        };
        let mut chart = chart(root, &format!("loss vs N — {}", self.report.law))
            .build_cartesian_2d(log_axis(n_lo, n_hi), (l_lo - pad)..(l_hi + pad))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(format!(
                "non-embedding parameters N   (lines: the fitted law at {kind} of the data)"
            ))
            .y_desc("validation loss (nats/token)")
            .y_labels(10)
            .x_label_formatter(&|x| si_label(*x))
            .y_label_formatter(&|y| format!("{y:.2}"))
            .label_style((SANS, 14))
            .axis_desc_style((SANS, 15))
            .draw()
            .map_err(err)?;
        for (g, name) in self.s.formats.iter().enumerate() {
            let c = colour(g);
            for curve in self.curves.iter().filter(|cv| cv.format == *name) {
                chart
                    .draw_series(LineSeries::new(
                        curve.points.iter().copied(),
                        c.stroke_width(2),
                    ))
                    .map_err(err)?;
            }
            let rho = self
                .report
                .params
                .rho
                .get(name)
                .map_or(String::new(), |r| format!(" (ρ = {r:.2})"));
            chart
                .draw_series(
                    self.s
                        .rows
                        .iter()
                        .filter(|r| r.format == g)
                        .map(|r| Circle::new((r.n, r.loss), 4, c.filled())),
                )
                .map_err(err)?
                .label(format!("{name}{rho}"))
                .legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new([(-10, 0), (10, 0)], c.stroke_width(2))
                        + Circle::new((0, 0), 4, c.filled())
                });
        }
        // One label per budget, above its highest line at 30% of the N axis (in log space): clear
        // of the smallest sizes' points at the left edge and the legend at the top right.
        let at_n = n_lo * (n_hi / n_lo).powf(0.3);
        let mut labels: Vec<(String, (f64, f64))> = Vec::new();
        for cv in self.curves {
            let Some(&at) = cv
                .points
                .iter()
                .min_by(|a, b| (a.0 / at_n).ln().abs().total_cmp(&(b.0 / at_n).ln().abs()))
            else {
                continue;
            };
            let label = cv.budget.label();
            match labels.iter_mut().find(|(l, _)| *l == label) {
                Some((_, best)) if at.1 > best.1 => *best = at,
                Some(_) => {}
                None => labels.push((label, at)),
            }
        }
        chart
            .draw_series(labels.into_iter().map(|(label, at)| {
                EmptyElement::at(at) + Text::new(label, (-30, -24), (SANS, 15).into_font())
            }))
            .map_err(err)?;
        legend(&mut chart, SeriesLabelPosition::UpperRight)
    }
}
