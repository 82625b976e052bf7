//! The learning-rate schedule: PyTorch `OneCycleLR` with cosine annealing in both phases, as
//! QuEST trains (formats-and-scaling.md §6): warmup over `warmup_frac` of the steps from
//! lr/`initial_lr_div` up to lr, then cosine down to lr·`final_lr_frac`.

/// OneCycle schedule over `total` optimizer steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OneCycle {
    /// Peak learning rate.
    pub max_lr: f64,
    /// Total optimizer steps.
    pub total: u64,
    /// Fraction of steps in the warmup phase.
    pub warmup_frac: f64,
    /// Warmup starts at max_lr / this (PyTorch `div_factor`).
    pub initial_div: f64,
    /// The final learning rate as a fraction of max_lr.
    pub final_frac: f64,
}

/// PyTorch `_annealing_cos`: from `start` (pct 0) to `end` (pct 1) along half a cosine.
fn cos_anneal(start: f64, end: f64, pct: f64) -> f64 {
    end + (start - end) / 2.0 * ((std::f64::consts::PI * pct).cos() + 1.0)
}

impl OneCycle {
    /// Learning rate at optimizer step `step` (0-based).
    pub fn lr(&self, step: u64) -> f64 {
        let initial = self.max_lr / self.initial_div;
        let last = self.max_lr * self.final_frac;
        // PyTorch phase ends: warmup ends at step pct·total − 1, decay at total − 1.
        let warm_end = (self.warmup_frac * self.total as f64 - 1.0).max(0.0);
        let end = (self.total.saturating_sub(1)) as f64;
        let s = step as f64;
        if s <= warm_end && warm_end > 0.0 {
            cos_anneal(initial, self.max_lr, s / warm_end)
        } else if end > warm_end {
            cos_anneal(
                self.max_lr,
                last,
                ((s - warm_end) / (end - warm_end)).min(1.0),
            )
        } else {
            last
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cycle_shape() {
        let s = OneCycle {
            max_lr: 1e-3,
            total: 1000,
            warmup_frac: 0.1,
            initial_div: 100.0,
            final_frac: 0.1,
        };
        assert!((s.lr(0) - 1e-5).abs() < 1e-15, "starts at lr/100");
        assert!(
            (s.lr(99) - 1e-3).abs() < 1e-15,
            "peaks at the end of warmup"
        );
        assert!((s.lr(999) - 1e-4).abs() < 1e-15, "ends at lr/10");
        for t in 0..99 {
            assert!(s.lr(t) < s.lr(t + 1));
        }
        for t in 99..999 {
            assert!(s.lr(t) > s.lr(t + 1));
        }
        // Midpoint of the cosine decay is halfway between peak and floor.
        let mid = 99 + (999 - 99) / 2;
        assert!((s.lr(mid) - 5.5e-4).abs() < 1e-12);
    }
}
