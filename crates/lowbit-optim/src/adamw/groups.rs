//! Per-parameter-group settings by HF-name glob (torch's `param_groups`, chosen by name).
//!
//! Groups are tried in order and the first whose glob matches a parameter's HF name sets its
//! hyper-parameters; a parameter no group matches is in the default group ([`AdamWConfig`] and
//! its [`WeightDecayRule`](super::WeightDecayRule)). A field a group leaves `None` keeps the
//! default group's value. Globs are the `glob` crate's, as in `CompressionPolicy`
//! (`*` also crosses dots: `*.weight_step` matches every LSQ weight step).

use super::AdamWConfig;
use crate::OptimError;
use serde::{Deserialize, Serialize};

/// How a group's learning rate follows the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupLr {
    /// The schedule's learning rate times this factor (0 freezes the group's parameters).
    Scale(f64),
    /// This learning rate at every step, whatever the schedule.
    Fixed(f64),
}

impl Default for GroupLr {
    fn default() -> Self {
        Self::Scale(1.0)
    }
}

/// AdamW settings for the parameters whose HF name matches `pattern`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamGroup {
    /// Glob over HF parameter names, e.g. `*.weight_step` or `model.layers.*.mlp.*`.
    pub pattern: String,
    /// Learning rate relative to the schedule, or fixed (default: the schedule's).
    #[serde(default)]
    pub lr: GroupLr,
    /// (β1, β2); `None` keeps the default group's. β1 = 0 keeps no first moment (m = g).
    #[serde(default)]
    pub betas: Option<(f64, f64)>,
    /// Denominator ε; `None` keeps the default group's.
    #[serde(default)]
    pub eps: Option<f64>,
    /// Decoupled weight decay λ of every matching parameter (0 = none), replacing the default
    /// rule for them; `None` keeps the default rule's decision and λ.
    #[serde(default)]
    pub weight_decay: Option<f64>,
}

impl ParamGroup {
    /// A group of the parameters matching `pattern`, with every setting of the default group.
    pub fn new(pattern: impl Into<String>) -> Self {
        Self {
            pattern: pattern.into(),
            lr: GroupLr::default(),
            betas: None,
            eps: None,
            weight_decay: None,
        }
    }

    /// The schedule's learning rate times `scale`.
    pub fn with_lr_scale(mut self, scale: f64) -> Self {
        self.lr = GroupLr::Scale(scale);
        self
    }

    /// A fixed learning rate.
    pub fn with_lr(mut self, lr: f64) -> Self {
        self.lr = GroupLr::Fixed(lr);
        self
    }

    /// Own (β1, β2).
    pub fn with_betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.betas = Some((beta1, beta2));
        self
    }

    /// Own ε.
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = Some(eps);
        self
    }

    /// Own weight decay (applied to every matching parameter).
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = Some(weight_decay);
        self
    }
}

/// The hyper-parameters one parameter steps with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Hyper {
    /// Learning rate of this step.
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// λ applied to this parameter (0 = not decayed).
    pub weight_decay: f64,
    /// A group froze it (lr scale or fixed lr 0): the value is left as it is. Never set in
    /// the default group, where a schedule's lr of 0 runs the update as it always has.
    pub frozen: bool,
}

/// Checked groups with their compiled globs.
#[derive(Debug, Clone, Default)]
pub(super) struct Groups {
    groups: Vec<(ParamGroup, glob::Pattern)>,
}

impl Groups {
    /// Compiles the globs and checks every setting.
    pub fn new(groups: Vec<ParamGroup>) -> Result<Self, OptimError> {
        let mut out = Vec::with_capacity(groups.len());
        for (index, g) in groups.into_iter().enumerate() {
            let bad = |message: String| OptimError::Group {
                index,
                pattern: g.pattern.clone(),
                message,
            };
            let p = glob::Pattern::new(&g.pattern).map_err(|e| bad(format!("bad glob: {e}")))?;
            let lr = match g.lr {
                GroupLr::Scale(x) | GroupLr::Fixed(x) => x,
            };
            if !(lr.is_finite() && lr >= 0.0) {
                return Err(bad(format!("lr {lr} must be finite and >= 0")));
            }
            if let Some((b1, b2)) = g.betas
                && !((0.0..1.0).contains(&b1) && (0.0..1.0).contains(&b2))
            {
                return Err(bad(format!("betas ({b1}, {b2}) must be in [0, 1)")));
            }
            if let Some(e) = g.eps
                && !(e.is_finite() && e > 0.0)
            {
                return Err(bad(format!("eps {e} must be finite and > 0")));
            }
            if let Some(w) = g.weight_decay
                && !(w.is_finite() && w >= 0.0)
            {
                return Err(bad(format!("weight_decay {w} must be finite and >= 0")));
            }
            out.push((g, p));
        }
        Ok(Self { groups: out })
    }

    /// The groups, in order.
    pub fn list(&self) -> impl Iterator<Item = &ParamGroup> {
        self.groups.iter().map(|(g, _)| g)
    }

    /// Index of the first group matching `name`.
    pub fn matching(&self, name: &str) -> Option<usize> {
        self.groups.iter().position(|(_, p)| p.matches(name))
    }

    /// The settings of parameter `name` (of `rank` dimensions) at schedule learning rate `lr`.
    pub fn resolve(&self, c: &AdamWConfig, name: &str, rank: usize, lr: f64) -> Hyper {
        let rule_decay = if c.weight_decay_rule.decays(name, rank) {
            c.weight_decay
        } else {
            0.0
        };
        let Some(i) = self.matching(name) else {
            // The default group: exactly the configured values (no arithmetic on `lr`).
            return Hyper {
                lr,
                beta1: c.beta1,
                beta2: c.beta2,
                eps: c.eps,
                weight_decay: rule_decay,
                frozen: false,
            };
        };
        let g = &self.groups[i].0;
        let (beta1, beta2) = g.betas.unwrap_or((c.beta1, c.beta2));
        let (lr, frozen) = match g.lr {
            GroupLr::Scale(s) => (lr * s, s == 0.0),
            GroupLr::Fixed(x) => (x, x == 0.0),
        };
        Hyper {
            lr,
            frozen,
            beta1,
            beta2,
            eps: g.eps.unwrap_or(c.eps),
            weight_decay: g.weight_decay.unwrap_or(rule_decay),
        }
    }
}
