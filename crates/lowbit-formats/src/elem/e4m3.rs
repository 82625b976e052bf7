//! FP8 E4M3 (`float8_e4m3fn`): bias 7, no Inf, NaN = 0x7F/0xFF, max 448.
//!
//! lowbit's cast **saturates**: values are clamped to ±448 before rounding, as TransformerEngine
//! and torchao do for NVFP4 block scales (a plain RNE cast maps ≥ 480 to NaN; spec §1.2).

/// Largest finite E4M3 magnitude.
pub const E4M3_MAX: f32 = 448.0;

/// Decodes an E4M3 byte; 0x7F and 0xFF are NaN.
#[inline]
pub fn e4m3_to_f32(byte: u8) -> f32 {
    let sign = if byte & 0x80 != 0 { -1.0f32 } else { 1.0 };
    let e = ((byte >> 3) & 0xF) as i32;
    let m = (byte & 0x7) as f32;
    if byte & 0x7F == 0x7F {
        return f32::NAN;
    }
    // Both branches are exact in f32: m/8 and powers of two.
    let mag = if e == 0 {
        m * (2.0f32).powi(-9)
    } else {
        (1.0 + m / 8.0) * (2.0f32).powi(e - 7)
    };
    sign * mag
}

/// Fast saturating RNE cast of a finite `x` to E4M3.
#[inline]
pub fn f32_to_e4m3(x: f32) -> u8 {
    let sign = ((x.to_bits() >> 31) as u8) << 7;
    let a = x.abs().min(E4M3_MAX);
    let code = if a < 0.015625 {
        // Subnormal range: values are m·2^-9; a·512 is exact, so RNE on it is the cast.
        // q = 8 lands on the smallest normal 2^-6, whose code is also 8.
        (a * 512.0).round_ties_even() as u8
    } else {
        // Normal range: round the f32 mantissa to 3 bits (RNE via the add-and-truncate trick),
        // a mantissa carry moves into the exponent as it should.
        let bits = a.to_bits();
        let lsb = (bits >> 20) & 1;
        let rounded = bits + 0x7FFFF + lsb;
        ((rounded >> 20) - ((127 - 7) << 3)) as u8
    };
    sign | code
}

/// Fast saturating cast to the coarser lattice of E4M3 values whose code is even (2 mantissa
/// bits), ties to the code ≡ 0 (mod 4). Used when the mantissa LSB carries a grid selector.
#[inline]
pub fn f32_to_e4m3_even_lattice(x: f32) -> u8 {
    let sign = ((x.to_bits() >> 31) as u8) << 7;
    let a = x.abs().min(E4M3_MAX);
    let code = if a < 0.015625 {
        ((a * 256.0).round_ties_even() as u8) << 1
    } else {
        let bits = a.to_bits();
        let lsb = (bits >> 21) & 1;
        let rounded = bits + 0xFFFFF + lsb;
        (((rounded >> 21) << 1) - ((127 - 7) << 3)) as u8
    };
    sign | code
}

/// Reference cast: clamp to ±448, then the nearest of the finite magnitudes accepted by
/// `allowed` (exact f64 distance), ties to the code preferred by `tie_key` (smaller key wins).
fn nearest_code(x: f32, allowed: impl Fn(u8) -> bool, tie_key: impl Fn(u8) -> u8) -> u8 {
    let a = (x.abs().min(E4M3_MAX)) as f64;
    let mut best = 0u8;
    let mut best_d = f64::INFINITY;
    for code in 0..=0x7Eu8 {
        if !allowed(code) {
            continue;
        }
        let d = (a - e4m3_to_f32(code) as f64).abs();
        if d < best_d || (d == best_d && tie_key(code) < tie_key(best)) {
            best = code;
            best_d = d;
        }
    }
    best | if x.is_sign_negative() { 0x80 } else { 0 }
}

/// Reference saturating RNE cast (ties to the even code).
pub fn f32_to_e4m3_reference(x: f32) -> u8 {
    nearest_code(x, |_| true, |c| c & 1)
}

/// Reference cast to the even-code lattice (ties to code ≡ 0 mod 4).
pub fn f32_to_e4m3_even_lattice_reference(x: f32) -> u8 {
    nearest_code(x, |c| c % 2 == 0, |c| (c >> 1) & 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_bytes() {
        // Spec §1.2: 448→0x7E, 256→0x78, 176→0x73, 160→0x72, 104→0x6D; 464 and 1e9 saturate.
        for (x, b) in [
            (448.0, 0x7E),
            (256.0, 0x78),
            (176.0, 0x73),
            (160.0, 0x72),
            (104.0, 0x6D),
            (464.0, 0x7E),
            (1e9, 0x7E),
        ] {
            assert_eq!(f32_to_e4m3(x), b, "x = {x}");
            assert_eq!(f32_to_e4m3_reference(x), b, "x = {x}");
        }
        assert_eq!(f32_to_e4m3(-0.0), 0x80);
        assert!(e4m3_to_f32(0x7F).is_nan());
    }

    #[test]
    fn fast_equals_reference_everywhere() {
        // Every midpoint between consecutive codes and its neighbours, plus a sweep.
        let mut xs = Vec::new();
        for c in 0..0x7Eu8 {
            let lo = e4m3_to_f32(c);
            let hi = e4m3_to_f32(c + 1);
            let mid = (lo + hi) / 2.0;
            xs.extend([lo, hi, mid, f32::from_bits(mid.to_bits() + 1)]);
            if mid > 0.0 {
                xs.push(f32::from_bits(mid.to_bits() - 1));
            }
        }
        let mut x = 1e-6f32;
        while x < 600.0 {
            xs.push(x);
            x *= 1.0007;
        }
        for &x in &xs {
            for v in [x, -x] {
                assert_eq!(f32_to_e4m3(v), f32_to_e4m3_reference(v), "x = {v}");
                assert_eq!(
                    f32_to_e4m3_even_lattice(v),
                    f32_to_e4m3_even_lattice_reference(v),
                    "x = {v}"
                );
            }
        }
    }
}
