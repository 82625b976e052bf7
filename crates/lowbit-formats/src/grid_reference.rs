//! The slow, obviously-correct twin of `grid_format.rs`: scalar loops, reference casts that
//! enumerate every representable value, f64 `log2` for MX exponents, no shared fast helpers.
//! Tests hold the fast path equal to this bit for bit.

use crate::FormatError;
use crate::elem::e4m3::{e4m3_to_f32, f32_to_e4m3_even_lattice_reference, f32_to_e4m3_reference};
use crate::elem::e8m0::MxRounding;
use crate::grid::Grid;
use crate::grid_format::{GridFormat, Selection};
use crate::scale::ScaleRule;
use crate::tensor::{Encoded, validate};

/// Block scale computed the slow way: (stored bits, encode fn, decode factors).
struct RefScale {
    stored: u32,
    mul: Option<f32>,
    div: Option<f32>,
    d1: f32,
    d2: f32,
}

/// 2^e as f32 through f64 (exact for e in [−149, 127]).
fn pow2_ref(e: i32) -> f32 {
    (2.0f64).powi(e) as f32
}

fn mx_exponent_ref(amax: f32, grid_max: f32, r: MxRounding) -> i32 {
    let emax = (grid_max as f64).log2().floor() as i32;
    let floor_log2 = |a: f32| -> i32 {
        if a == 0.0 {
            -1000
        } else {
            (a as f64).log2().floor() as i32
        }
    };
    let e = match r {
        MxRounding::Floor => floor_log2(amax) - emax,
        MxRounding::Even => {
            // Round amax to 1 mantissa bit (half-up on the f32 bit pattern, as torchao), FLOOR.
            let e0 = floor_log2(amax);
            let m = amax as f64 / 2f64.powi(e0);
            let bump = amax != 0.0 && m >= 1.75;
            floor_log2(amax) + bump as i32 - emax
        }
        MxRounding::Rceil => {
            let d = amax / grid_max;
            if d == 0.0 {
                -1000
            } else {
                (d as f64).log2().ceil() as i32
            }
        }
    };
    e.clamp(-127, 127)
}

fn ref_scale(f: &GridFormat, amax: f32, grid: &Grid, enc_g: f32, dec_g: f32) -> RefScale {
    let m = grid.max_abs();
    match f.scale {
        ScaleRule::F32 => {
            let s = amax / m;
            RefScale {
                stored: s.to_bits(),
                mul: (s == 0.0).then_some(0.0),
                div: (s != 0.0).then_some(s),
                d1: s,
                d2: 1.0,
            }
        }
        ScaleRule::E8m0(r) => {
            let e = mx_exponent_ref(amax, m, r);
            RefScale {
                stored: (e + 127) as u32,
                mul: Some(pow2_ref(-e)),
                div: None,
                d1: pow2_ref(e),
                d2: 1.0,
            }
        }
        ScaleRule::E4m3Global => {
            let s_f32 = amax * (enc_g * (1.0f32 / m));
            let byte = if f.grids.len() > 2 {
                f32_to_e4m3_even_lattice_reference(s_f32)
            } else {
                f32_to_e4m3_reference(s_f32)
            };
            let s = e4m3_to_f32(byte);
            let mut enc = 1.0f32 / (s * dec_g);
            if enc > f32::MAX {
                enc = f32::MAX;
            }
            RefScale {
                stored: byte as u32,
                mul: Some(enc),
                div: None,
                d1: s,
                d2: dec_g,
            }
        }
    }
}

/// Unpacked codes, scale bytes and the tensor scale of a reference encode.
type RefEncoding = (Vec<u8>, Vec<u8>, Option<f32>);

/// Reference encode.
pub(crate) fn encode_unpacked(
    f: &GridFormat,
    x: &[f32],
    cols: usize,
) -> Result<RefEncoding, FormatError> {
    validate(x, cols, f.block, &f.name)?;
    let mut g_amax = 0.0f32;
    for &v in x {
        if v.abs() > g_amax {
            g_amax = v.abs();
        }
    }
    let (mut enc_g, mut dec_g) = (1.0f32, 1.0f32);
    if f.scale == ScaleRule::E4m3Global {
        enc_g = 2688.0f32 / g_amax;
        if g_amax == 0.0 || enc_g == 0.0 {
            enc_g = 1.0;
        }
        if enc_g > f32::MAX {
            enc_g = f32::MAX;
        }
        dec_g = 1.0 / enc_g;
    }
    let mut codes = Vec::with_capacity(x.len());
    let mut scales = Vec::new();
    for block in x.chunks(f.block) {
        let mut amax = 0.0f32;
        for &v in block {
            if v.abs() > amax {
                amax = v.abs();
            }
        }
        let mut best: Option<(f64, Vec<u8>, RefScale, usize)> = None;
        for (k, grid) in f.grids.iter().enumerate() {
            let s = ref_scale(f, amax, grid, enc_g, dec_g);
            let mut cs = Vec::new();
            let mut err = 0.0f64;
            for &v in block {
                let scaled = match (s.mul, s.div) {
                    (Some(m), _) => v * m,
                    (None, Some(d)) => v / d,
                    (None, None) => unreachable!("a reference scale always has a factor"),
                };
                // TE clamps to the grid's range before the cast (spec §3); ±Inf cannot survive.
                let scaled = scaled.clamp(-grid.max_abs(), grid.max_abs());
                let c = grid.encode_reference(scaled);
                let back = grid.decode(c) * s.d1 * s.d2;
                let d = v as f64 - back as f64;
                err += if f.selection == Selection::Sse {
                    d * d
                } else {
                    d.abs()
                };
                cs.push(c);
            }
            let better = match &best {
                None => true,
                Some((e, ..)) => err < *e,
            };
            if better {
                best = Some((err, cs, s, k));
            }
        }
        let (_, cs, s, k) = best.expect("at least one grid");
        codes.extend(cs);
        match f.scale {
            ScaleRule::E4m3Global => {
                let mut b = s.stored as u8;
                if k & 1 == 1 {
                    b |= 0x80;
                }
                if k & 2 == 2 {
                    b |= 0x01;
                }
                scales.push(b);
            }
            ScaleRule::E8m0(_) => scales.push(s.stored as u8),
            ScaleRule::F32 => scales.extend(s.stored.to_le_bytes()),
        }
        if f.grids.len() > 1 && f.scale != ScaleRule::E4m3Global {
            scales.push(k as u8);
        }
    }
    let ts = (f.scale == ScaleRule::E4m3Global).then_some(dec_g);
    Ok((codes, scales, ts))
}

impl GridFormat {
    /// Reference encode (slow, scalar).
    pub fn encode_reference(&self, x: &[f32], cols: usize) -> Result<Encoded, FormatError> {
        let (codes, scales, tensor_scale) = encode_unpacked(self, x, cols)?;
        let bits = self.grids[0].code_bits();
        Ok(Encoded {
            format: self.name.clone(),
            rows: x.len() / cols,
            cols,
            code_bits: bits,
            codes: crate::pack::pack(&codes, bits),
            scales,
            tensor_scale,
            mask: None,
        })
    }

    /// Reference fake quantization: reference encode, then a scalar decode.
    pub fn fake_quant_reference(&self, x: &mut [f32], cols: usize) -> Result<(), FormatError> {
        let (codes, scales, ts) = encode_unpacked(self, x, cols)?;
        let stride = self.scale_stride();
        let dec_g = ts.unwrap_or(1.0);
        for (i, v) in x.iter_mut().enumerate() {
            let b = i / self.block;
            let sb = &scales[b * stride..(b + 1) * stride];
            let (s, k) = match self.scale {
                ScaleRule::E4m3Global => {
                    let (mag, k) = match self.grids.len() {
                        1 => (sb[0], 0),
                        2 => (sb[0] & 0x7F, (sb[0] >> 7) as usize),
                        _ => (sb[0] & 0x7E, ((sb[0] >> 7) | ((sb[0] & 1) << 1)) as usize),
                    };
                    (e4m3_to_f32(mag) * 1.0, k)
                }
                ScaleRule::E8m0(_) => (
                    pow2_ref(sb[0] as i32 - 127),
                    *sb.get(1).unwrap_or(&0) as usize,
                ),
                ScaleRule::F32 => (
                    f32::from_le_bytes([sb[0], sb[1], sb[2], sb[3]]),
                    *sb.get(4).unwrap_or(&0) as usize,
                ),
            };
            *v = self.grids[k].decode(codes[i]) * s * dec_g;
        }
        Ok(())
    }
}
