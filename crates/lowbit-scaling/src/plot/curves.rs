//! The fitted curves of `loss_vs_params`: the law along the token budgets the data was trained at.
//!
//! A sweep holds one budget axis fixed: `tokens.total` gives every size the same D (so D/N
//! differs at every N), `tokens.per_param` gives every size the same D/N. The curves follow
//! whichever of the two takes fewer distinct values in the data — one curve per format × D, or
//! per format × D/N — so that every point lies on the N axis of a curve drawn at its own budget:
//! the curve passes through the law's prediction at the point's N, and the vertical gap between
//! a point and its curve is the point's residual. A single curve per format at an average D/N
//! (the earlier plot) passes through none of the points of a fixed-D sweep, and plotting loss
//! against compute C = 6·N·D would fold N and D into one axis, so the offset between formats
//! (their ρ, a shift along N alone) could no longer be read off.

use super::format_names;
use crate::data::Point;
use crate::report::FitReport;

/// Samples per curve over the N axis (the data points' own N are added to them).
const SAMPLES: usize = 80;
/// Budgets within this ratio of each other are one budget (step rounding of a per-param sweep).
const SAME_BUDGET: f64 = 1.05;

/// The budget a curve holds fixed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CurveBudget {
    /// D tokens for every N.
    Tokens(f64),
    /// D = ratio · N.
    TokensPerParam(f64),
}

impl CurveBudget {
    /// Tokens at `n_params` non-embedding parameters.
    pub fn tokens(&self, n_params: f64) -> f64 {
        match self {
            CurveBudget::Tokens(d) => *d,
            CurveBudget::TokensPerParam(r) => r * n_params,
        }
    }

    /// The label drawn beside the curve: `D = 150k` or `D/N = 4.6`.
    pub fn label(&self) -> String {
        match self {
            CurveBudget::Tokens(d) => format!("D = {}", lowbit_plot::si_label(*d)),
            CurveBudget::TokensPerParam(r) => format!("D/N = {}", lowbit_plot::si_label(*r)),
        }
    }
}

/// The fitted law of one format at one budget, sampled over the plot's N axis.
#[derive(Debug, Clone, PartialEq)]
pub struct LossCurve {
    /// The format (its ρ is the fitted one).
    pub format: String,
    /// The budget held fixed along the curve.
    pub budget: CurveBudget,
    /// Indices (into the plotted points) of the points trained at this format and budget.
    pub members: Vec<usize>,
    /// (N, predicted loss), ascending in N; includes every member's N.
    pub points: Vec<(f64, f64)>,
}

/// Clusters of `values` (indices), adjacent values within [`SAME_BUDGET`] of each other, each
/// with its median member's value (a value of the data, so a budget every member shares is
/// reproduced exactly).
fn clusters(values: &[(usize, f64)]) -> Vec<(f64, Vec<usize>)> {
    let mut v: Vec<(usize, f64)> = values.to_vec();
    v.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut groups: Vec<Vec<(usize, f64)>> = Vec::new();
    for (i, x) in v {
        match groups.last_mut() {
            Some(g) if x <= g[g.len() - 1].1 * SAME_BUDGET => g.push((i, x)),
            _ => groups.push(vec![(i, x)]),
        }
    }
    groups
        .into_iter()
        .map(|g| (g[g.len() / 2].1, g.into_iter().map(|(i, _)| i).collect()))
        .collect()
}

/// One curve per format × budget for the points the report can predict (see the module docs for
/// the choice of D or D/N), sampled over the N axis of the plot (the data's range widened 1.3×).
pub fn loss_curves(report: &FitReport, points: &[Point]) -> Vec<LossCurve> {
    let usable: Vec<usize> = (0..points.len())
        .filter(|&i| {
            let p = &points[i];
            p.n_params > 0.0 && p.tokens > 0.0 && report.predict(p).is_some()
        })
        .collect();
    if usable.is_empty() {
        return Vec::new();
    }
    let by_d: Vec<(usize, f64)> = usable.iter().map(|&i| (i, points[i].tokens)).collect();
    let by_ratio: Vec<(usize, f64)> = usable
        .iter()
        .map(|&i| (i, points[i].tokens / points[i].n_params))
        .collect();
    let (d, r) = (clusters(&by_d), clusters(&by_ratio));
    let groups: Vec<(CurveBudget, Vec<usize>)> = if d.len() < r.len() {
        d.into_iter()
            .map(|(x, m)| (CurveBudget::Tokens(x), m))
            .collect()
    } else {
        r.into_iter()
            .map(|(x, m)| (CurveBudget::TokensPerParam(x), m))
            .collect()
    };
    let n = |i: &usize| points[*i].n_params;
    let lo = usable.iter().map(n).fold(f64::INFINITY, f64::min) / 1.3;
    let hi = usable.iter().map(n).fold(f64::NEG_INFINITY, f64::max) * 1.3;
    let mut curves = Vec::new();
    for format in format_names(points) {
        let Some(rho) = report.rho_of(
            &format,
            points
                .iter()
                .find_map(|p| (p.format == format).then_some(p.gmse).flatten()),
        ) else {
            continue;
        };
        for (budget, members) in &groups {
            let members: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&i| points[i].format == format)
                .collect();
            if members.is_empty() {
                continue;
            }
            let mut ns: Vec<f64> = (0..SAMPLES)
                .map(|k| lo * (hi / lo).powf(k as f64 / (SAMPLES - 1) as f64))
                .chain(members.iter().map(n))
                .collect();
            ns.sort_by(f64::total_cmp);
            ns.dedup();
            let pts = ns
                .into_iter()
                .map(|x| (x, report.params.loss(x, budget.tokens(x), rho)))
                .collect();
            curves.push(LossCurve {
                format: format.clone(),
                budget: *budget,
                members,
                points: pts,
            });
        }
    }
    curves
}
