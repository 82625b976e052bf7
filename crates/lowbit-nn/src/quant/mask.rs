//! Gradient masks of the masking estimators, from what the quantizer actually did.
//!
//! The rule (lowbit's definition, DESIGN.md "Layers"; recipes/README.md "Estimators"): each value
//! x is quantized to x̂ inside its block, whose *actual* stored scale and selected grid give x's
//! rounding cell ([`lowbit_formats::Cells`]): the half-width `tol` of the cell on x's side of x̂,
//! and the block's lowest and highest representable values `lo`, `hi`.
//! * **Trust** (QuEST, Panferov et al. 2025 §3, `TrustQuantizer`): gradient 1 iff
//!   |x̂ − x| ≤ factor · tol. On QuEST's own grid (`quest-intB`) `tol` = trust·rms with
//!   trust = α_b/(2^b − 1), exactly QuEST's mask (`factor` multiplies QuEST's trust). On any other
//!   grid `tol` is half the local level gap, so at factor 1 every value rounded inside its cell
//!   keeps its gradient and only values clipped beyond the outermost level by more than that
//!   level's half-gap lose it. Absmax formats never clip, so there trust (factor ≥ 1) = STE.
//! * **Clipped STE** (QuEST `ClipQuantizer`; PACT-style): gradient 1 iff
//!   clip · lo ≤ x ≤ clip · hi — only values the block's grid cannot reach are masked
//!   (`lo`, `hi` = ∓scale on QuEST's grid).
//!
//! Masks are computed on the host from the same lowbit-formats call that quantizes, so x̂ here
//! is bit-equal to [`fake_quant`](crate::quant::fake::fake_quant) and the mask is exact on every
//! backend (GPU backends pay one round trip; the fused device kernels are a later step).

use burn::tensor::{Tensor, TensorData};
use lowbit_formats::{Format, FormatError};

use crate::NnError;

/// Which masking rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaskRule {
    /// Keep iff |x̂ − x| ≤ factor · tol.
    Trust(f32),
    /// Keep iff clip · lo ≤ x ≤ clip · hi.
    Clip(f32),
}

/// Quantizes `x` along its last dimension and returns `(x̂, mask)` with the mask of `rule`
/// (1 = the gradient passes), both detached.
///
/// # Shapes
/// `x`: `[..., cols]`; outputs: the same shape.
///
/// # Errors
/// [`NnError::NonFinite`] for NaN/Inf input, [`NnError::BlockMismatch`] / [`NnError::Empty`] for
/// bad shapes, or the format's own error.
pub fn quantize_with_mask<const D: usize>(
    x: Tensor<D>,
    format: &Format,
    rule: MaskRule,
) -> Result<(Tensor<D>, Tensor<D>), NnError> {
    let dims = x.dims();
    let cols = *dims.last().unwrap_or(&0);
    if cols == 0 || dims.contains(&0) {
        return Err(NnError::Empty {
            shape: dims.to_vec(),
        });
    }
    let block = format.block_size();
    if cols % block != 0 {
        return Err(NnError::BlockMismatch { cols, block });
    }
    let device = x.device();
    let v: Vec<f32> = x
        .detach()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| NnError::TensorData {
            what: "quantizer input".into(),
            reason: format!("{e:?}"),
        })?;
    let c = format.cells(&v, cols).map_err(|e| match e {
        FormatError::NonFinite { .. } => NnError::NonFinite,
        other => NnError::Format(other),
    })?;
    let mask: Vec<f32> = match rule {
        MaskRule::Trust(f) => v
            .iter()
            .zip(&c.q)
            .zip(&c.tol)
            .map(|((&x, &q), &t)| ((q - x).abs() <= f * t) as u8 as f32)
            .collect(),
        MaskRule::Clip(k) => v
            .iter()
            .zip(&c.lo)
            .zip(&c.hi)
            .map(|((&x, &lo), &hi)| (k * lo <= x && x <= k * hi) as u8 as f32)
            .collect(),
    };
    let q = Tensor::from_data(TensorData::new(c.q, dims), &device);
    let m = Tensor::from_data(TensorData::new(mask, dims), &device);
    Ok((q, m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::hadamard::block_hadamard;
    use burn::tensor::Device;

    fn vals<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    }

    fn t1(v: &[f32]) -> Tensor<1> {
        Tensor::<1>::from_floats(v, &Device::flex())
    }

    fn close(got: &[f32], want: &[f32], tol: f32) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= tol, "{got:?} vs {want:?}");
        }
    }

    /// The spec's worked example (shared/specs/algorithms.md §2, b = 2): the outlier 5.0 is
    /// clipped to the top level and is the only value whose gradient the trust mask removes.
    #[test]
    fn quest_worked_example_b2_trust() {
        let f = Format::parse("quest-int2").unwrap();
        let x = [0.1f32, -0.2, 0.15, 5.0, -0.1, 0.05, 0.3, -0.25];
        let (q, m) = quantize_with_mask(t1(&x), &f, MaskRule::Trust(1.0)).unwrap();
        let (a, b) = (0.884244f32, 2.652733f32);
        close(&vals(q), &[a, -a, a, b, -a, a, a, -a], 1e-5);
        assert_eq!(vals(m), [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
        // Clipped STE (QuEST ClipQuantizer): keep |x| ≤ scale (= b, the top level).
        let (_, m) = quantize_with_mask(t1(&x), &f, MaskRule::Clip(1.0)).unwrap();
        assert_eq!(vals(m), [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
    }

    /// The spec's worked example with a block-8 Hadamard rotation first (b = 4).
    #[test]
    fn quest_worked_example_b4_hadamard() {
        let x = t1(&[0.1f32, -0.7, 2.5, 0.03, -1.2, 0.45, 3.3, -0.05]);
        let xh = block_hadamard(x, 8).unwrap();
        close(
            &vals(xh.clone()),
            &[
                1.566242, 1.75716, -2.520836, -2.358201, -0.201525, 0.555079, 0.307591, 1.177333,
            ],
            1e-5,
        );
        let f = Format::parse("quest-int4").unwrap();
        let (q, m) = quantize_with_mask(xh, &f, MaskRule::Trust(1.0)).unwrap();
        close(
            &vals(q),
            &[
                1.821525, 1.821525, -2.34196, -2.34196, -0.260218, 0.780653, 0.260218, 1.301089,
            ],
            1e-5,
        );
        assert_eq!(vals(m), [1.0; 8]);
    }

    /// Hand-derivable E2M1 case (nvfp4, one block whose amax is 6, so its actual scale is 1 and
    /// the levels are E2M1's own): 4.9 rounds to 4 with error 0.9 — inside the 4…6 cell
    /// (half-gap 1), so trust keeps it (the old max|x̂|/6 step rule masked it); 6 is the top
    /// level; nothing is clipped, so clipped STE keeps everything too.
    #[test]
    fn e2m1_trust_uses_the_local_gap() {
        let f = Format::parse("nvfp4").unwrap();
        let mut x = [0.0f32; 16];
        x[..4].copy_from_slice(&[4.9, 6.0, -5.4, 0.2]);
        let (_, m) = quantize_with_mask(t1(&x), &f, MaskRule::Trust(1.0)).unwrap();
        assert_eq!(vals(m), [1.0; 16]);
        // factor ½: keep iff the error is at most a quarter of the local gap (0.2 → 0 errs by
        // 0.2 > ¼ · ½).
        let (_, m) = quantize_with_mask(t1(&x), &f, MaskRule::Trust(0.5)).unwrap();
        let m = vals(m);
        assert_eq!(&m[..4], &[0.0, 1.0, 0.0, 0.0]);
        let (_, m) = quantize_with_mask(t1(&x), &f, MaskRule::Clip(1.0)).unwrap();
        assert_eq!(vals(m), [1.0; 16]);
    }

    /// MXFP4 FLOOR: amax 7.5 in a block gets the scale 2^(2−2) = 1, so 7.5 saturates to 6 —
    /// clipped by 1.5, more than the top cell's half-gap 1: both estimators mask it. amax 4.9
    /// (scale 1, top level 6 unreached): the old rule took max|x̂| = 4 as the range and masked
    /// 4.9 under clipped STE; the block can represent up to 6, so it now passes.
    #[test]
    fn mxfp4_floor_masks_only_values_beyond_the_grid() {
        let f = Format::parse("mxfp4").unwrap();
        let mut x = [0.0f32; 64];
        x[0] = 7.5;
        x[1] = 1.0;
        x[32] = 4.9;
        x[33] = -1.0;
        for rule in [MaskRule::Trust(1.0), MaskRule::Clip(1.0)] {
            let (q, m) = quantize_with_mask(t1(&x), &f, rule).unwrap();
            let (q, m) = (vals(q), vals(m));
            assert_eq!((q[0], q[32]), (6.0, 4.0));
            assert_eq!((m[0], m[1], m[32], m[33]), (0.0, 1.0, 1.0, 1.0), "{rule:?}");
        }
    }

    /// Absmax INT clips nothing: trust at factor 1 and clipped STE keep every gradient; a factor
    /// below 1 masks the values rounded by more than factor · step/2.
    #[test]
    fn absmax_int_never_clips() {
        let f = Format::parse("int4").unwrap();
        let x: Vec<f32> = (0..32).map(|i| (i as f32 - 10.0) * 0.37).collect();
        for rule in [MaskRule::Trust(1.0), MaskRule::Clip(1.0)] {
            let (_, m) = quantize_with_mask(t1(&x), &f, rule).unwrap();
            assert!(vals(m).iter().all(|&v| v == 1.0), "{rule:?}");
        }
        let (q, m) = quantize_with_mask(t1(&x), &f, MaskRule::Trust(0.5)).unwrap();
        let (q, m) = (vals(q), vals(m));
        let step = (21.0f32 * 0.37) / 7.0;
        for i in 0..32 {
            assert_eq!(m[i], ((q[i] - x[i]).abs() <= 0.5 * step * 0.5) as u8 as f32);
        }
        assert!(m.contains(&0.0) && m.contains(&1.0));
    }

    #[test]
    fn non_finite_and_bad_shapes_are_errors() {
        let f = Format::parse("nvfp4").unwrap();
        let mut x = [0.0f32; 16];
        x[3] = f32::NAN;
        assert!(matches!(
            quantize_with_mask(t1(&x), &f, MaskRule::Trust(1.0)),
            Err(NnError::NonFinite)
        ));
        assert!(matches!(
            quantize_with_mask(t1(&[0.0; 8]), &f, MaskRule::Trust(1.0)),
            Err(NnError::BlockMismatch { .. })
        ));
    }
}
