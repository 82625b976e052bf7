//! Reading an exported layer back: [`read_ct_layer`] rebuilds lowbit's [`CodedParts`] (so a
//! round trip can be tested), and [`ct_dequantize`] computes the weight the way
//! compressed-tensors 0.20 decompresses it, operation by operation and in its dtypes:
//! - NVFP4 (`compressors/nvfp4/base.py::decompress`, `forward_helpers.py::_dequantize`):
//!   `unpack_fp4_from_uint8` gives bf16 values, the E4M3 scale is cast to bf16 (exact), then
//!   `scale / weight_global_scale` promotes to f32 (a `[1]` f32 tensor), `x_q.to(f32) * scale`
//!   in f32, and the result is cast to bf16 (`dtype=unpacked.dtype`).
//! - MXFP4 (`compressors/mxfp4/base.py`, `compressors/mx_utils.py::decompress_mx_scale`):
//!   `2 ** (byte − 127)` in bf16 (exact), `x_q * scale` in bf16.
//! - pack-quantized (`compressors/pack_quantized/base.py::decompress`): `(q − z) * scale` in the
//!   dtype of `weight_scale` (`dequantize(dtype=None)` uses `scale.dtype`).

use crate::error::ExportError;
use crate::pack;
use crate::scheme::CtScheme;
use crate::tensor::{CtDtype, CtTensor, round_bf16, round_f16};
use lowbit_formats::elem::e2m1::e2m1_to_f32;
use lowbit_formats::elem::e4m3::e4m3_to_f32;
use lowbit_formats::elem::e8m0::e8m0_to_f32;
use lowbit_formats::{CodedParts, DecodeRule};

fn get<'a>(
    tensors: &'a [(String, CtTensor)],
    module: &str,
    name: &str,
) -> Result<&'a CtTensor, ExportError> {
    let full = format!("{module}.{name}");
    tensors
        .iter()
        .find(|(n, _)| *n == full)
        .map(|(_, t)| t)
        .ok_or_else(|| bad(module, name, "missing".into()))
}

fn bad(module: &str, name: &str, reason: String) -> ExportError {
    ExportError::BadTensor {
        module: module.into(),
        tensor: name.into(),
        reason,
    }
}

/// `[rows, cols]` of a 2-D tensor.
fn dims2(t: &CtTensor, module: &str, name: &str) -> Result<(usize, usize), ExportError> {
    match t.shape[..] {
        [r, c] => Ok((r, c)),
        _ => Err(bad(
            module,
            name,
            format!("shape {:?}, expected 2-D", t.shape),
        )),
    }
}

/// The stored pieces of one layer, unpacked but not yet interpreted.
struct Raw {
    rows: usize,
    cols: usize,
    /// Per element: E2M1 code (FP4) or the unsigned packed value (INT).
    codes: Vec<u32>,
    /// Per block: the scale as stored, widened to f32.
    scales: Vec<f32>,
    /// Per block, asymmetric INT: the unsigned packed zero point.
    zeros: Vec<u32>,
    /// NVFP4 `weight_global_scale`.
    global: Option<f32>,
    /// dtype of `weight_scale`.
    scale_dtype: CtDtype,
}

fn read_raw(
    module: &str,
    tensors: &[(String, CtTensor)],
    scheme: &CtScheme,
) -> Result<Raw, ExportError> {
    let packed = get(tensors, module, "weight_packed")?;
    let scale = get(tensors, module, "weight_scale")?;
    let g = scheme.group_size();
    let fp4 = |scale_dtype: CtDtype| -> Result<Raw, ExportError> {
        packed.check(module, "weight_packed", CtDtype::U8)?;
        scale.check(module, "weight_scale", scale_dtype)?;
        let (rows, half) = dims2(packed, module, "weight_packed")?;
        let cols = half * 2;
        if cols % g != 0 || scale.shape != [rows, cols / g] {
            return Err(bad(
                module,
                "weight_scale",
                format!("shape {:?}", scale.shape),
            ));
        }
        let codes = lowbit_formats::pack::unpack(&packed.data, 4, rows * cols)
            .map_err(|e| bad(module, "weight_packed", e.to_string()))?;
        let scales = scale
            .data
            .iter()
            .map(|&b| match scale_dtype {
                CtDtype::F8E4M3 => e4m3_to_f32(b),
                _ => e8m0_to_f32(b),
            })
            .collect::<Vec<f32>>();
        if scales.iter().any(|s| s.is_nan()) {
            return Err(bad(module, "weight_scale", "a NaN scale byte".into()));
        }
        Ok(Raw {
            rows,
            cols,
            codes: codes.into_iter().map(u32::from).collect(),
            scales,
            zeros: Vec::new(),
            global: None,
            scale_dtype,
        })
    };
    match *scheme {
        CtScheme::Nvfp4 { .. } => {
            let mut raw = fp4(CtDtype::F8E4M3)?;
            let gs = get(tensors, module, "weight_global_scale")?;
            gs.check(module, "weight_global_scale", CtDtype::F32)?;
            raw.global = gs.to_f32s().first().copied();
            if raw.global.is_none_or(|g| !(g.is_finite() && g > 0.0)) {
                return Err(bad(
                    module,
                    "weight_global_scale",
                    "not one positive f32".into(),
                ));
            }
            Ok(raw)
        }
        CtScheme::Mxfp4 => fp4(CtDtype::U8),
        CtScheme::PackQuantized {
            bits, symmetric, ..
        } => {
            packed.check(module, "weight_packed", CtDtype::I32)?;
            let shape = get(tensors, module, "weight_shape")?;
            let dims = match shape.dtype {
                CtDtype::I64 | CtDtype::I32 => shape.to_i64s(),
                _ => return Err(bad(module, "weight_shape", "not an integer tensor".into())),
            };
            let (rows, cols) = match dims[..] {
                [r, c] if r > 0 && c > 0 => (r as usize, c as usize),
                _ => return Err(bad(module, "weight_shape", format!("{dims:?}"))),
            };
            let words = (cols * bits as usize).div_ceil(32);
            if packed.shape != [rows, words] || cols % g != 0 {
                return Err(bad(
                    module,
                    "weight_packed",
                    format!("shape {:?}", packed.shape),
                ));
            }
            let groups = cols / g;
            let scale_dtype = scale.dtype;
            if !matches!(scale_dtype, CtDtype::F32 | CtDtype::Bf16 | CtDtype::F16) {
                return Err(bad(
                    module,
                    "weight_scale",
                    format!("dtype {scale_dtype:?}"),
                ));
            }
            scale.check(module, "weight_scale", scale_dtype)?;
            if scale.shape != [rows, groups] {
                return Err(bad(
                    module,
                    "weight_scale",
                    format!("shape {:?}", scale.shape),
                ));
            }
            let words_i32: Vec<i32> = packed.to_i64s().into_iter().map(|w| w as i32).collect();
            let mut zeros = Vec::new();
            if !symmetric {
                let z = get(tensors, module, "weight_zero_point")?;
                z.check(module, "weight_zero_point", CtDtype::I32)?;
                let zw = (rows * bits as usize).div_ceil(32);
                if z.shape != [zw, groups] {
                    return Err(bad(
                        module,
                        "weight_zero_point",
                        format!("shape {:?}", z.shape),
                    ));
                }
                let zi: Vec<i32> = z.to_i64s().into_iter().map(|w| w as i32).collect();
                zeros = pack::unpack_cols(&zi, rows, groups, bits);
            }
            Ok(Raw {
                rows,
                cols,
                codes: pack::unpack_rows(&words_i32, rows, cols, bits),
                scales: scale.to_f32s(),
                zeros,
                global: None,
                scale_dtype,
            })
        }
    }
}

/// Rebuilds lowbit's coded parts from the tensors of `module` (the inverse of
/// [`crate::ct_layer_tensors`]; INT scales come back as stored, i.e. rounded to the scale dtype).
///
/// # Errors
/// [`ExportError::BadTensor`] when a tensor is missing or has the wrong dtype or shape.
pub fn read_ct_layer(
    module: &str,
    tensors: &[(String, CtTensor)],
    scheme: &CtScheme,
) -> Result<CodedParts, ExportError> {
    let raw = read_raw(module, tensors, scheme)?;
    let blocks = raw.scales.len();
    let (code_bits, rule, table, codes, zeros): (u32, DecodeRule, Vec<f32>, Vec<u8>, Vec<f32>) =
        match *scheme {
            CtScheme::Nvfp4 { .. } | CtScheme::Mxfp4 => (
                4,
                DecodeRule::Scaled,
                (0..16).map(e2m1_to_f32).collect(),
                raw.codes.iter().map(|&c| c as u8).collect(),
                Vec::new(),
            ),
            CtScheme::PackQuantized {
                bits, symmetric, ..
            } => {
                let n = 1u32 << bits;
                let off = n / 2;
                if symmetric {
                    // lowbit's symmetric code is q's two's complement: (u − 2^(B−1)) mod 2^B.
                    let table = (0..n)
                        .map(|c| {
                            if c >= off {
                                c as f32 - n as f32
                            } else {
                                c as f32
                            }
                        })
                        .collect();
                    let codes = raw.codes.iter().map(|&u| ((u + off) % n) as u8).collect();
                    (bits, DecodeRule::Scaled, table, codes, Vec::new())
                } else {
                    let table = (0..n).map(|c| c as f32).collect();
                    let codes = raw.codes.iter().map(|&u| u as u8).collect();
                    let zeros = raw.zeros.iter().map(|&z| z as f32).collect();
                    (bits, DecodeRule::ZeroPoint, table, codes, zeros)
                }
            }
        };
    Ok(CodedParts {
        rows: raw.rows,
        cols: raw.cols,
        block: scheme.group_size(),
        code_bits,
        rule,
        codes,
        tables: vec![table],
        table_of_block: vec![0; blocks],
        scales: raw.scales,
        zeros,
        global: raw.global.map(|g| 1.0 / g),
        mask: None,
    })
}

/// What compressed-tensors' decompression of one layer yields.
#[derive(Debug, Clone, PartialEq)]
pub struct CtDequant {
    /// The f32 values before the final cast (NVFP4's `x_q * (scale / global)`; for the other
    /// schemes equal to `weight`).
    pub pre_cast: Vec<f32>,
    /// The decompressed weight, widened exactly to f32 from its dtype (bf16 for NVFP4 / MXFP4;
    /// the scale dtype for pack-quantized).
    pub weight: Vec<f32>,
}

/// The weight compressed-tensors 0.20 decompresses from the tensors of `module`, emulated in its
/// operation order and dtypes (see the module docs).
///
/// # Errors
/// As [`read_ct_layer`].
pub fn ct_dequantize(
    module: &str,
    tensors: &[(String, CtTensor)],
    scheme: &CtScheme,
) -> Result<CtDequant, ExportError> {
    let raw = read_raw(module, tensors, scheme)?;
    let g = scheme.group_size();
    let n = raw.rows * raw.cols;
    let mut pre_cast = Vec::with_capacity(n);
    let mut weight = Vec::with_capacity(n);
    for (i, &c) in raw.codes.iter().enumerate() {
        let b = i / g;
        let s = raw.scales[b];
        let (pre, w) = match *scheme {
            CtScheme::Nvfp4 { .. } => {
                let gs = raw.global.unwrap_or(1.0);
                let y = e2m1_to_f32(c as u8) * (round_bf16(s) / gs);
                (y, round_bf16(y))
            }
            CtScheme::Mxfp4 => {
                let y = round_bf16(e2m1_to_f32(c as u8) * round_bf16(s));
                (y, y)
            }
            CtScheme::PackQuantized { .. } => {
                // q_ct − z_ct = (u − 2^(B−1)) − (uz − 2^(B−1)); exact in every float dtype here.
                let z = raw.zeros.get(b).copied().unwrap_or(0) as i64;
                let off = if raw.zeros.is_empty() {
                    1i64 << (scheme_bits(scheme) - 1)
                } else {
                    z
                };
                let y = (c as i64 - off) as f32 * s;
                let w = match raw.scale_dtype {
                    CtDtype::Bf16 => round_bf16(y),
                    CtDtype::F16 => round_f16(y),
                    _ => y,
                };
                (w, w)
            }
        };
        pre_cast.push(pre);
        weight.push(w);
    }
    Ok(CtDequant { pre_cast, weight })
}

fn scheme_bits(s: &CtScheme) -> u32 {
    match s {
        CtScheme::PackQuantized { bits, .. } => *bits,
        _ => 4,
    }
}
