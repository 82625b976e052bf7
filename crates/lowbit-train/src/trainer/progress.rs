//! Progress display: an indicatif bar with ETA on a terminal, one plain greppable line per log
//! step otherwise (CI logs, pipes), nothing when quiet.

use super::options::Progress;
use crate::metrics::Record;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Shows a run's progress.
pub struct Reporter {
    bar: Option<ProgressBar>,
    lines: bool,
}

impl Reporter {
    /// A reporter for steps `start..total`.
    pub fn new(mode: Progress, start: u64, total: u64) -> Self {
        let terminal = std::io::stderr().is_terminal();
        match mode {
            Progress::Auto if terminal => {
                let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                let style = ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} steps, ETA {eta_precise} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                bar.set_style(style);
                bar.set_position(start);
                bar.reset_eta();
                Self {
                    bar: Some(bar),
                    lines: false,
                }
            }
            Progress::Auto | Progress::Lines => Self {
                bar: None,
                lines: true,
            },
            Progress::Quiet => Self {
                bar: None,
                lines: false,
            },
        }
    }

    /// After every step.
    pub fn step(&mut self, step: u64, loss: f64) {
        if let Some(b) = &self.bar {
            b.set_position(step);
            b.set_message(format!("loss {loss:.4}"));
        }
    }

    /// On log steps.
    pub fn log(&mut self, r: &Record) {
        match &self.bar {
            Some(b) if r.val_loss.is_some() => b.println(r.line()),
            Some(_) => {}
            None if self.lines => println!("{}", r.line()),
            None => {}
        }
    }

    /// A warning (always shown, on stderr).
    pub fn warn(&mut self, msg: &str) {
        match &self.bar {
            Some(b) => b.println(format!("warning: {msg}")),
            None => eprintln!("warning: {msg}"),
        }
    }

    /// At the end.
    pub fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
