//! The one plotting setup of lowbit: every figure (scaling-law fits in `lowbit-scaling`, grid
//! levels in `lowbit grids show --plot`) is drawn through this crate, so fonts, file pairs,
//! colours and axes look and behave the same everywhere.
//!
//! - Text is DejaVu Sans embedded in the binary ([`register_fonts`]; plotters' `ab_glyph`
//!   feature), so no system font library is needed.
//! - A [`Figure`] is drawn once per backend: [`render`] writes `PREFIX.png` and `PREFIX.svg`.
//! - [`log_axis`] is a log-scale axis whose labels are 1-2-5 ticks ([`log_ticks`]) with light
//!   grid lines at every 1…9 × 10^k, labelled by [`si_label`] (`200k`, `1.5M`).
//!
//! `plotters` is re-exported: figures use this crate's build of it (one feature set, no fonts
//! from the system).
//!
//! ```no_run
//! use lowbit_plot::plotters::coord::Shift;
//! use lowbit_plot::plotters::prelude::*;
//! use lowbit_plot::{Figure, SANS, chart, log_axis, render, si_label};
//!
//! struct Line;
//! impl Figure for Line {
//!     fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
//!         root.fill(&WHITE).map_err(lowbit_plot::err)?;
//!         let mut c = chart(root, "y = 1/x")
//!             .build_cartesian_2d(log_axis(1e3, 5e4), 0.0..1e-3)
//!             .map_err(lowbit_plot::err)?;
//!         c.configure_mesh()
//!             .x_label_formatter(&|x| si_label(*x))
//!             .draw()
//!             .map_err(lowbit_plot::err)?;
//!         let pts = (0..50).map(|k| 1e3 * 50f64.powf(k as f64 / 49.0)).map(|x| (x, 1.0 / x));
//!         c.draw_series(LineSeries::new(pts, BLUE)).map_err(lowbit_plot::err)?;
//!         Ok(())
//!     }
//! }
//! let files = render(&Line, "out/line".as_ref(), (640, 480)).unwrap();
//! # let _ = SANS;
//! ```

#![warn(missing_docs)]

mod ticks;

pub use plotters;
pub use ticks::{LogAxis, log_axis, log_minor_ticks, log_ticks, si_label};

use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Once;

/// The font family every figure's text uses (DejaVu Sans, registered by [`register_fonts`]).
pub const SANS: &str = "sans-serif";

/// Drawing a figure failed: the file and what the backend said.
#[derive(Debug, thiserror::Error)]
#[error("plot {}: {message}", path.display())]
pub struct PlotError {
    /// The file being written (or its directory).
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// Registers DejaVu Sans (regular and bold) as [`SANS`]; idempotent, called by [`render`].
pub fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TTF shipped by the `dejavu` crate; a failure only loses labels.
        let _ = plotters::style::register_font(SANS, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(SANS, FontStyle::Bold, dejavu::sans::bold());
    });
}

/// A figure that can be drawn on any plotters backend (so one definition gives PNG and SVG).
pub trait Figure {
    /// Draws the whole figure on `root`; errors are the backend's message.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Any displayable error as the `String` that [`Figure::draw`] returns.
pub fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Writes `fig` as `PREFIX.png` and `PREFIX.svg` of `size` pixels (creating `PREFIX`'s directory)
/// and returns the two paths, PNG first.
pub fn render(
    fig: &impl Figure,
    prefix: &Path,
    size: (u32, u32),
) -> Result<Vec<PathBuf>, PlotError> {
    register_fonts();
    if let Some(dir) = prefix.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| PlotError {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
    }
    let with = |ext: &str| {
        let mut p = prefix.as_os_str().to_owned();
        p.push(ext);
        PathBuf::from(p)
    };
    let (png, svg) = (with(".png"), with(".svg"));
    let fail = |path: &Path| {
        let path = path.to_path_buf();
        move |message| PlotError { path, message }
    };
    {
        let root = BitMapBackend::new(&png, size).into_drawing_area();
        fig.draw(&root)
            .and_then(|_| root.present().map_err(err))
            .map_err(fail(&png))?;
    }
    {
        let root = SVGBackend::new(&svg, size).into_drawing_area();
        fig.draw(&root)
            .and_then(|_| root.present().map_err(err))
            .map_err(fail(&svg))?;
    }
    Ok(vec![png, svg])
}

/// Series colours, readable on white and distinct in print (matplotlib's `tab10`).
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The `i`-th series colour (cycling through [`PALETTE`]).
pub fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A chart builder on `root` in the house style: `caption` in 22 px [`SANS`], 12 px margin, room
/// for axis labels and descriptions. Finish it with `build_cartesian_2d`.
pub fn chart<'a, 'b, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    caption: &str,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(root);
    b.caption(caption, (SANS, 22))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(64);
    b
}

/// Draws a legend box in the house style (white, translucent, black border) at `pos`.
pub fn legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    pos: SeriesLabelPosition,
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(pos)
        .label_font((SANS, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)
}
