//! A GPTQ result as lowbit-formats' exact [`CodedParts`]: one code per element into the
//! format's level table(s), per-block scales / zero points / grid selectors and the tensor
//! scale, with `parts.decode() == result.w_hat` bit for bit.
//!
//! GPTQ (Frantar et al. 2023, Alg. 1) quantizes column by column, but with a
//! [`FormatQuantizer`] every group of g columns of a row is one block of the format with the
//! parameters chosen when the group started (quantizer.rs), and every Ŵ value is that
//! block's decode of its code (`IntFormat::quantize_value` / `GridFormat::quantize_value`
//! return `(code, decode(code))`). So the parts are just a relabelling, provided the g columns
//! of each format block (contiguous in the ORIGINAL column order, the order the encoder and
//! `CodedParts` use) share one group: true without act-order and with act-order + static groups
//! (gptq's `static_groups`, FP-Quant's only mode), false for act-order with groups of
//! consecutive *permuted* columns ([`PtqError::NotContiguous`]).

use crate::PtqError;
use crate::gptq::GptqResult;
use crate::quantizer::{BlockParams, FormatQuantizer, GroupQuantizer};
use lowbit_formats::scale::ScaleRule;
use lowbit_formats::{CodedParts, DecodeRule, Format};

impl GptqResult {
    /// The result as exact coded parts of `quantizer`'s format (the quantizer this result was
    /// computed with; its tensor scale is read from it, so call this before the quantizer
    /// `prepare`s another weight). Blocks run along each row in the original column order.
    ///
    /// # Errors
    /// [`PtqError::NotContiguous`] when a block's columns belong to different groups
    /// (act-order without static groups); [`PtqError::InvalidOption`] when the result does not
    /// fit the quantizer (other group size, parameters of another format, a code out of range);
    /// [`PtqError::Unsupported`] for formats `FormatQuantizer` does not drive.
    pub fn coded_parts(&self, quantizer: &FormatQuantizer) -> Result<CodedParts, PtqError> {
        let (rows, cols) = (self.rows, self.cols);
        let g = quantizer.group_size();
        let mismatch = |reason: String| PtqError::InvalidOption { reason };
        let n = rows.checked_mul(cols);
        if g == 0 || cols % g != 0 || n.is_none() || Some(self.w_hat.len()) != n {
            return Err(mismatch(format!(
                "result [{rows}, {cols}] does not fit `{}` (block {g})",
                quantizer.name()
            )));
        }
        if self.codes.len() != rows * cols || self.g_idx.len() != cols {
            return Err(mismatch(
                "result has inconsistent code / g_idx lengths".into(),
            ));
        }
        // Every block [k·g, (k+1)·g) of the original order must be exactly one group.
        let mut group_of_block = Vec::with_capacity(cols / g);
        for k in 0..cols / g {
            let gk = self.g_idx[k * g];
            if let Some(c) = (k * g..(k + 1) * g).find(|&c| self.g_idx[c] != gk) {
                return Err(PtqError::NotContiguous {
                    block: k,
                    column: c,
                    group: self.g_idx[c],
                    expected: gk,
                });
            }
            let p = self.params.get(gk as usize).filter(|p| p.0.len() == rows);
            group_of_block.push(p.ok_or_else(|| {
                mismatch(format!("group {gk} has no parameters for {rows} rows"))
            })?);
        }
        let nb = rows * cols / g;
        let (mut scales, mut zeros, mut table_of_block) =
            (Vec::with_capacity(nb), Vec::new(), Vec::with_capacity(nb));
        let mut codes = Vec::with_capacity(rows * cols);
        let parts = match quantizer.format() {
            Format::Int(f) => {
                let mask = (1i32 << f.bits()) - 1;
                for r in 0..rows {
                    for p in &group_of_block {
                        let BlockParams::Int(s) = p.0[r] else {
                            return Err(mismatch("grid parameters for an INT format".into()));
                        };
                        scales.push(s.s);
                        if !f.symmetric() {
                            zeros.push(s.z);
                        }
                        table_of_block.push(0u8);
                    }
                    for &q in &self.codes[r * cols..(r + 1) * cols] {
                        let (lo, hi) = if f.symmetric() {
                            (-(1 << (f.bits() - 1)), (1 << (f.bits() - 1)) - 1)
                        } else {
                            (0, mask)
                        };
                        if !(lo..=hi).contains(&q) {
                            return Err(mismatch(format!("INT code {q} outside {lo}..={hi}")));
                        }
                        codes.push((q & mask) as u8);
                    }
                }
                // The level table of `Format::coded_parts`: code c ↦ q (sign-extended for
                // symmetric formats, whose codes are q & (2^b − 1)).
                let shift = 32 - f.bits();
                let table = vec![
                    (0..=mask)
                        .map(|c| {
                            if f.symmetric() {
                                ((c << shift) >> shift) as f32
                            } else {
                                c as f32
                            }
                        })
                        .collect(),
                ];
                CodedParts {
                    rows,
                    cols,
                    block: g,
                    code_bits: f.bits(),
                    rule: if f.symmetric() {
                        DecodeRule::Scaled
                    } else {
                        DecodeRule::ZeroPoint
                    },
                    codes,
                    tables: table,
                    table_of_block,
                    scales,
                    zeros,
                    global: None,
                    mask: None,
                }
            }
            Format::Grid(f) => {
                let levels = 1i32 << f.grids()[0].code_bits();
                for r in 0..rows {
                    for p in &group_of_block {
                        let BlockParams::Grid(s) = p.0[r] else {
                            return Err(mismatch("INT parameters for a grid format".into()));
                        };
                        if s.grid >= f.grids().len() {
                            return Err(mismatch(format!("grid index {} out of range", s.grid)));
                        }
                        // Decode is (level · d1) · d2 with d2 = the tensor scale (NVFP4) or 1.
                        scales.push(s.scale.d1);
                        table_of_block.push(s.grid as u8);
                    }
                    for &c in &self.codes[r * cols..(r + 1) * cols] {
                        if !(0..levels).contains(&c) {
                            return Err(mismatch(format!("grid code {c} outside 0..{levels}")));
                        }
                        codes.push(c as u8);
                    }
                }
                let e4m3 = f.scale_rule() == ScaleRule::E4m3Global;
                CodedParts {
                    rows,
                    cols,
                    block: g,
                    code_bits: f.grids()[0].code_bits(),
                    rule: DecodeRule::Scaled,
                    codes,
                    tables: f.grids().iter().map(|gr| gr.table().to_vec()).collect(),
                    table_of_block,
                    scales,
                    zeros,
                    global: e4m3.then_some(quantizer.tensor_scale().dec),
                    mask: None,
                }
            }
            other => {
                return Err(PtqError::Unsupported {
                    format: other.name(),
                    supported: crate::SUPPORTED,
                });
            }
        };
        Ok(parts)
    }
}
