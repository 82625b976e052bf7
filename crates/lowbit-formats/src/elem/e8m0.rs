//! E8M0 (`float8_e8m0fnu`), the OCP MX shared scale: byte b ↦ 2^(b−127), 0xFF = NaN, no zero.
//!
//! Exponents are always read from the f32 bit pattern: a float `log2` is inexact next to powers
//! of two and ml_dtypes' cast rounds in the linear domain (spec §1.3), both wrong for MX scales.

/// How the shared exponent of an MX block is chosen (torchao `ScaleCalculationMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MxRounding {
    /// OCP MX v1.0 §6.3: `floor(log2 amax) − emax_elem`; values in (6X, 8X) clip to 6X.
    Floor,
    /// cuBLAS / Blackwell `cvt.rp.ue8m0`: `ceil(log2(amax / max_elem))`; never clips.
    Rceil,
    /// torchao EVEN: round amax's mantissa to 1 bit, then FLOOR.
    Even,
}

/// floor(log2 |x|) from the bit pattern; 0 and subnormals give a value ≤ −127 (exact for
/// subnormals, −127 − 23 … for the smallest).
#[inline]
pub fn floor_log2(x: f32) -> i32 {
    let bits = x.to_bits() & 0x7FFF_FFFF;
    let exp = (bits >> 23) as i32;
    if exp != 0 {
        exp - 127
    } else if bits == 0 {
        i32::MIN / 2
    } else {
        // Subnormal: value = m · 2^-149.
        -149 + (31 - bits.leading_zeros() as i32)
    }
}

/// ceil(log2 |x|) from the bit pattern (exact); 0 gives a value ≤ −127.
#[inline]
pub fn ceil_log2(x: f32) -> i32 {
    let bits = x.to_bits() & 0x7FFF_FFFF;
    let exp = (bits >> 23) as i32;
    let mant = bits & 0x7F_FFFF;
    if exp != 0 {
        exp - 127 + (mant != 0) as i32
    } else if bits == 0 {
        i32::MIN / 2
    } else {
        -149 + (32 - (bits - 1).leading_zeros() as i32)
    }
}

/// Shared exponent of a block with absolute maximum `amax` (finite, ≥ 0) for an element type
/// whose largest value is `elem_max` (6 for E2M1), clamped to [−127, 127].
#[inline]
pub fn shared_exponent(amax: f32, elem_max: f32, rounding: MxRounding) -> i32 {
    let emax_elem = floor_log2(elem_max);
    let e = match rounding {
        MxRounding::Floor => floor_log2(amax).saturating_sub(emax_elem),
        MxRounding::Even => {
            let rounded = f32::from_bits((amax.to_bits() + (1 << 21)) & 0xFF80_0000);
            floor_log2(rounded).saturating_sub(emax_elem)
        }
        MxRounding::Rceil => ceil_log2(amax / elem_max),
    };
    e.clamp(-127, 127)
}

/// The E8M0 byte of a shared exponent in [−127, 127].
#[inline]
pub fn exponent_to_byte(e: i32) -> u8 {
    (e + 127) as u8
}

/// Decodes an E8M0 byte to 2^(b−127) (exact, subnormal f32 for b = 0); 0xFF is NaN.
#[inline]
pub fn e8m0_to_f32(byte: u8) -> f32 {
    if byte == 0xFF {
        return f32::NAN;
    }
    pow2(byte as i32 - 127)
}

/// Exact 2^e for e in [−149, 127].
#[inline]
pub fn pow2(e: i32) -> f32 {
    if e >= -126 {
        f32::from_bits(((e + 127) as u32) << 23)
    } else {
        f32::from_bits(1u32 << (e + 149))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_scales() {
        // Spec §2 worked example: amax 7.5 → FLOOR byte 0x7F, RCEIL 0x80, EVEN 0x80.
        assert_eq!(
            exponent_to_byte(shared_exponent(7.5, 6.0, MxRounding::Floor)),
            0x7F
        );
        assert_eq!(
            exponent_to_byte(shared_exponent(7.5, 6.0, MxRounding::Rceil)),
            0x80
        );
        assert_eq!(
            exponent_to_byte(shared_exponent(7.5, 6.0, MxRounding::Even)),
            0x80
        );
        // amax = 0 → byte 0x00 for every rule.
        for r in [MxRounding::Floor, MxRounding::Rceil, MxRounding::Even] {
            assert_eq!(shared_exponent(0.0, 6.0, r), -127);
        }
        assert_eq!(e8m0_to_f32(0x7F), 1.0);
        assert_eq!(e8m0_to_f32(0x00), 2f32.powi(-127));
    }

    #[test]
    fn log2_from_bits_is_exact() {
        for e in -149..=127 {
            let p = pow2(e);
            assert_eq!(floor_log2(p), e);
            assert_eq!(ceil_log2(p), e);
            let up = f32::from_bits(p.to_bits() + 1);
            if up.is_finite() && e > -149 {
                assert_eq!(floor_log2(up), e);
                assert_eq!(ceil_log2(up), e + 1);
            }
        }
    }
}
