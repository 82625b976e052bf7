//! The layer Hessian of GPTQ's objective ‖WXᵀ − ŴXᵀ‖²: H = 2/n · Σ_k x_k x_kᵀ over the input
//! samples x_k (paper §3, Eq. (1)–(2)), accumulated batch by batch as a running mean the way
//! gptq's `GPTQ.add_batch` does, so that a stream of calibration batches never holds more than
//! one batch.

use crate::PtqError;
use crate::dense::{View, gemm_seq, par_row_blocks};
use crate::error::{check_finite, check_shape};

/// Running H = 2/n Σ x xᵀ over the rows of the batches added so far (f32, `[d, d]` row-major).
///
/// Every batch of b rows does, in this order (gptq `add_batch`): H ← H · f32(n/(n+b));
/// n ← n + b; x ← f32(√(2/n)) · x; H ← H + xᵀx. The two scalar factors are computed in f64 and
/// rounded to f32 once; each entry of xᵀx is accumulated in f64 and rounded once.
#[derive(Debug, Clone, PartialEq)]
pub struct HessianAccumulator {
    d: usize,
    n: usize,
    h: Vec<f32>,
}

impl HessianAccumulator {
    /// An empty accumulator for inputs of dimension `d` (> 0); H = 0 until a batch is added.
    pub fn new(d: usize) -> Result<Self, PtqError> {
        if d == 0 {
            return Err(PtqError::InvalidOption {
                reason: "the input dimension d must be > 0".into(),
            });
        }
        Ok(Self {
            d,
            n: 0,
            h: vec![0.0; d * d],
        })
    }

    /// Adds a batch `x` of samples, row-major `[b, d]` (one row = one token); b = 0 is a no-op.
    pub fn add_batch(&mut self, x: &[f32]) -> Result<(), PtqError> {
        let d = self.d;
        if x.len() % d != 0 {
            return Err(PtqError::Shape {
                what: "batch",
                len: x.len(),
                expected: x.len() / d * d,
                shape: format!("[b, {d}]"),
            });
        }
        check_finite("batch", x)?;
        let b = x.len() / d;
        if b == 0 {
            return Ok(());
        }
        let keep = (self.n as f64 / (self.n + b) as f64) as f32;
        self.h.iter_mut().for_each(|v| *v *= keep);
        self.n += b;
        let s = (2.0 / self.n as f64).sqrt() as f32;
        // x scaled in f32 (gptq's order), then widened exactly for the f64 product.
        let xs: Vec<f64> = x.iter().map(|&v| (s * v) as f64).collect();
        // Lower triangle of xᵀx in f64 (each entry an f64 sum over the batch's samples) as
        // GEMMs: rows [r0, r1) get xᵀ[r0..r1, :]·x[:, 0..r1].
        let mut acc = vec![0f64; d * d];
        par_row_blocks(&mut acc, d, d, |r0, r1, c| {
            let a = View::row_major(&xs, d, (0, r0)).block_t(r1 - r0, b);
            let bm = View::row_major(&xs, d, (0, 0)).block(b, r1);
            gemm_seq(c, d, a, bm, 1.0, false);
        });
        for i in 0..d {
            for j in 0..=i {
                let a = acc[i * d + j] as f32;
                self.h[i * d + j] += a;
                if i != j {
                    self.h[j * d + i] += a;
                }
            }
        }
        Ok(())
    }

    /// Number of samples (rows) added.
    pub fn samples(&self) -> usize {
        self.n
    }

    /// Input dimension d.
    pub fn dim(&self) -> usize {
        self.d
    }

    /// The current H, row-major `[d, d]`.
    pub fn hessian(&self) -> &[f32] {
        &self.h
    }

    /// Consumes the accumulator, returning H.
    pub fn into_hessian(self) -> Vec<f32> {
        self.h
    }
}

/// H of all rows of `x` (`[n, d]` row-major), added in batches of `batch` rows (the last batch
/// may be shorter) — the reference's `hessian(X, batch)`.
pub fn hessian(x: &[f32], d: usize, batch: usize) -> Result<Vec<f32>, PtqError> {
    if batch == 0 {
        return Err(PtqError::InvalidOption {
            reason: "the Hessian batch must hold at least one row".into(),
        });
    }
    let mut acc = HessianAccumulator::new(d)?;
    check_shape("batch", x.len(), x.len() / d, d)?;
    for chunk in x.chunks(batch * d) {
        acc.add_batch(chunk)?;
    }
    Ok(acc.into_hessian())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_mean_equals_direct_sum() {
        let (n, d) = (37, 5);
        let x: Vec<f32> = (0..n * d)
            .map(|i| ((i * 7919 % 13) as f32 - 6.0) / 3.0)
            .collect();
        let h = hessian(&x, d, 8).unwrap();
        for i in 0..d {
            for j in 0..d {
                let exact: f64 = (0..n)
                    .map(|k| x[k * d + i] as f64 * x[k * d + j] as f64)
                    .sum::<f64>()
                    * 2.0
                    / n as f64;
                assert!((h[i * d + j] as f64 - exact).abs() < 1e-5 * exact.abs().max(1.0));
                assert_eq!(h[i * d + j], h[j * d + i]);
            }
        }
    }

    #[test]
    fn bad_inputs() {
        let mut a = HessianAccumulator::new(3).unwrap();
        assert!(matches!(
            a.add_batch(&[1.0; 4]),
            Err(PtqError::Shape { .. })
        ));
        assert!(matches!(
            a.add_batch(&[1.0, f32::NAN, 0.0]),
            Err(PtqError::NonFinite { index: 1, .. })
        ));
        a.add_batch(&[]).unwrap();
        assert_eq!(a.samples(), 0);
        assert!(HessianAccumulator::new(0).is_err());
        assert!(hessian(&[1.0; 6], 3, 0).is_err());
    }
}
