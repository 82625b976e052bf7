//! The terminal table of a [`FitReport`].

use crate::report::{FitReport, LeaveOneFormatOut};
use std::fmt;

impl fmt::Display for FitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "law: {}", self.law)?;
        if let Some(r) = &self.reference {
            write!(f, "   reference: {r}")?;
        }
        writeln!(
            f,
            "   points: {} (runs {}, excluded {})   Huber δ = {:e}",
            self.n_points,
            self.n_runs,
            self.excluded.len(),
            self.huber_delta
        )?;
        writeln!(
            f,
            "objective {:.6e}: best of {} L-BFGS starts (start #{}, {} failed)",
            self.objective, self.starts, self.best_start, self.starts_failed
        )?;
        writeln!(f)?;
        self.fmt_params(f)?;
        if !self.formats.is_empty() {
            writeln!(f)?;
            writeln!(
                f,
                "{:<16} {:>7} {:>9} {:>9} {:>10} {:>7} {:>10}",
                "format", "points", "rho", "1/rho", "GMSE", "b_eff", "rmse(ln)"
            )?;
            for r in &self.formats {
                let opt =
                    |v: Option<f64>, p: usize| v.map_or("-".to_owned(), |x| format!("{x:.p$}"));
                writeln!(
                    f,
                    "{:<16} {:>7} {:>9.4} {:>9.3} {:>10} {:>7} {:>10.5}",
                    r.format,
                    r.n_points,
                    r.rho,
                    r.params_multiplier,
                    opt(r.gmse, 6),
                    opt(r.effective_bits, 3),
                    r.rmse_log
                )?;
            }
        }
        writeln!(f)?;
        writeln!(
            f,
            "{:<10} {:<16} {:>11} {:>11} {:>8} {:>8}",
            "C (FLOP)", "format", "N*", "D*", "D*/N*", "loss"
        )?;
        for c in &self.compute_optimal {
            writeln!(
                f,
                "{:<10.3e} {:<16} {:>11.4e} {:>11.4e} {:>8.2} {:>8.4}",
                c.compute, c.format, c.n_params, c.tokens, c.tokens_per_param, c.loss
            )?;
        }
        writeln!(f)?;
        let r = &self.residuals;
        writeln!(
            f,
            "residuals ln L_obs − ln L_fit: rmse {:.5}, max |r| {:.5}, mean {:+.2e} over {} points",
            r.rmse_log, r.max_abs_log, r.mean_log, r.n_points
        )?;
        match &self.leave_one_format_out {
            LeaveOneFormatOut::NotApplicable { reason } => {
                writeln!(f, "leave-one-format-out: not applicable ({reason})")?;
            }
            LeaveOneFormatOut::Done { rows } => {
                writeln!(
                    f,
                    "leave-one-format-out (refit without the format, predict it from its GMSE):"
                )?;
                writeln!(
                    f,
                    "{:<16} {:>7} {:>9} {:>9} {:>10} {:>10}",
                    "format", "points", "rho full", "rho pred", "rmse(ln)", "max |r|"
                )?;
                for row in rows {
                    writeln!(
                        f,
                        "{:<16} {:>7} {:>9.4} {:>9.4} {:>10.5} {:>10.5}",
                        row.format,
                        row.n_points,
                        row.rho_full,
                        row.rho_predicted,
                        row.residuals.rmse_log,
                        row.residuals.max_abs_log
                    )?;
                }
            }
        }
        for p in &self.plots {
            writeln!(f, "plot: {}", p.display())?;
        }
        Ok(())
    }
}

impl FitReport {
    fn fmt_params(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.bootstrap {
            None => {
                writeln!(f, "{:<22} {:>14}", "parameter", "estimate")?;
                for (name, v) in self.params.named_values(self.reference.as_deref()) {
                    writeln!(f, "{name:<22} {:>14}", num(v))?;
                }
            }
            Some(b) => {
                writeln!(
                    f,
                    "{:<22} {:>14} {:>12}   95% percentile interval ({} of {} resamples, seed {})",
                    "parameter", "estimate", "SE", b.succeeded, b.resamples, b.seed
                )?;
                for i in &b.intervals {
                    writeln!(
                        f,
                        "{:<22} {:>14} {:>12}   [{}, {}]",
                        i.name,
                        num(i.estimate),
                        num(i.se),
                        num(i.ci_low),
                        num(i.ci_high)
                    )?;
                }
            }
        }
        Ok(())
    }
}

/// Six significant digits, in scientific notation outside [1e-3, 1e5).
fn num(v: f64) -> String {
    if v != 0.0 && !(1e-3..1e5).contains(&v.abs()) {
        format!("{v:.5e}")
    } else {
        format!("{v:.6}")
    }
}
