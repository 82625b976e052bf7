//! The laws and their parameters.
//!
//! - Chinchilla (Hoffmann et al. 2022, Approach 3): L(N, D) = E + A/N^α + B/D^β.
//! - Unified (QuEST, Panferov et al. 2025, arXiv 2502.05003 §law with precision efficiency;
//!   Unified Scaling Laws for Compressed Representations, arXiv 2506.01863):
//!   L(N, D, R) = A·(N·ρ(R))^(−α) + B·D^(−β) + E, with ρ(bf16) = 1. ρ(R) is either one free
//!   parameter per format ([`RhoMode::Free`]) or the capacity link of the format's Gaussian MSE
//!   ([`RhoMode::Capacity`], [`crate::CapacityLink`]).
//!
//! The optimiser works on Hoffmann's log parameters θ = (a, b, e, α, β, extras…) with A = e^a,
//! B = e^b, E = e^e; extras are log ρ per non-reference format (free) or (log L, log F, log C)
//! of the link (capacity).

use crate::capacity::{CapacityLink, effective_bits};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How ρ(R) of the unified law is parameterised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RhoMode {
    /// One ρ per non-reference format, fitted jointly (as QuEST fits eff(P)).
    Free,
    /// ρ = L·tanh(F·b_eff^C) from each format's GMSE; L, F, C fitted jointly.
    Capacity,
}

/// Which law to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "law", rename_all = "snake_case")]
pub enum Law {
    /// L = E + A/N^α + B/D^β; the format column is ignored.
    Chinchilla,
    /// L = A·(N·ρ(R))^(−α) + B·D^(−β) + E.
    Unified {
        /// How ρ is parameterised.
        rho: RhoMode,
    },
}

impl std::fmt::Display for Law {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Law::Chinchilla => write!(f, "chinchilla"),
            Law::Unified { rho: RhoMode::Free } => write!(f, "unified (rho = free)"),
            Law::Unified {
                rho: RhoMode::Capacity,
            } => write!(f, "unified (rho = capacity)"),
        }
    }
}

/// Number of shared log parameters (a, b, e, α, β) at the front of θ.
pub const N_SHARED: usize = 5;

/// Fitted parameters of a law, in natural units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LawParams {
    /// A, the coefficient of the parameter term.
    #[serde(rename = "A")]
    pub a: f64,
    /// B, the coefficient of the data term.
    #[serde(rename = "B")]
    pub b: f64,
    /// E, the irreducible loss.
    #[serde(rename = "E")]
    pub e: f64,
    /// α, the parameter exponent.
    pub alpha: f64,
    /// β, the data exponent.
    pub beta: f64,
    /// ρ of every format in the data (the reference is 1); empty for the Chinchilla law.
    pub rho: BTreeMap<String, f64>,
    /// The capacity link (capacity mode only).
    pub link: Option<CapacityLink>,
}

impl LawParams {
    /// Predicted loss at N parameters, D tokens and parameter efficiency ρ.
    pub fn loss(&self, n_params: f64, tokens: f64, rho: f64) -> f64 {
        self.e + self.a * (n_params * rho).powf(-self.alpha) + self.b * tokens.powf(-self.beta)
    }

    /// ρ of a format with Gaussian MSE `gmse` under the fitted link (capacity mode only).
    pub fn rho_from_gmse(&self, gmse: f64) -> Option<f64> {
        self.link.map(|l| l.rho(effective_bits(gmse)))
    }

    /// Named scalar values (used by the bootstrap): A, B, E, alpha, beta, `rho[f]` of every format
    /// but `reference` (fixed at 1), link L/F/C.
    pub fn named_values(&self, reference: Option<&str>) -> Vec<(String, f64)> {
        let mut v = vec![
            ("A".to_owned(), self.a),
            ("B".to_owned(), self.b),
            ("E".to_owned(), self.e),
            ("alpha".to_owned(), self.alpha),
            ("beta".to_owned(), self.beta),
        ];
        for (f, r) in self
            .rho
            .iter()
            .filter(|(f, _)| Some(f.as_str()) != reference)
        {
            v.push((format!("rho[{f}]"), *r));
        }
        if let Some(l) = self.link {
            v.push(("link.L".to_owned(), l.scale));
            v.push(("link.F".to_owned(), l.rate));
            v.push(("link.C".to_owned(), l.exponent));
        }
        v
    }
}

/// Where ρ's parameters sit in θ and which formats the law knows.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// The law.
    pub law: Law,
    /// Format names; index 0 is the reference for the unified law.
    pub formats: Vec<String>,
    /// ln b_eff per format (capacity mode; 0 for the reference, unused).
    pub ln_bits: Vec<f64>,
}

impl Layout {
    /// Length of θ.
    pub fn dim(&self) -> usize {
        N_SHARED
            + match self.law {
                Law::Chinchilla => 0,
                Law::Unified { rho: RhoMode::Free } => self.formats.len().saturating_sub(1),
                Law::Unified {
                    rho: RhoMode::Capacity,
                } => 3,
            }
    }

    /// ln ρ of every format at θ (index 0 is the reference: 0).
    pub fn ln_rho(&self, theta: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.formats.len().max(1)];
        match self.law {
            Law::Chinchilla => {}
            Law::Unified { rho: RhoMode::Free } => {
                let k = out.len() - 1;
                out[1..].copy_from_slice(&theta[N_SHARED..N_SHARED + k]);
            }
            Law::Unified {
                rho: RhoMode::Capacity,
            } => {
                let link = Self::link_at(theta);
                for (o, lb) in out.iter_mut().zip(&self.ln_bits).skip(1) {
                    *o = link.ln_scale + ln_tanh(link.u(*lb));
                }
            }
        }
        out
    }

    /// θ's natural-unit parameters.
    pub fn params(&self, theta: &[f64]) -> LawParams {
        let ln_rho = self.ln_rho(theta);
        let rho = match self.law {
            Law::Chinchilla => BTreeMap::new(),
            Law::Unified { .. } => self
                .formats
                .iter()
                .cloned()
                .zip(ln_rho.iter().map(|x| x.exp()))
                .collect(),
        };
        let link = match self.law {
            Law::Unified {
                rho: RhoMode::Capacity,
            } => Some(CapacityLink {
                scale: theta[N_SHARED].exp(),
                rate: theta[N_SHARED + 1].exp(),
                exponent: theta[N_SHARED + 2].exp(),
            }),
            _ => None,
        };
        LawParams {
            a: theta[0].exp(),
            b: theta[1].exp(),
            e: theta[2].exp(),
            alpha: theta[3],
            beta: theta[4],
            rho,
            link,
        }
    }

    /// θ from natural-unit parameters (inverse of [`Layout::params`]; formats missing from
    /// `p.rho` start at ρ = 1).
    pub fn theta(&self, p: &LawParams) -> Vec<f64> {
        let mut t = vec![p.a.ln(), p.b.ln(), p.e.ln(), p.alpha, p.beta];
        match self.law {
            Law::Chinchilla => {}
            Law::Unified { rho: RhoMode::Free } => {
                for f in self.formats.iter().skip(1) {
                    t.push(p.rho.get(f).map_or(0.0, |r| r.ln()));
                }
            }
            Law::Unified {
                rho: RhoMode::Capacity,
            } => {
                let l = p.link.unwrap_or(CapacityLink::PLACEHOLDER);
                t.extend([l.scale.ln(), l.rate.ln(), l.exponent.ln()]);
            }
        }
        t
    }

    /// The link in log form at θ (capacity mode).
    pub(crate) fn link_at(theta: &[f64]) -> LnLink {
        LnLink {
            ln_scale: theta[N_SHARED],
            ln_rate: theta[N_SHARED + 1],
            exponent: theta[N_SHARED + 2].exp(),
        }
    }
}

/// The capacity link with log parameters, for the objective's gradient.
pub(crate) struct LnLink {
    /// ln L.
    pub ln_scale: f64,
    /// ln F.
    pub ln_rate: f64,
    /// C (= e^c).
    pub exponent: f64,
}

impl LnLink {
    /// u = F·b^C from ln b.
    pub fn u(&self, ln_bits: f64) -> f64 {
        (self.ln_rate + self.exponent * ln_bits).exp()
    }
}

/// ln tanh(u) for u > 0, accurate for small and large u.
pub(crate) fn ln_tanh(u: f64) -> f64 {
    let t = (-2.0 * u).exp();
    (-(-2.0 * u).exp_m1()).ln() - t.ln_1p()
}

/// d ln tanh(u)/du = 2/sinh(2u).
pub(crate) fn d_ln_tanh(u: f64) -> f64 {
    2.0 / (2.0 * u).sinh()
}
