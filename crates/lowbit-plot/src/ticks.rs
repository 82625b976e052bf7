//! Log-axis ticks people can read. plotters' own log axis labels powers of ten only, which over
//! the 1–2 decades of a small sweep leaves one or two labels; these ticks step down from decades
//! to 1-2-5 to 1-2-3-5 to every mantissa until at least four labels fall inside the range.

use plotters::coord::combinators::{BindKeyPoints, WithKeyPoints};
use plotters::prelude::*;

/// Mantissa sets tried in order, sparsest first.
const MANTISSAS: [&[f64]; 4] = [
    &[1.0],
    &[1.0, 2.0, 5.0],
    &[1.0, 2.0, 3.0, 5.0],
    &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
];

/// Most labels on one axis; a wider range keeps every k-th decade.
const MAX_LABELS: usize = 10;

/// Every m·10^k in `[lo, hi]` for m in `mantissas`, ascending.
fn ticks_with(lo: f64, hi: f64, mantissas: &[f64]) -> Vec<f64> {
    if !(lo > 0.0 && hi >= lo && hi.is_finite()) {
        return Vec::new();
    }
    // 1e-9 relative slack: an end that is itself a tick (1e5 read back as 99999.99…) still counts.
    let (a, b) = (lo * (1.0 - 1e-9), hi * (1.0 + 1e-9));
    let mut out = Vec::new();
    for k in (a.log10().floor() as i32)..=(b.log10().floor() as i32) {
        let decade = 10f64.powi(k);
        for m in mantissas {
            let t = m * decade;
            if t >= a && t <= b {
                out.push(t);
            }
        }
    }
    out
}

/// Labelled ticks of a log axis over `[lo, hi]` (both > 0): the sparsest of decades, 1-2-5,
/// 1-2-3-5 and 1…9 that puts at least `min_labels` ticks inside the range (the densest if none
/// does), thinned to every k-th decade when decades alone exceed ten labels. Empty for a range
/// that is not positive and finite.
pub fn log_ticks(lo: f64, hi: f64, min_labels: usize) -> Vec<f64> {
    let mut best = Vec::new();
    for m in MANTISSAS {
        best = ticks_with(lo, hi, m);
        if best.len() >= min_labels {
            break;
        }
    }
    if best.len() > MAX_LABELS {
        let step = best.len().div_ceil(MAX_LABELS);
        best = best.into_iter().step_by(step).collect();
    }
    best
}

/// Light grid lines of a log axis: every 1…9 × 10^k inside `[lo, hi]`.
pub fn log_minor_ticks(lo: f64, hi: f64) -> Vec<f64> {
    ticks_with(lo, hi, MANTISSAS[3])
}

/// A tick label with an SI suffix and at most three significant digits: `500`, `2k`, `150k`,
/// `1.5M`, `20G`; values below 1 in `e` notation.
pub fn si_label(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    if x.abs() < 1.0 {
        return format!("{x:.1e}");
    }
    const SUFFIX: [(f64, &str); 5] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, "")];
    let (scale, s) = SUFFIX
        .iter()
        .find(|(scale, _)| x.abs() >= *scale * (1.0 - 1e-9))
        .copied()
        .unwrap_or((1.0, ""));
    let v = x / scale;
    let digits = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else {
        2
    };
    let mut t = format!("{v:.digits$}");
    if t.contains('.') {
        t = t.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{t}{s}")
}

/// A log-scale axis over `[lo, hi]`: labels at [`log_ticks`] (at least 4 where the range allows),
/// light grid lines at [`log_minor_ticks`].
pub type LogAxis = WithKeyPoints<LogCoord<f64>>;

/// See [`LogAxis`].
pub fn log_axis(lo: f64, hi: f64) -> LogAxis {
    (lo..hi)
        .log_scale()
        .with_key_points(log_ticks(lo, hi, 4))
        .with_light_points(log_minor_ticks(lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_and_a_half_decades_get_one_two_five() {
        let t = log_ticks(1.0e5, 10f64.powf(6.5), 4);
        assert_eq!(t, vec![1e5, 2e5, 5e5, 1e6, 2e6]);
    }

    #[test]
    fn narrow_ranges_fall_back_to_denser_mantissas() {
        // 1.3e5 .. 1.7e6 (N of the committed tiny sweep): 1-2-5 gives only 2e5, 5e5, 1e6.
        assert_eq!(log_ticks(1.3e5, 1.7e6, 4), vec![2e5, 3e5, 5e5, 1e6]);
        let t = log_ticks(2.0e5, 9.0e5, 4);
        assert_eq!(t, vec![2e5, 3e5, 4e5, 5e5, 6e5, 7e5, 8e5, 9e5]);
    }

    #[test]
    fn wide_ranges_keep_decades_and_thin_them() {
        assert_eq!(log_ticks(1.0, 1e4, 4), vec![1.0, 10.0, 100.0, 1e3, 1e4]);
        let t = log_ticks(1.0, 1e30, 4);
        assert!(t.len() <= MAX_LABELS && t.len() >= 4, "{t:?}");
        assert!(log_ticks(0.0, 1.0, 4).is_empty());
    }

    #[test]
    fn minor_ticks_are_every_mantissa() {
        assert_eq!(log_minor_ticks(1.0, 20.0).len(), 11);
    }

    #[test]
    fn si_labels_read_like_numbers() {
        assert_eq!(si_label(500.0), "500");
        assert_eq!(si_label(2e3), "2k");
        assert_eq!(si_label(1.5e5), "150k");
        assert_eq!(si_label(1.5e6), "1.5M");
        assert_eq!(si_label(1e6), "1M");
        assert_eq!(si_label(2e10), "20G");
        assert_eq!(si_label(0.25), "2.5e-1");
    }
}
