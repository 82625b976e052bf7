//! FP4 E2M1 (OCP MX v1.0 `fp4_e2m1`): 1 sign bit, 2 exponent bits (bias 1), 1 mantissa bit,
//! no Inf/NaN. Casts round to nearest, ties to even, and saturate to ±6 (ml_dtypes, TE, torchao);
//! a negative value that rounds to zero keeps its sign (code 0x8 = −0).

/// Value of each 4-bit code; bit 3 is the sign.
pub const E2M1_VALUES: [f32; 16] = [
    0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0,
];

/// Largest magnitude of E2M1.
pub const E2M1_MAX: f32 = 6.0;

/// Decodes a 4-bit E2M1 code (the high bits are ignored).
#[inline]
pub fn e2m1_to_f32(code: u8) -> f32 {
    E2M1_VALUES[(code & 0xF) as usize]
}

/// Fast RNE + saturating cast of a finite `x` to an E2M1 code.
///
/// The magnitude code equals the number of decision boundaries below |x|: the boundaries
/// where the tie goes *down* (to the even code below) are strict, the others inclusive.
#[inline(always)]
pub fn f32_to_e2m1(x: f32) -> u8 {
    let a = x.abs();
    let m = (a > 0.25) as u8
        + (a >= 0.75) as u8
        + (a > 1.25) as u8
        + (a >= 1.75) as u8
        + (a > 2.5) as u8
        + (a >= 3.5) as u8
        + (a > 5.0) as u8;
    m | (((x.to_bits() >> 31) as u8) << 3)
}

/// Reference cast: nearest of the 8 magnitudes by exact f64 distance, ties to the even code,
/// values beyond 6 saturate, sign copied from the input.
pub fn f32_to_e2m1_reference(x: f32) -> u8 {
    let a = (x as f64).abs().min(6.0);
    let mut best = 0u8;
    let mut best_d = f64::INFINITY;
    for code in 0..8u8 {
        let d = (a - E2M1_VALUES[code as usize] as f64).abs();
        if d < best_d || (d == best_d && code % 2 == 0) {
            best = code;
            best_d = d;
        }
    }
    best | if x.is_sign_negative() { 8 } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_follow_the_spec() {
        // Spec §1.1: 0.25→0, 0.75→1, 1.25→1, 1.75→2, 2.5→2, 3.5→4, 5→4, >5→6, −0.1→−0.
        let cases = [
            (0.25, 0.0),
            (0.75, 1.0),
            (1.25, 1.0),
            (1.75, 2.0),
            (2.5, 2.0),
            (3.5, 4.0),
            (5.0, 4.0),
            (5.0001, 6.0),
            (100.0, 6.0),
        ];
        for (x, v) in cases {
            assert_eq!(e2m1_to_f32(f32_to_e2m1(x)), v, "x = {x}");
            assert_eq!(e2m1_to_f32(f32_to_e2m1(-x)), -v, "x = -{x}");
            assert_eq!(f32_to_e2m1(x), f32_to_e2m1_reference(x));
        }
        assert_eq!(f32_to_e2m1(-0.1), 8);
        assert_eq!(f32_to_e2m1(-0.0), 8);
    }

    #[test]
    fn fast_equals_reference_on_a_dense_sweep() {
        let mut x = 0.0f32;
        while x < 8.0 {
            for v in [x, -x] {
                assert_eq!(f32_to_e2m1(v), f32_to_e2m1_reference(v), "x = {v}");
            }
            x = f32::from_bits(x.to_bits() + 997);
        }
    }
}
