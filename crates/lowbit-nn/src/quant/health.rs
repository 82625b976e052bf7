//! Quantization health of a tensor under a format: how much of it saturates, how large the
//! error is, which codes and which grids it uses. These are the per-layer diagnostics QAT papers
//! watch (QuEST §5 tracks the clipped fraction and MSE; Grid Games reports grid occupancy), and
//! what the trainer logs to TensorBoard.
//!
//! Computed on the host with `lowbit-formats` itself (encode for codes and selectors, decode for
//! the reconstruction), so the numbers describe exactly what the training forward pass sees.

use crate::NnError;
use lowbit_formats::{Format, pack};

/// Health counters of one or more tensors under one format (mergeable).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QuantHealth {
    /// Values seen.
    pub values: u64,
    /// Values whose magnitude exceeds the largest reconstructed magnitude of their block: they
    /// were saturated (clipped) rather than rounded (e.g. an E4M3 or E8M0 FLOOR scale rounded
    /// below amax / grid max).
    pub clipped: u64,
    /// Values set to zero by a sparsity mask.
    pub pruned: u64,
    /// Σ (x̂ − x)².
    pub sq_err: f64,
    /// Σ x².
    pub sq_ref: f64,
    /// Count of each code (2^code_bits entries; empty for pure sparsity).
    pub codes: Vec<u64>,
    /// Blocks that selected each grid (one entry per grid; multi-grid formats only).
    pub selectors: Vec<u64>,
}

impl QuantHealth {
    /// Fraction of values clipped.
    pub fn clipped_fraction(&self) -> f64 {
        self.clipped as f64 / self.values.max(1) as f64
    }

    /// Relative MSE ‖x̂ − x‖² / ‖x‖² (0 for an all-zero input).
    pub fn relative_mse(&self) -> f64 {
        if self.sq_ref > 0.0 {
            self.sq_err / self.sq_ref
        } else {
            0.0
        }
    }

    /// Adds `other`'s counts (same format).
    pub fn merge(&mut self, other: &QuantHealth) {
        self.values += other.values;
        self.clipped += other.clipped;
        self.pruned += other.pruned;
        self.sq_err += other.sq_err;
        self.sq_ref += other.sq_ref;
        for (dst, src) in [
            (&mut self.codes, &other.codes),
            (&mut self.selectors, &other.selectors),
        ] {
            if dst.len() < src.len() {
                dst.resize(src.len(), 0);
            }
            for (d, s) in dst.iter_mut().zip(src) {
                *d += s;
            }
        }
    }

    /// Measures `x` (row-major, rows of `cols`) under `format`.
    ///
    /// # Errors
    /// The format's own errors (block mismatch, non-finite values).
    pub fn measure(x: &[f32], cols: usize, format: &Format) -> Result<Self, NnError> {
        // Cells carry x̂ (bit-equal to fake_quant) and the block's actual representable range,
        // so "clipped" means what clipped STE masks: beyond the block's outermost levels.
        let cells = format.cells(x, cols)?;
        let q = &cells.q;
        let mut h = QuantHealth {
            values: x.len() as u64,
            ..Default::default()
        };
        for (i, (&a, &b)) in x.iter().zip(q).enumerate() {
            h.sq_err += ((b - a) as f64).powi(2);
            h.sq_ref += (a as f64).powi(2);
            if a < cells.lo[i] || a > cells.hi[i] {
                h.clipped += 1;
            }
            if b == 0.0 && a != 0.0 && matches!(format, Format::Sparse(_)) {
                h.pruned += 1;
            }
        }
        let quant = match format {
            Format::SparseQuant { quant, .. } => Some(quant.as_ref()),
            Format::Sparse(_) => None,
            f => Some(f),
        };
        if let Format::SparseQuant { .. } = format {
            h.pruned = x
                .iter()
                .zip(q)
                .filter(|(a, b)| **b == 0.0 && **a != 0.0)
                .count() as u64;
        }
        if let Some(f @ (Format::Grid(_) | Format::Int(_) | Format::Quest(_))) = quant {
            let e = f.encode(x, cols)?;
            let codes = pack::unpack(&e.codes, e.code_bits, e.len())?;
            h.codes = vec![0; 1 << e.code_bits];
            for c in codes {
                h.codes[c as usize] += 1;
            }
            if let Format::Grid(g) = f
                && g.grids().len() > 1
            {
                h.selectors = vec![0; g.grids().len()];
                for k in g.selectors(&e) {
                    h.selectors[k] += 1;
                }
            }
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_codes_selectors_and_error() {
        // Two NVFP4 blocks: one exact E2M1 multiple, one with a value to round.
        let mut x: Vec<f32> = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]
            .iter()
            .flat_map(|&v| [v, -v])
            .collect();
        x.extend((0..16).map(|i| i as f32 * 0.37 - 2.0));
        let f = Format::parse("nvfp4").unwrap();
        let h = QuantHealth::measure(&x, 32, &f).unwrap();
        assert_eq!(h.values, 32);
        assert_eq!(h.codes.len(), 16);
        assert_eq!(h.codes.iter().sum::<u64>(), 32);
        assert!(h.selectors.is_empty());
        let mut q = x.clone();
        f.fake_quant(&mut q, 32).unwrap();
        let err: f64 = x
            .iter()
            .zip(&q)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum();
        let r: f64 = x.iter().map(|a| (*a as f64).powi(2)).sum();
        assert!((h.relative_mse() - err / r).abs() < 1e-15);
        // Multi-grid: one selector per block.
        let p = Format::parse("po2-nf4").unwrap();
        let hp = QuantHealth::measure(&x, 32, &p).unwrap();
        assert_eq!(hp.selectors.len(), 2);
        assert_eq!(hp.selectors.iter().sum::<u64>(), 2);
        // Merge adds.
        let mut m = h.clone();
        m.merge(&h);
        assert_eq!(m.values, 64);
        assert_eq!(m.codes.iter().sum::<u64>(), 64);
    }

    #[test]
    fn floor_scales_clip_the_block_maximum() {
        // MX FLOOR: amax = 7·2^k maps to scale 2^(k−2)·… so 7 > 6·scale saturates.
        let mut x = vec![0.1f32; 32];
        x[0] = 7.0;
        let h = QuantHealth::measure(&x, 32, &Format::parse("mxfp4").unwrap()).unwrap();
        assert_eq!(h.clipped, 1, "{h:?}");
        let h = QuantHealth::measure(&x, 32, &Format::parse("int8").unwrap()).unwrap();
        assert_eq!(h.clipped, 0);
    }

    #[test]
    fn sparsity_counts_pruned_values() {
        let x: Vec<f32> = (1..=32).map(|i| i as f32).collect();
        let h = QuantHealth::measure(&x, 32, &Format::parse("2of4").unwrap()).unwrap();
        assert_eq!(h.pruned, 16);
        assert!(h.codes.is_empty());
        let h = QuantHealth::measure(&x, 32, &Format::parse("2of4+int4").unwrap()).unwrap();
        assert!(h.pruned >= 16);
        assert_eq!(h.codes.len(), 16);
    }
}
