//! The results of `lowbit judge eval`: one [`Line`] per (problem, mode, threshold), the summary
//! table per (mode, threshold) and the accuracy vs accepted-tokens-per-cycle plot.

use anyhow::Result;
use lowbit_plot::plotters::coord::Shift;
use lowbit_plot::plotters::prelude::*;
use lowbit_plot::{Figure, SANS, chart, colour, err, legend, render};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One decoding of one problem.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Line {
    /// Problem id.
    pub id: String,
    /// `target`, `exact-sd`, `autojudge` or `topk`.
    pub mode: String,
    /// The autojudge threshold, or K of topk.
    pub threshold: Option<f64>,
    /// Decoded continuation.
    pub text: String,
    /// Its parsed final answer.
    pub answer: Option<String>,
    /// Whether it equals the gold answer.
    pub correct: bool,
    /// Tokens kept per verification cycle.
    pub accepted_per_cycle: f64,
    /// Verification cycles.
    pub cycles: usize,
    /// New tokens.
    pub tokens: usize,
    /// Mismatches accepted.
    pub mismatches_accepted: usize,
    /// Target forward calls.
    pub target_calls: usize,
    /// Draft forward calls.
    pub draft_calls: usize,
    /// Wall-clock seconds.
    pub wall_s: f64,
}

/// Aggregate of one (mode, threshold).
pub struct Row {
    /// Mode.
    pub mode: String,
    /// Threshold or K.
    pub threshold: Option<f64>,
    /// Problems.
    pub n: usize,
    /// Fraction correct.
    pub accuracy: f64,
    /// Tokens per cycle over all cycles.
    pub accepted_per_cycle: f64,
    /// Mean target calls per problem.
    pub target_calls: f64,
    /// Total seconds.
    pub wall_s: f64,
}

/// Rows in the order the modes first appear.
pub fn rows(lines: &[Line]) -> Vec<Row> {
    let mut keys: Vec<(String, Option<f64>)> = Vec::new();
    for l in lines {
        if !keys.iter().any(|(m, t)| *m == l.mode && *t == l.threshold) {
            keys.push((l.mode.clone(), l.threshold));
        }
    }
    keys.into_iter()
        .map(|(mode, threshold)| {
            let ls: Vec<&Line> = lines
                .iter()
                .filter(|l| l.mode == mode && l.threshold == threshold)
                .collect();
            let n = ls.len().max(1) as f64;
            let cycles: usize = ls.iter().map(|l| l.cycles).sum();
            let tokens: usize = ls.iter().map(|l| l.tokens).sum();
            Row {
                n: ls.len(),
                accuracy: ls.iter().filter(|l| l.correct).count() as f64 / n,
                accepted_per_cycle: tokens as f64 / cycles.max(1) as f64,
                target_calls: ls.iter().map(|l| l.target_calls).sum::<usize>() as f64 / n,
                wall_s: ls.iter().map(|l| l.wall_s).sum(),
                mode,
                threshold,
            }
        })
        .collect()
}

/// The summary as a markdown table (speed-up: target-only wall-clock over the mode's).
pub fn summarise(lines: &[Line]) -> String {
    let rows = rows(lines);
    let base = rows.iter().find(|r| r.mode == "target").map(|r| r.wall_s);
    // Per-problem speed-ups (the same problem's target-only wall-clock over this mode's): their
    // median and 10–90 % range are the spread of the pooled ratio.
    let target_wall: std::collections::HashMap<&str, f64> = lines
        .iter()
        .filter(|l| l.mode == "target")
        .map(|l| (l.id.as_str(), l.wall_s))
        .collect();
    let mut s = String::from(
        "| mode | threshold / K | problems | accuracy | accepted tokens / cycle | target calls / problem | wall s | speed-up vs target | per-problem speed-up: median [p10, p90] |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        let t = r
            .threshold
            .map(|t| format!("{t:.4}"))
            .unwrap_or_else(|| "–".into());
        let speed = base
            .filter(|_| r.wall_s > 0.0)
            .map(|b| format!("{:.2}×", b / r.wall_s))
            .unwrap_or_else(|| "–".into());
        let per: Vec<f64> = lines
            .iter()
            .filter(|l| l.mode == r.mode && l.threshold == r.threshold && l.wall_s > 0.0)
            .filter_map(|l| target_wall.get(l.id.as_str()).map(|t| t / l.wall_s))
            .collect();
        let spread = match (
            lowbit_judge::head::quantile(&per, 0.5),
            lowbit_judge::head::quantile(&per, 0.1),
            lowbit_judge::head::quantile(&per, 0.9),
        ) {
            (Some(m), Some(lo), Some(hi)) => format!("{m:.2}× [{lo:.2}, {hi:.2}]"),
            _ => "–".into(),
        };
        s.push_str(&format!(
            "| {} | {t} | {} | {:.1}% | {:.2} | {:.1} | {:.1} | {speed} | {spread} |\n",
            r.mode,
            r.n,
            100.0 * r.accuracy,
            r.accepted_per_cycle,
            r.target_calls,
            r.wall_s
        ));
    }
    s
}

struct Curve(Vec<Row>);

impl Figure for Curve {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let xmax = self
            .0
            .iter()
            .map(|r| r.accepted_per_cycle)
            .fold(1.0, f64::max)
            * 1.1;
        let mut c = chart(
            root,
            "Judge decoding: accuracy vs accepted tokens per cycle",
        )
        .build_cartesian_2d(0.0..xmax, 0.0..100.0)
        .map_err(err)?;
        c.configure_mesh()
            .x_desc("accepted tokens per cycle")
            .y_desc("accuracy (%)")
            .label_style((SANS, 14))
            .draw()
            .map_err(err)?;
        for (i, mode) in ["target", "exact-sd", "autojudge", "topk"]
            .iter()
            .enumerate()
        {
            let mut pts: Vec<(f64, f64)> = self
                .0
                .iter()
                .filter(|r| r.mode == *mode)
                .map(|r| (r.accepted_per_cycle, 100.0 * r.accuracy))
                .collect();
            if pts.is_empty() {
                continue;
            }
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let col = colour(i);
            c.draw_series(LineSeries::new(pts.clone(), col.stroke_width(2)))
                .map_err(err)?
                .label(*mode)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], col));
            c.draw_series(pts.into_iter().map(|p| Circle::new(p, 4, col.filled())))
                .map_err(err)?;
        }
        legend(&mut c, SeriesLabelPosition::LowerLeft)
    }
}

/// Writes `PREFIX.png` and `PREFIX.svg`.
pub fn write_plot(lines: &[Line], prefix: &Path) -> Result<Vec<PathBuf>> {
    Ok(render(&Curve(rows(lines)), prefix, (800, 560))?)
}
