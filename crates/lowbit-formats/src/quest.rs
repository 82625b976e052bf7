//! QuEST's RMS-clipped uniform grid (Panferov et al., "QuEST: Stable Training of LLMs with 1-Bit
//! Weights and Activations", ICML 2025; IST-DASLab/QuEST `src/models/quantization/base_linear.py`,
//! `STEQuantizer` / `TrustQuantizer` with `centered=True`): n = 2^b levels ±step/2, ±3·step/2, …,
//! ±scale with no zero level, `scale = α_b·rms + 1e−8`, α_b the Gaussian-MSE-optimal clip in RMS
//! units. Statistics over the whole row (QuEST's `dim=-1`) or over blocks of G values.
//! Exact operation order: FORMATS.md "QuEST RMS-clipped grid".

use crate::tensor::{Encoded, PAR_CHUNK, validate};
use crate::{FormatError, pack};
use rayon::prelude::*;

/// QuEST's `OPTIMAL_GAUSSIAN_SCALES` for b = 1..=8 bits (the MSE-optimal clip of a uniform
/// b-bit grid on N(0, 1), in RMS units).
pub const OPTIMAL_GAUSSIAN_SCALES: [f64; 8] = [
    0.7978845587140913,
    1.4935346200015913,
    2.051068354131873,
    2.513930578568423,
    2.9160938834961225,
    3.276597282593217,
    3.6010497188221655,
    3.884938678807525,
];

/// A QuEST `quest-intB` format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuestFormat {
    /// Bits per value (1..=8).
    pub(crate) bits: u32,
    /// Values per statistics block; `None` = the whole row.
    pub(crate) block: Option<usize>,
}

/// The statistics of one block: its RMS, the clip `scale` (the top level) and the grid `step`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuestBlock {
    /// `f32(sqrt(Σ x² / G))`, the sum in f64.
    pub rms: f32,
    /// `α_b · rms + 1e−8`.
    pub scale: f32,
    /// `2 · scale / (2^b − 1)`.
    pub step: f32,
}

impl QuestFormat {
    /// Builds a format of `bits` bits with row statistics (`block = None`) or blocks of `block`.
    pub fn new(bits: u32, block: Option<usize>) -> Result<Self, FormatError> {
        let f = Self { bits, block };
        if !(1..=8).contains(&bits) {
            return Err(FormatError::InvalidParameter {
                format: f.name(),
                reason: format!("bits must be in 1..=8, got {bits}"),
            });
        }
        if let Some(b) = block
            && !(2..=1 << 20).contains(&b)
        {
            return Err(FormatError::InvalidParameter {
                format: f.name(),
                reason: format!("block must be in 2..=1048576, got {b}"),
            });
        }
        Ok(f)
    }

    /// Bits per value.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// Values per statistics block (`None` = the whole row).
    pub fn block(&self) -> Option<usize> {
        self.block
    }

    /// Canonical name, e.g. `quest-int4`, `quest-int4:block=128`.
    pub fn name(&self) -> String {
        match self.block {
            None => format!("quest-int{}", self.bits),
            Some(b) => format!("quest-int{}:block={b}", self.bits),
        }
    }

    /// α_b as f32.
    pub fn alpha(&self) -> f32 {
        OPTIMAL_GAUSSIAN_SCALES[self.bits as usize - 1] as f32
    }

    /// QuEST's default trust factor `α_b / (2^b − 1)` in RMS units (= half a step), as f32.
    pub fn default_trust(&self) -> f32 {
        (OPTIMAL_GAUSSIAN_SCALES[self.bits as usize - 1] / (self.n() - 1.0)) as f32
    }

    /// Code bits + one f32 scale per block; with row statistics the per-row scale is amortised
    /// over the row (like NVFP4's tensor scale) and not counted.
    pub fn bits_per_value(&self) -> f64 {
        self.bits as f64 + self.block.map_or(0.0, |b| 32.0 / b as f64)
    }

    /// Values per block for rows of `cols`.
    pub fn block_len(&self, cols: usize) -> usize {
        self.block.unwrap_or(cols)
    }

    /// Number of levels 2^b as f32 (exact).
    fn n(&self) -> f64 {
        (1u32 << self.bits) as f64
    }

    /// The statistics of one block (FORMATS.md order).
    pub fn block_stats(&self, xb: &[f32]) -> QuestBlock {
        let ss: f64 = xb.iter().map(|&v| (v as f64) * (v as f64)).sum();
        let rms = (ss / xb.len() as f64).sqrt() as f32;
        self.stats_from_rms(rms)
    }

    fn stats_from_rms(&self, rms: f32) -> QuestBlock {
        let scale = self.alpha() * rms + 1e-8f32;
        QuestBlock {
            rms,
            scale,
            step: self.step_of(scale),
        }
    }

    pub(crate) fn step_of(&self, scale: f32) -> f32 {
        (2.0 * scale) / (self.n() as f32 - 1.0)
    }

    /// Level index k in [1 − n/2, n/2].
    #[inline(always)]
    fn k(&self, p: &QuestBlock, v: f32) -> f32 {
        let half = (1u32 << (self.bits - 1)) as f32;
        let xc = v.max(-p.scale).min(p.scale);
        (xc / p.step + 0.5)
            .round_ties_even()
            .clamp(1.0 - half, half)
    }

    #[inline(always)]
    fn value(step: f32, k: f32) -> f32 {
        k * step - step * 0.5
    }

    /// Statistics of every block of a `[len / cols, cols]` tensor, block after block.
    pub fn stats(&self, x: &[f32], cols: usize) -> Result<Vec<QuestBlock>, FormatError> {
        let g = self.block_len(cols);
        validate(x, cols, g, &self.name())?;
        Ok(x.par_chunks(g).map(|b| self.block_stats(b)).collect())
    }

    /// Encodes: codes `k + n/2 − 1` of b bits, one f32 `scale` per block.
    pub fn encode(&self, x: &[f32], cols: usize) -> Result<Encoded, FormatError> {
        let g = self.block_len(cols);
        let rows = validate(x, cols, g, &self.name())?;
        let half = (1u32 << (self.bits - 1)) as f32;
        let mut codes = vec![0u8; x.len()];
        let mut scales = vec![0u8; x.len() / g * 4];
        x.par_chunks(g)
            .zip(codes.par_chunks_mut(g))
            .zip(scales.par_chunks_mut(4))
            .for_each(|((xb, cb), sb)| {
                let p = self.block_stats(xb);
                for (c, &v) in cb.iter_mut().zip(xb) {
                    *c = (self.k(&p, v) + half - 1.0) as u8;
                }
                sb.copy_from_slice(&p.scale.to_le_bytes());
            });
        Ok(Encoded {
            format: self.name(),
            rows,
            cols,
            code_bits: self.bits,
            codes: pack::pack(&codes, self.bits),
            scales,
            tensor_scale: None,
            mask: None,
        })
    }

    /// Decodes an encoding of this format.
    pub fn decode(&self, e: &Encoded) -> Result<Vec<f32>, FormatError> {
        let n = e.len();
        let g = self.block_len(e.cols);
        if g == 0 || e.cols % g != 0 || e.scales.len() != n / g * 4 {
            return Err(FormatError::CorruptEncoding {
                format: self.name(),
                reason: format!(
                    "expected {} scale bytes for {n} values, found {}",
                    n.checked_div(g).unwrap_or(0) * 4,
                    e.scales.len()
                ),
            });
        }
        let codes = pack::unpack(&e.codes, self.bits, n)?;
        let half = (1u32 << (self.bits - 1)) as f32;
        let mut out = vec![0f32; n];
        for ((ob, cb), sb) in out
            .chunks_mut(g)
            .zip(codes.chunks(g))
            .zip(e.scales.chunks(4))
        {
            let scale = f32::from_le_bytes([sb[0], sb[1], sb[2], sb[3]]);
            let step = self.step_of(scale);
            for (o, &c) in ob.iter_mut().zip(cb) {
                *o = Self::value(step, c as f32 - half + 1.0);
            }
        }
        Ok(out)
    }

    /// Fast in-place fake quantization.
    pub fn fake_quant(&self, x: &mut [f32], cols: usize) -> Result<(), FormatError> {
        let g = self.block_len(cols);
        validate(x, cols, g, &self.name())?;
        // Whole blocks per work item: rows can be long (row statistics), so never split a block.
        let chunk = PAR_CHUNK.div_ceil(g) * g;
        x.par_chunks_mut(chunk).for_each(|xc| {
            for xb in xc.chunks_mut(g) {
                let p = self.block_stats(xb);
                for v in xb.iter_mut() {
                    *v = Self::value(p.step, self.k(&p, *v));
                }
            }
        });
        Ok(())
    }

    /// Reference fake quantization: a scalar loop written from FORMATS.md's formulas.
    pub fn fake_quant_reference(&self, x: &mut [f32], cols: usize) -> Result<(), FormatError> {
        let g = self.block_len(cols);
        validate(x, cols, g, &self.name())?;
        let n = 2u32.pow(self.bits) as f32;
        let alpha = OPTIMAL_GAUSSIAN_SCALES[self.bits as usize - 1] as f32;
        for block in x.chunks_mut(g) {
            let mut ss = 0.0f64;
            for &v in block.iter() {
                ss += v as f64 * v as f64;
            }
            let rms = (ss / g as f64).sqrt() as f32;
            let scale = alpha * rms + 1e-8f32;
            let step = (2.0 * scale) / (n - 1.0);
            for v in block.iter_mut() {
                let xc = if *v < -scale {
                    -scale
                } else if *v > scale {
                    scale
                } else {
                    *v
                };
                let k = (xc / step + 0.5)
                    .round_ties_even()
                    .max(1.0 - n / 2.0)
                    .min(n / 2.0);
                *v = k * step - step * 0.5;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_centred_without_zero() {
        let f = QuestFormat::new(2, None).unwrap();
        let x = [0.1f32, -0.2, 0.15, 5.0, -0.1, 0.05, 0.3, -0.25];
        let mut q = x;
        f.fake_quant(&mut q, 8).unwrap();
        let p = f.block_stats(&x);
        let mut levels: Vec<f32> = q.to_vec();
        levels.sort_by(f32::total_cmp);
        levels.dedup();
        for l in &levels {
            assert!(*l != 0.0);
            let k = (l / p.step + 0.5).round();
            assert!((l - (k * p.step - p.step * 0.5)).abs() <= 1e-6 * p.step);
        }
        assert!(q.iter().all(|v| v.abs() <= p.scale * (1.0 + 1e-6)));
        let mut r = x;
        f.fake_quant_reference(&mut r, 8).unwrap();
        assert_eq!(q.map(f32::to_bits), r.map(f32::to_bits));
        let e = f.encode(&x, 8).unwrap();
        let d = f.decode(&e).unwrap();
        assert_eq!(
            d.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            q.map(f32::to_bits)
        );
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(QuestFormat::new(0, None).is_err());
        assert!(QuestFormat::new(9, None).is_err());
        assert!(QuestFormat::new(4, Some(1)).is_err());
        let f = QuestFormat::new(4, Some(16)).unwrap();
        assert!(f.fake_quant(&mut [0.0; 24], 24).is_err());
        assert!(f.fake_quant(&mut [f32::NAN; 16], 16).is_err());
    }
}
