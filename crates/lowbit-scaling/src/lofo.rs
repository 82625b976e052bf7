//! Leave-one-format-out: refit the capacity law without a format, then predict that format's
//! losses from its GMSE alone — the test of the claim that capacity predicts parameter
//! efficiency of formats never trained (arXiv 2506.01863). Each refit starts from the full-data
//! estimate (one L-BFGS run; the full grid per format would multiply the cost by the number of
//! formats).

use crate::data::Point;
use crate::design::Design;
use crate::error::Result;
use crate::fit::FitConfig;
use crate::law::{Law, LawParams, RhoMode};
use crate::report::{LeaveOneFormatOut, LofoRow, ResidualStats};
use crate::solver::minimize;
use rayon::prelude::*;

/// Leave-one-format-out rows for a capacity fit, or the reason there are none.
pub(crate) fn leave_one_format_out(
    points: &[Point],
    design: &Design,
    config: &FitConfig,
    full: &LawParams,
) -> Result<LeaveOneFormatOut> {
    let not = |reason: &str| {
        Ok(LeaveOneFormatOut::NotApplicable {
            reason: reason.to_owned(),
        })
    };
    if !config.leave_one_format_out {
        return not("disabled in the fit configuration");
    }
    match config.law {
        Law::Chinchilla => return not("the Chinchilla law has no per-format parameter"),
        Law::Unified { rho: RhoMode::Free } => {
            return not(
                "rho = free cannot predict an unseen format; fit rho = capacity with a gmse column",
            );
        }
        Law::Unified {
            rho: RhoMode::Capacity,
        } => {}
    }
    let held_out: Vec<(usize, &String)> =
        design.layout.formats.iter().enumerate().skip(1).collect();
    if held_out.len() < 2 {
        return not(
            "needs at least two non-reference formats (one to hold out, one to fit the link)",
        );
    }
    let rows: Vec<Result<LofoRow>> = held_out
        .par_iter()
        .map(|&(g, format)| {
            let train: Vec<Point> = points
                .iter()
                .filter(|p| p.format != *format)
                .cloned()
                .collect();
            let sub = Design::new(&train, config.law, &config.reference)?;
            let start = sub.layout.theta(full);
            let theta = minimize(
                &sub,
                None,
                config.huber_delta,
                start.clone(),
                &config.solver,
            )
            .map_or(start, |(t, _)| t);
            let params = sub.layout.params(&theta);
            let gmse = design.gmse[g].unwrap_or(f64::NAN);
            let rho = params.rho_from_gmse(gmse).unwrap_or(f64::NAN);
            let r: Vec<f64> = points
                .iter()
                .filter(|p| p.format == *format)
                .map(|p| p.loss.ln() - params.loss(p.n_params, p.tokens, rho).ln())
                .collect();
            Ok(LofoRow {
                format: format.clone(),
                n_points: r.len(),
                rho_full: full.rho.get(format).copied().unwrap_or(f64::NAN),
                rho_predicted: rho,
                residuals: ResidualStats::of(&r),
            })
        })
        .collect();
    Ok(LeaveOneFormatOut::Done {
        rows: rows.into_iter().collect::<Result<_>>()?,
    })
}
