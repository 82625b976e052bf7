//! [`CodedParts`]: an [`Encoded`] tensor unpacked into what a layer that *holds* a compressed
//! weight trains — one integer code per element, the level tables the codes index, and the
//! continuous per-block factors (scales, zero points, the tensor scale) — with the decode rule of
//! the format family, so that decoding the parts gives exactly `Format::decode`.
//!
//! Why a rule per family instead of one affine form: the families round differently, and a
//! compressed layer must reproduce the checkpoint's values bit for bit before it fine-tunes them.
//! Grid formats decode `(level · d1) · d2` (scale.rs `BlockScale::unscale`), asymmetric INT
//! `(q − z) · s`, QuEST `k · step − step · 0.5`; `(level − 0.5) · step` would round once instead of
//! twice and differ in the last bit. PV-Tuning (algorithms.md §4) then trains the continuous parts
//! (P-step) and the codes (V-step) of exactly these values.

use crate::format::Format;
use crate::grid_format::GridFormat;
use crate::scale::{GlobalScale, ScaleRule};
use crate::tensor::Encoded;
use crate::{FormatError, pack};

/// How one element is rebuilt from its level and its block's factors (f32, in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeRule {
    /// `(level · scale) · global` — grid formats (NVFP4, MXFP4, NF4, PO2, …) and symmetric INT
    /// (`global` = 1 unless the format has a tensor scale).
    Scaled,
    /// `(level − zero) · scale` — asymmetric INT (per-block zero point).
    ZeroPoint,
    /// `level · scale − scale · 0.5` — QuEST's centred grid (`scale` is the block's step).
    Centred,
}

/// An encoded tensor as codes, level tables and per-block factors.
#[derive(Debug, Clone, PartialEq)]
pub struct CodedParts {
    /// Rows of the tensor.
    pub rows: usize,
    /// Values per row.
    pub cols: usize,
    /// Values per block (along a row).
    pub block: usize,
    /// Bits per code.
    pub code_bits: u32,
    /// How values are rebuilt.
    pub rule: DecodeRule,
    /// One code per element, row-major (`rows · cols`), an index into its block's level table.
    pub codes: Vec<u8>,
    /// Level tables, each `2^code_bits` levels in code order (one per grid of a multi-grid format).
    pub tables: Vec<Vec<f32>>,
    /// The level table of every block, block after block (`rows · cols / block`).
    pub table_of_block: Vec<u8>,
    /// The first decode factor of every block (block scale, or QuEST's step).
    pub scales: Vec<f32>,
    /// Zero point of every block ([`DecodeRule::ZeroPoint`]; empty otherwise).
    pub zeros: Vec<f32>,
    /// The tensor-wide second factor of formats that have one (NVFP4's global decode scale),
    /// present whenever the format has it — even when it happens to be 1 — so a layer's
    /// parameter set depends on the format, never on the data.
    pub global: Option<f32>,
    /// Kept elements of a sparse composition (`None`: dense); dropped ones decode to +0.
    pub mask: Option<Vec<bool>>,
}

impl CodedParts {
    /// Blocks in the tensor.
    pub fn blocks(&self) -> usize {
        self.scales.len()
    }

    /// Decodes the parts on the host by [`DecodeRule`] (the reference the tensor decode of a
    /// coded layer is tested against).
    pub fn decode(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.codes.len());
        for (i, &c) in self.codes.iter().enumerate() {
            let b = i / self.block;
            let level = self.tables[self.table_of_block[b] as usize][c as usize];
            let s = self.scales[b];
            let v = match self.rule {
                DecodeRule::Scaled => (level * s) * self.global.unwrap_or(1.0),
                DecodeRule::ZeroPoint => (level - self.zeros[b]) * s,
                DecodeRule::Centred => level * s - s * 0.5,
            };
            let keep = self.mask.as_ref().is_none_or(|m| m[i]);
            out.push(if keep { v } else { 0.0 });
        }
        out
    }
}

fn corrupt(format: &Format, reason: impl Into<String>) -> FormatError {
    FormatError::CorruptEncoding {
        format: format.name(),
        reason: reason.into(),
    }
}

fn grid_parts(g: &GridFormat, e: &Encoded) -> Result<CodedParts, FormatError> {
    let n = e.len();
    let bits = g.grids[0].code_bits();
    let stride = g.scale_stride();
    let global = match (g.scale, e.tensor_scale) {
        (ScaleRule::E4m3Global, Some(dec)) => GlobalScale {
            enc: 1.0 / dec,
            dec,
        },
        (ScaleRule::E4m3Global, None) => {
            return Err(FormatError::CorruptEncoding {
                format: g.name.clone(),
                reason: "missing tensor scale".into(),
            });
        }
        _ => GlobalScale::ONE,
    };
    let blocks = n / g.block;
    let mut scales = Vec::with_capacity(blocks);
    let mut table_of_block = Vec::with_capacity(blocks);
    for sb in e.scales.chunks(stride) {
        let (s, k) = g.load_scale(sb, global)?;
        scales.push(s.d1);
        table_of_block.push(k as u8);
    }
    Ok(CodedParts {
        rows: e.rows,
        cols: e.cols,
        block: g.block,
        code_bits: bits,
        rule: DecodeRule::Scaled,
        codes: pack::unpack(&e.codes, bits, n)?,
        tables: g.grids.iter().map(|gr| gr.table().to_vec()).collect(),
        table_of_block,
        scales,
        zeros: Vec::new(),
        global: (g.scale == ScaleRule::E4m3Global).then_some(global.dec),
        mask: None,
    })
}

impl Format {
    /// Unpacks `e` (an encoding of this format) into codes, level tables and per-block factors
    /// whose [`CodedParts::decode`] equals [`Format::decode`] bit for bit.
    ///
    /// # Errors
    /// [`FormatError::CorruptEncoding`] if `e` does not match the format;
    /// [`FormatError::InvalidParameter`] for plain sparsity, whose survivors are f32 values, not
    /// codes (keep such a weight latent).
    pub fn coded_parts(&self, e: &Encoded) -> Result<CodedParts, FormatError> {
        let n = e.len();
        let block = self.block_size();
        if e.cols == 0 || e.cols % block != 0 {
            return Err(corrupt(
                self,
                format!("{} columns are not a multiple of block {block}", e.cols),
            ));
        }
        let mut parts = match self {
            Format::Grid(g) => {
                if e.scales.len() != n / g.block * g.scale_stride() {
                    return Err(corrupt(self, "wrong number of scale bytes"));
                }
                grid_parts(g, e)?
            }
            Format::Int(i) => {
                let stride = if i.symmetric() { 4 } else { 5 };
                if e.scales.len() != n / i.block() * stride {
                    return Err(corrupt(self, "wrong number of scale bytes"));
                }
                let mut scales = Vec::with_capacity(n / i.block());
                let mut zeros = Vec::new();
                for sb in e.scales.chunks(stride) {
                    scales.push(f32::from_le_bytes([sb[0], sb[1], sb[2], sb[3]]));
                    if !i.symmetric() {
                        zeros.push(sb[4] as f32);
                    }
                }
                CodedParts {
                    rows: e.rows,
                    cols: e.cols,
                    block: i.block(),
                    code_bits: i.bits(),
                    rule: if i.symmetric() {
                        DecodeRule::Scaled
                    } else {
                        DecodeRule::ZeroPoint
                    },
                    codes: pack::unpack(&e.codes, i.bits(), n)?,
                    tables: vec![(0..1u32 << i.bits()).map(|c| i.q_of(c as u8)).collect()],
                    table_of_block: vec![0; scales.len()],
                    scales,
                    zeros,
                    global: None,
                    mask: None,
                }
            }
            Format::Quest(q) => {
                let g = q.block_len(e.cols);
                if e.scales.len() != n / g * 4 {
                    return Err(corrupt(self, "wrong number of scale bytes"));
                }
                let half = (1u32 << (q.bits() - 1)) as f32;
                let scales: Vec<f32> = e
                    .scales
                    .chunks(4)
                    .map(|sb| q.step_of(f32::from_le_bytes([sb[0], sb[1], sb[2], sb[3]])))
                    .collect();
                CodedParts {
                    rows: e.rows,
                    cols: e.cols,
                    block: g,
                    code_bits: q.bits(),
                    rule: DecodeRule::Centred,
                    codes: pack::unpack(&e.codes, q.bits(), n)?,
                    tables: vec![
                        (0..1u32 << q.bits())
                            .map(|c| c as f32 - half + 1.0)
                            .collect(),
                    ],
                    table_of_block: vec![0; scales.len()],
                    scales,
                    zeros: Vec::new(),
                    global: None,
                    mask: None,
                }
            }
            Format::Sparse(_) => {
                return Err(FormatError::InvalidParameter {
                    format: self.name(),
                    reason: "plain sparsity keeps f32 survivors, not codes; a coded weight needs \
                             a quantizer (e.g. `2of4+nvfp4`)"
                        .into(),
                });
            }
            Format::SparseQuant { quant, .. } => {
                let m = match &e.mask {
                    Some(m) if m.len() == n.div_ceil(8) => pack::unpack_mask(m, n),
                    _ => return Err(corrupt(self, "missing or short sparsity mask")),
                };
                let mut p = quant.coded_parts(e)?;
                p.mask = Some(m);
                p
            }
        };
        if parts.codes.len() != n {
            return Err(corrupt(self, format!("expected {n} codes")));
        }
        parts.rows = e.rows;
        Ok(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::BUILTIN_NAMES;

    fn data(n: usize) -> Vec<f32> {
        // Deterministic, signed, with outliers and exact zeros.
        (0..n)
            .map(|i| {
                let v = ((i * 7919 % 1009) as f32 - 504.0) / 97.0;
                match i % 61 {
                    0 => v * 40.0,
                    1 => 0.0,
                    _ => v,
                }
            })
            .collect()
    }

    #[test]
    fn parts_decode_bit_equal_to_the_format_for_every_builtin_and_more() {
        let mut names: Vec<String> = BUILTIN_NAMES.iter().map(|s| s.to_string()).collect();
        names.extend(
            [
                "int3:block=32,asym",
                "int8:block=32",
                "quest-int2:block=32",
                "2of4+nvfp4",
                "pairs4of8+int4:asym",
                "2of4+quest-int4",
                "mxfp4:block=64",
            ]
            .map(String::from),
        );
        let x = data(8 * 256);
        for name in names {
            let f = Format::parse(&name).unwrap();
            let e = f.encode(&x, 256).unwrap();
            let want = f.decode(&e).unwrap();
            match f.coded_parts(&e) {
                Ok(p) => {
                    let got = p.decode();
                    assert_eq!(p.codes.len(), x.len(), "{name}");
                    assert_eq!(p.blocks() * p.block, x.len(), "{name}");
                    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                        assert_eq!(a.to_bits(), b.to_bits(), "{name} element {i}: {a} vs {b}");
                    }
                }
                Err(err) => {
                    assert!(matches!(f, Format::Sparse(_)), "{name}: {err}");
                }
            }
        }
    }

    #[test]
    fn multi_grid_formats_record_each_blocks_grid() {
        let f = Format::parse("po2-nf4").unwrap();
        let Format::Grid(g) = &f else { panic!() };
        let x = data(4 * 128);
        let e = f.encode(&x, 128).unwrap();
        let p = f.coded_parts(&e).unwrap();
        assert_eq!(p.tables.len(), 2);
        let sel: Vec<u8> = g.selectors(&e).into_iter().map(|k| k as u8).collect();
        assert_eq!(p.table_of_block, sel);
    }

    #[test]
    fn plain_sparsity_and_corrupt_encodings_are_errors() {
        let x = data(64);
        let s = Format::parse("2of4").unwrap();
        let e = s.encode(&x, 64).unwrap();
        assert!(
            s.coded_parts(&e)
                .unwrap_err()
                .to_string()
                .contains("quantizer")
        );
        let f = Format::parse("nvfp4").unwrap();
        let mut e = f.encode(&x, 64).unwrap();
        e.scales.pop();
        assert!(matches!(
            f.coded_parts(&e),
            Err(FormatError::CorruptEncoding { .. })
        ));
    }
}
