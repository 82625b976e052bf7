//! Gaussian-MSE capacity (Unified Scaling Laws for Compressed Representations, Panferov et al.
//! 2025, arXiv 2506.01863): GMSE(R) = E‖x − Q_R(x)‖²/d for x ~ N(0, I), with R's own scale
//! rule. Effective bits b_eff = −½·log2 GMSE (Gaussian rate–distortion).

use crate::{Format, FormatError};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Row length of GMSE samples (the spec's 1024 × 4096 layout for 2^22 samples).
pub const GMSE_COLS: usize = 4096;

/// A GMSE estimate.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Gmse {
    /// Mean squared error per value.
    pub gmse: f64,
    /// Standard error of the mean (over rows).
    pub se: f64,
    /// Number of samples.
    pub n: usize,
}

impl Gmse {
    /// −½·log2(GMSE).
    pub fn effective_bits(&self) -> f64 {
        -0.5 * self.gmse.log2()
    }
}

/// `n` i.i.d. N(0,1) samples; row r is drawn from ChaCha8(seed) stream r, so the sample is the
/// same whatever the thread count.
pub fn gaussian_samples(n: usize, seed: u64) -> Vec<f32> {
    let cols = GMSE_COLS.min(n.max(1));
    let mut x = vec![0f32; n];
    x.par_chunks_mut(cols).enumerate().for_each(|(r, row)| {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(r as u64);
        for v in row {
            *v = StandardNormal.sample(&mut rng);
        }
    });
    x
}

/// GMSE of `format` on given samples laid out in rows of `cols`.
pub fn gmse_on(format: &Format, samples: &[f32], cols: usize) -> Result<Gmse, FormatError> {
    let mut q = samples.to_vec();
    format.fake_quant(&mut q, cols)?;
    let row_mse: Vec<f64> = samples
        .par_chunks(cols)
        .zip(q.par_chunks(cols))
        .map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(&x, &y)| {
                    let d = x as f64 - y as f64;
                    d * d
                })
                .sum::<f64>()
                / cols as f64
        })
        .collect();
    let rows = row_mse.len() as f64;
    let mean = row_mse.iter().sum::<f64>() / rows;
    let var = if rows > 1.0 {
        row_mse.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / (rows - 1.0)
    } else {
        0.0
    };
    Ok(Gmse {
        gmse: mean,
        se: (var / rows).sqrt(),
        n: samples.len(),
    })
}

/// GMSE of `format` on `n` seeded Gaussian samples (rows of 4096, or one row if n < 4096).
pub fn gmse(format: &Format, n: usize, seed: u64) -> Result<Gmse, FormatError> {
    let x = gaussian_samples(n, seed);
    gmse_on(format, &x, GMSE_COLS.min(n.max(1)))
}
