//! Synthetic run data: a known law plus seeded log-normal noise, for tests, benches and the
//! SciPy comparison.

use crate::capacity::CapacityLink;
use crate::data::Point;
use crate::law::LawParams;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::collections::BTreeMap;

/// A format of the synthetic sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticFormat {
    /// Name (`bf16` for the reference).
    pub name: String,
    /// True ρ.
    pub rho: f64,
    /// GMSE written to the `gmse` column, if any.
    pub gmse: Option<f64>,
}

impl SyntheticFormat {
    /// A format with ρ given directly (no GMSE column).
    pub fn with_rho(name: &str, rho: f64) -> Self {
        Self {
            name: name.to_owned(),
            rho,
            gmse: None,
        }
    }

    /// A format whose ρ follows `link` from `gmse` (written to the GMSE column).
    pub fn with_gmse(name: &str, gmse: f64, link: &CapacityLink) -> Self {
        Self {
            name: name.to_owned(),
            rho: link.rho_from_gmse(gmse),
            gmse: Some(gmse),
        }
    }
}

/// A synthetic sweep: every format × every N × every tokens-per-parameter ratio, one run each.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticSpec {
    /// The true law (A, B, E, α, β; `rho` and `link` are ignored, ρ comes from `formats`).
    pub law: LawParams,
    /// Formats of the sweep.
    pub formats: Vec<SyntheticFormat>,
    /// Model sizes N.
    pub n_params: Vec<f64>,
    /// D/N ratios; D = ratio·N.
    pub tokens_per_param: Vec<f64>,
    /// Standard deviation of the noise on ln L.
    pub noise: f64,
    /// Seed of the noise (ChaCha8).
    pub seed: u64,
}

impl SyntheticSpec {
    /// Besiroglu et al.'s estimates (A=482.01, B=2085.43, E=1.8169, α=0.3478, β=0.3658), one
    /// `bf16` format, `n_sizes` sizes log-spaced over 44M–16B (Chinchilla's range) and
    /// `n_ratios` ratios log-spaced over 2–200 tokens per parameter.
    pub fn epoch(n_sizes: usize, n_ratios: usize, noise: f64, seed: u64) -> Self {
        Self {
            law: epoch_law(),
            formats: vec![SyntheticFormat::with_rho("bf16", 1.0)],
            n_params: log_space(4.4e7, 1.6e10, n_sizes),
            tokens_per_param: log_space(2.0, 200.0, n_ratios),
            noise,
            seed,
        }
    }
}

/// Besiroglu et al. 2024's Chinchilla estimates as [`LawParams`].
pub fn epoch_law() -> LawParams {
    LawParams {
        a: 482.01,
        b: 2085.43,
        e: 1.8169,
        alpha: 0.3478,
        beta: 0.3658,
        rho: BTreeMap::new(),
        link: None,
    }
}

/// `n` values log-spaced from `lo` to `hi` inclusive.
pub fn log_space(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if n <= 1 {
        return vec![lo];
    }
    let (a, b) = (lo.ln(), hi.ln());
    (0..n)
        .map(|i| (a + (b - a) * i as f64 / (n - 1) as f64).exp())
        .collect()
}

/// The sweep's points, in (format, N, ratio) order; noise drawn in that order.
pub fn synthetic_points(spec: &SyntheticSpec) -> Vec<Point> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut out = Vec::new();
    for f in &spec.formats {
        for &n in &spec.n_params {
            for &ratio in &spec.tokens_per_param {
                let d = ratio * n;
                let z: f64 = StandardNormal.sample(&mut rng);
                let loss = spec.law.loss(n, d, f.rho) * (spec.noise * z).exp();
                out.push(Point {
                    run: format!("{}-N{n:.3e}-D{d:.3e}", f.name),
                    format: f.name.clone(),
                    n_params: n,
                    tokens: d,
                    loss,
                    weight_format: None,
                    act_format: None,
                    sparsity: None,
                    gmse: f.gmse,
                });
            }
        }
    }
    out
}
