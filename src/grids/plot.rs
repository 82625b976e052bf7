//! The level plot of `lowbit grids show --plot`: one row of points per grid, drawn through
//! `lowbit-plot` (the same fonts, files and palette as the scaling plots).

use anyhow::Result;
use lowbit_plot::plotters::coord::Shift;
use lowbit_plot::plotters::prelude::*;
use lowbit_plot::{Figure, SANS, chart, colour, err, render};
use std::path::{Path, PathBuf};

/// Named grids, each a row of levels.
struct Levels<'a>(&'a [(String, Vec<f32>)]);

impl Figure for Levels<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let series = self.0;
        root.fill(&WHITE).map_err(err)?;
        let n = series.len();
        let mut chart = chart(root, "grid levels (lowbit's definitions; grid max = 6)")
            .x_label_area_size(40)
            .y_label_area_size(170)
            .build_cartesian_2d(-6.6f64..6.6f64, -0.5f64..(n as f64 - 0.5))
            .map_err(err)?;
        let label = |y: &f64| {
            let i = y.round();
            if (y - i).abs() > 1e-6 || i < 0.0 || i as usize >= n {
                return String::new();
            }
            series[n - 1 - i as usize].0.clone()
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&label)
            .x_desc("level")
            .label_style((SANS, 14))
            .axis_desc_style((SANS, 15))
            .draw()
            .map_err(err)?;
        for (i, (_, levels)) in series.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            let c = colour(i);
            chart
                .draw_series(LineSeries::new(
                    [(-6.0, y), (6.0, y)],
                    RGBColor(210, 210, 210),
                ))
                .map_err(err)?;
            chart
                .draw_series(
                    levels
                        .iter()
                        .map(|&v| Circle::new((v as f64, y), 5, c.filled())),
                )
                .map_err(err)?;
        }
        Ok(())
    }
}

/// Writes PREFIX.png and PREFIX.svg: one row of points per grid.
pub(super) fn plot_levels(prefix: &Path, series: &[(String, Vec<f32>)]) -> Result<Vec<PathBuf>> {
    let size = (900, 120 + 60 * series.len() as u32);
    Ok(render(&Levels(series), prefix, size)?)
}
