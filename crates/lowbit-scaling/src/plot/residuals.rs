//! `residuals`: ln L_observed − ln L_fit of every point against N, coloured by format.

use super::Series;
use lowbit_plot::plotters::coord::Shift;
use lowbit_plot::plotters::prelude::*;
use lowbit_plot::{Figure, SANS, chart, colour, err, legend, log_axis, si_label};

pub(super) struct ResidualFigure<'a> {
    pub s: &'a Series,
}

impl Figure for ResidualFigure<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let (n_lo, n_hi) = self.s.n_axis();
        let (_, r_max) = self.s.range(|r| (r.loss.ln() - r.predicted.ln()).abs());
        let r_max = (r_max * 1.15).max(1e-6);
        let mut chart = chart(root, "residuals ln L_obs − ln L_fit")
            .y_label_area_size(72)
            .build_cartesian_2d(log_axis(n_lo, n_hi), -r_max..r_max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("non-embedding parameters N")
            .y_desc("residual (ln)")
            .x_label_formatter(&|x| si_label(*x))
            .label_style((SANS, 14))
            .axis_desc_style((SANS, 15))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                [(n_lo, 0.0), (n_hi, 0.0)],
                BLACK.stroke_width(1),
            ))
            .map_err(err)?;
        for (g, name) in self.s.formats.iter().enumerate() {
            let c = colour(g);
            chart
                .draw_series(
                    self.s
                        .rows
                        .iter()
                        .filter(|r| r.format == g)
                        .map(|r| Circle::new((r.n, r.loss.ln() - r.predicted.ln()), 4, c.filled())),
                )
                .map_err(err)?
                .label(name.clone())
                .legend(move |(x, y)| Circle::new((x, y), 4, c.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    }
}
