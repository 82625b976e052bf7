//! [`ct_layer_tensors`]: the compressed-tensors tensors of one `Linear` weight, from lowbit's
//! [`CodedParts`].
//!
//! Layouts (names, dtypes, shapes for a weight `[out, in]`), each from the compressor that reads
//! them in compressed-tensors 0.20:
//! - `nvfp4-pack-quantized` (`compressors/nvfp4/base.py`, `helpers.py`): `weight_packed` U8
//!   `[out, in/2]` (element 2i in the low nibble, sign = bit 3), `weight_scale` F8_E4M3
//!   `[out, in/16]`, `weight_global_scale` F32 `[1]` — the *encode-side* factor (compressed-tensors
//!   divides by it: `_dequantize` in `quantization/lifecycle/forward_helpers.py`), i.e. the
//!   reciprocal of lowbit's decode factor — and, for W4A4, `input_global_scale` F32 `[1]`.
//! - `mxfp4-pack-quantized` (`compressors/mxfp4/base.py`, `compressors/mx_utils.py`):
//!   `weight_packed` as above, `weight_scale` U8 `[out, in/32]` = exponent + 127.
//! - `pack-quantized` (`compressors/pack_quantized/base.py`, `helpers.py`): `weight_packed` I32
//!   `[out, ⌈in·B/32⌉]` (see [`crate::pack`]), `weight_scale` `[out, in/g]` in the model dtype,
//!   `weight_zero_point` I32 `[⌈out·B/32⌉, in/g]` (asymmetric only, packed along dim 0),
//!   `weight_shape` I64 `[2]`. compressed-tensors' INT grid is signed (`calculate_range`:
//!   `[−2^(B−1), 2^(B−1) − 1]`), lowbit's asymmetric one unsigned `[0, 2^B − 1]`: both q and z
//!   shift by `2^(B−1)`, so `q − z` — and every decoded value — is unchanged.

use crate::error::ExportError;
use crate::scheme::CtScheme;
use crate::tensor::{CtDtype, CtTensor, encode_floats};
use crate::{CtFloat, pack};
use lowbit_formats::elem::e2m1::e2m1_to_f32;
use lowbit_formats::elem::e4m3::{e4m3_to_f32, f32_to_e4m3};
use lowbit_formats::{CodedParts, DecodeRule};

fn mismatch(module: &str, scheme: &CtScheme, reason: impl Into<String>) -> ExportError {
    ExportError::Mismatch {
        module: module.into(),
        scheme: scheme.format_name().into(),
        reason: reason.into(),
    }
}

fn not_repr(module: &str, what: &'static str, value: f32, dtype: &'static str) -> ExportError {
    ExportError::NotRepresentable {
        module: module.into(),
        what,
        value,
        bits: value.to_bits(),
        dtype,
    }
}

/// Checks the parts' shape bookkeeping and returns (rows, cols).
fn check_shape(module: &str, p: &CodedParts, s: &CtScheme) -> Result<(usize, usize), ExportError> {
    let n = p.rows * p.cols;
    if p.mask.is_some() {
        return Err(mismatch(
            module,
            s,
            "sparse parts (a mask) have no dense layout",
        ));
    }
    if p.tables.len() != 1 || p.table_of_block.iter().any(|&k| k != 0) {
        return Err(mismatch(module, s, "more than one level table"));
    }
    if p.block != s.group_size() {
        return Err(mismatch(
            module,
            s,
            format!("block {} but group_size {}", p.block, s.group_size()),
        ));
    }
    if p.cols == 0 || p.cols % p.block != 0 || p.codes.len() != n || p.scales.len() != n / p.block {
        return Err(mismatch(
            module,
            s,
            "codes / scales do not match rows × cols",
        ));
    }
    Ok((p.rows, p.cols))
}

/// The E2M1 parts of NVFP4 / MXFP4: packed codes after checking the table is E2M1's.
fn fp4_packed(module: &str, p: &CodedParts, s: &CtScheme) -> Result<CtTensor, ExportError> {
    let e2m1_table = (0..16u8).all(|c| {
        p.tables[0].get(c as usize).map(|v| v.to_bits()) == Some(e2m1_to_f32(c).to_bits())
    });
    if p.code_bits != 4 || p.rule != DecodeRule::Scaled || !e2m1_table {
        return Err(mismatch(module, s, "codes are not E2M1 codes"));
    }
    Ok(CtTensor::bytes(
        CtDtype::U8,
        vec![p.rows, p.cols / 2],
        lowbit_formats::pack::pack(&p.codes, 4),
    ))
}

/// The f32 `G` whose reciprocal is `dec` (`1 / G == dec` in f32), nearest to `1 / dec` first.
/// lowbit's `dec` is itself `1 / enc` of an f32 `enc`, so one always exists for its parts.
pub fn reciprocal_global(dec: f32) -> Option<f32> {
    if !(dec.is_finite() && dec > 0.0) {
        return None;
    }
    let g0 = (1.0 / dec).to_bits();
    [0i64, -1, 1, -2, 2]
        .into_iter()
        .map(|d| f32::from_bits((g0 as i64 + d) as u32))
        .find(|&g| g.is_finite() && 1.0 / g == dec)
}

/// The exact E8M0 byte of a power-of-two scale in [2^−127, 2^127].
fn e8m0_byte(s: f32) -> Option<u8> {
    let b = s.to_bits();
    if !(s > 0.0 && s.is_finite()) {
        return None;
    }
    let (exp, man) = ((b >> 23) as i32, b & 0x7F_FFFF);
    let e = match (exp, man) {
        (0, m) if m.is_power_of_two() => m.trailing_zeros() as i32 - 149,
        (e, 0) => e - 127,
        _ => return None,
    };
    (-127..=127).contains(&e).then(|| (e + 127) as u8)
}

fn int_tensors(
    module: &str,
    p: &CodedParts,
    s: &CtScheme,
    (bits, symmetric, scale_dtype): (u32, bool, CtFloat),
) -> Result<Vec<(&'static str, CtTensor)>, ExportError> {
    let want_rule = if symmetric {
        DecodeRule::Scaled
    } else {
        DecodeRule::ZeroPoint
    };
    if p.code_bits != bits || p.rule != want_rule || p.global.is_some() {
        return Err(mismatch(
            module,
            s,
            format!("{}-bit {:?} parts", p.code_bits, p.rule),
        ));
    }
    let off = 1i64 << (bits - 1);
    let (lo, hi) = if symmetric {
        (-off, off - 1)
    } else {
        (0, 2 * off - 1)
    };
    let as_int = |v: f32| (v.fract() == 0.0 && (lo..=hi).contains(&(v as i64))).then_some(v as i64);
    // The unsigned value compressed-tensors packs: q_ct + 2^(B−1), q_ct = q (sym) or q − 2^(B−1).
    let shift = if symmetric { off } else { 0 };
    let mut stored = Vec::with_capacity(p.codes.len());
    for &c in &p.codes {
        let level = p.tables[0].get(c as usize).copied().and_then(as_int);
        let q = level
            .ok_or_else(|| mismatch(module, s, format!("code {c} is not an INT{bits} level")))?;
        stored.push((q + shift) as u32);
    }
    let groups = p.cols / p.block;
    let mut out = vec![(
        "weight_packed",
        CtTensor::i32s(
            vec![p.rows, (p.cols * bits as usize).div_ceil(32)],
            &pack::pack_rows(&stored, p.rows, p.cols, bits),
        ),
    )];
    let (mut scale, back) = encode_floats(&p.scales, scale_dtype);
    for (&a, &b) in p.scales.iter().zip(&back) {
        if !b.is_finite() || (a != 0.0 && b == 0.0) {
            return Err(not_repr(module, "weight_scale", a, scale_dtype.name()));
        }
    }
    scale.shape = vec![p.rows, groups];
    out.push(("weight_scale", scale));
    if !symmetric {
        let mut z = Vec::with_capacity(p.zeros.len());
        for &v in &p.zeros {
            z.push(as_int(v).ok_or_else(|| mismatch(module, s, format!("zero point {v}")))? as u32);
        }
        if z.len() != p.scales.len() {
            return Err(mismatch(module, s, "one zero point per group is required"));
        }
        out.push((
            "weight_zero_point",
            CtTensor::i32s(
                vec![(p.rows * bits as usize).div_ceil(32), groups],
                &pack::pack_cols(&z, p.rows, groups, bits),
            ),
        ));
    }
    out.push((
        "weight_shape",
        CtTensor::i64s(vec![2], &[p.rows as i64, p.cols as i64]),
    ));
    Ok(out)
}

/// The tensors compressed-tensors stores for the weight of `module` (names are
/// `{module}.weight_packed` etc.), in the order compressed-tensors lists them.
///
/// # Errors
/// [`ExportError::Mismatch`] when the parts are not of the scheme's format (other block, table,
/// rule, a sparsity mask); [`ExportError::NotRepresentable`] when a scale has no exact byte
/// (E4M3 / E8M0) or a global scale no reciprocal, or an INT scale under- or overflows the
/// chosen float dtype.
pub fn ct_layer_tensors(
    module: &str,
    parts: &CodedParts,
    scheme: &CtScheme,
) -> Result<Vec<(String, CtTensor)>, ExportError> {
    let (rows, cols) = check_shape(module, parts, scheme)?;
    let named: Vec<(&'static str, CtTensor)> = match *scheme {
        CtScheme::Nvfp4 { input_global_scale } => {
            let packed = fp4_packed(module, parts, scheme)?;
            let mut bytes = Vec::with_capacity(parts.scales.len());
            for &s in &parts.scales {
                let b = f32_to_e4m3(s);
                if e4m3_to_f32(b).to_bits() != s.to_bits() {
                    return Err(not_repr(module, "weight_scale", s, "F8_E4M3"));
                }
                bytes.push(b);
            }
            let dec = parts
                .global
                .ok_or_else(|| mismatch(module, scheme, "no tensor scale"))?;
            let g = reciprocal_global(dec)
                .ok_or_else(|| not_repr(module, "weight_global_scale", dec, "F32 reciprocal"))?;
            let mut v = vec![
                ("weight_packed", packed),
                (
                    "weight_scale",
                    CtTensor::bytes(CtDtype::F8E4M3, vec![rows, cols / 16], bytes),
                ),
                ("weight_global_scale", CtTensor::f32s(vec![1], &[g])),
            ];
            if let Some(a) = input_global_scale {
                if !(a.is_finite() && a > 0.0) {
                    return Err(not_repr(module, "input_global_scale", a, "positive F32"));
                }
                v.push(("input_global_scale", CtTensor::f32s(vec![1], &[a])));
            }
            v
        }
        CtScheme::Mxfp4 => {
            let packed = fp4_packed(module, parts, scheme)?;
            if parts.global.is_some() {
                return Err(mismatch(module, scheme, "MX parts have no tensor scale"));
            }
            let mut bytes = Vec::with_capacity(parts.scales.len());
            for &s in &parts.scales {
                bytes
                    .push(e8m0_byte(s).ok_or_else(|| not_repr(module, "weight_scale", s, "E8M0"))?);
            }
            vec![
                ("weight_packed", packed),
                (
                    "weight_scale",
                    CtTensor::bytes(CtDtype::U8, vec![rows, cols / 32], bytes),
                ),
            ]
        }
        CtScheme::PackQuantized {
            bits,
            symmetric,
            scale_dtype,
            ..
        } => int_tensors(module, parts, scheme, (bits, symmetric, scale_dtype))?,
    };
    Ok(named
        .into_iter()
        .map(|(n, t)| (format!("{module}.{n}"), t))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e8m0_bytes_are_exact_powers_of_two_only() {
        assert_eq!(e8m0_byte(1.0), Some(127));
        assert_eq!(e8m0_byte(f32::from_bits(1 << 22)), Some(0)); // 2^-127, subnormal
        assert_eq!(e8m0_byte(2f32.powi(127)), Some(254));
        assert_eq!(e8m0_byte(1.5), None);
        assert_eq!(e8m0_byte(f32::from_bits(1 << 21)), None); // 2^-128: below E8M0
        assert_eq!(e8m0_byte(0.0), None);
    }

    #[test]
    fn every_global_reciprocal_of_an_f32_encode_scale_is_found() {
        let mut enc = 1.0e-30f32;
        while enc < 1.0e30 {
            let dec = 1.0 / enc;
            let g = reciprocal_global(dec).map(|g| 1.0 / g);
            assert_eq!(g, Some(dec), "enc {enc:e}");
            enc *= 1.000_137;
        }
    }
}
