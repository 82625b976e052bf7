//! Dequantization of ggml tensor data to f32, bit-identical to ggml's reference
//! `dequantize_row_*` (ggml/src/ggml-quants.c) and to gguf-py's `gguf.quants.dequantize`.
//!
//! Each block type is read from a fixed-size byte array laid out as its `block_*` struct in
//! ggml/src/ggml-common.h (all fields little-endian, `ggml_half` = IEEE f16). Scales are
//! converted f16 → f32 exactly, and every product and sum is an f32 operation in ggml's order
//! (e.g. Q4_1 is `(q · d) + m`, Q6_K `(d · scale) · q`), with no fused multiply-add, so the
//! results match the reference bit for bit.

mod kquants;
mod legacy;

use crate::GgmlType;

/// A block decoder: one `block_*` (as bytes) → its `N` values.
type BlockFn<const B: usize, const N: usize> = fn(&[u8; B], &mut [f32; N]);

/// Decodes `data` block by block with `f`. `None` if `data` is not exactly `n / N` blocks.
fn blocks<const B: usize, const N: usize>(
    data: &[u8],
    n: usize,
    f: BlockFn<B, N>,
) -> Option<Vec<f32>> {
    if n % N != 0 || data.len() != (n / N).checked_mul(B)? {
        return None;
    }
    let mut out = vec![0f32; n];
    for (src, dst) in data.chunks_exact(B).zip(out.chunks_exact_mut(N)) {
        let src: &[u8; B] = src.try_into().ok()?;
        let dst: &mut [f32; N] = dst.try_into().ok()?;
        f(src, dst);
    }
    Some(out)
}

/// An f16 stored little-endian at `b[i..i + 2]`, as f32 (exact).
#[inline]
pub(crate) fn f16_at<const B: usize>(b: &[u8; B], i: usize) -> f32 {
    let lo = b.get(i).copied().unwrap_or(0);
    let hi = b.get(i + 1).copied().unwrap_or(0);
    half::f16::from_bits(u16::from_le_bytes([lo, hi])).to_f32()
}

/// Dequantizes `n` elements of type `ty` stored in `data`.
///
/// Returns `None` if the type is not supported (see [`GgmlType::can_dequantize`]) or `data` is
/// not exactly the size `n` elements of `ty` take.
pub fn dequantize(ty: GgmlType, data: &[u8], n: usize) -> Option<Vec<f32>> {
    use GgmlType::*;
    match ty {
        F32 => blocks::<4, 1>(data, n, |b, y| y[0] = f32::from_le_bytes(*b)),
        F16 => blocks::<2, 1>(data, n, |b, y| y[0] = f16_at(b, 0)),
        // bf16 is the top half of an f32 (ggml_bf16_to_fp32: bits << 16), NaNs included.
        BF16 => blocks::<2, 1>(data, n, |b, y| {
            y[0] = f32::from_bits(u32::from(u16::from_le_bytes(*b)) << 16)
        }),
        Q4_0 => blocks(data, n, legacy::q4_0),
        Q4_1 => blocks(data, n, legacy::q4_1),
        Q5_0 => blocks(data, n, legacy::q5_0),
        Q5_1 => blocks(data, n, legacy::q5_1),
        Q8_0 => blocks(data, n, legacy::q8_0),
        Q2_K => blocks(data, n, kquants::q2_k),
        Q3_K => blocks(data, n, kquants::q3_k),
        Q4_K => blocks(data, n, kquants::q4_k),
        Q5_K => blocks(data, n, kquants::q5_k),
        Q6_K => blocks(data, n, kquants::q6_k),
        Q8_K => blocks(data, n, kquants::q8_k),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_mismatch_and_unsupported_are_none() {
        assert!(dequantize(GgmlType::Q8_0, &[0u8; 33], 32).is_none());
        assert!(dequantize(GgmlType::Q8_0, &[0u8; 34], 31).is_none());
        assert!(dequantize(GgmlType::IQ2_XXS, &[0u8; 66], 256).is_none());
        assert_eq!(
            dequantize(GgmlType::F32, &1.5f32.to_le_bytes(), 1),
            Some(vec![1.5])
        );
    }

    #[test]
    fn q8_k_by_hand() {
        // gguf-py has no Q8_K dequantizer, so this one is checked by hand: f32 d, i8 qs.
        let mut b = [0u8; 292];
        b[0..4].copy_from_slice(&0.25f32.to_le_bytes());
        b[4] = (-128i8) as u8;
        b[259] = 5;
        b[260..].fill(0xFF); // bsums: ignored by dequantization
        let y = dequantize(GgmlType::Q8_K, &b, 256).unwrap();
        assert_eq!((y[0], y[1], y[255]), (-32.0, 0.0, 1.25));
    }

    #[test]
    fn q8_0_by_hand() {
        // d = 0.5 (f16 0x3800), qs = -3, 0, 127, 0...
        let mut b = [0u8; 34];
        b[0..2].copy_from_slice(&0x3800u16.to_le_bytes());
        b[2] = (-3i8) as u8;
        b[4] = 127;
        let y = dequantize(GgmlType::Q8_0, &b, 32).unwrap();
        assert_eq!(&y[..3], &[-1.5, 0.0, 63.5]);
    }
}
