//! [`Format`]: every lowbit number format behind one type — grid formats (NVFP4, MXFP4, NF4,
//! PO2…), integer formats, sparsity, and sparsity composed with quantization.

use crate::grid_format::GridFormat;
use crate::int::IntFormat;
use crate::quest::QuestFormat;
use crate::sparse::Sparsity;
use crate::tensor::{Encoded, validate};
use crate::{FormatError, pack};

/// A number format.
#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    /// Block format over one or more grids.
    Grid(GridFormat),
    /// Integer block format.
    Int(IntFormat),
    /// QuEST's RMS-clipped centred grid (`quest-intB`).
    Quest(QuestFormat),
    /// Magnitude sparsity with dense (f32) survivors.
    Sparse(Sparsity),
    /// Sparsity composed with quantization: `x̂ = M ⊙ Q(M ⊙ x)`.
    SparseQuant {
        /// The mask rule.
        sparsity: Sparsity,
        /// The quantizer of the survivors (a grid or integer format).
        quant: Box<Format>,
    },
}

/// The element type of stored block scales (for export, e.g. compressed-tensors names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleDtype {
    /// One E4M3 byte per block (NVFP4 family; selector bits may be set).
    E4m3,
    /// One E8M0 byte per block (MX).
    E8m0,
    /// One little-endian f32 per block.
    F32,
}

/// How [`Encoded::scales`] is laid out per block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScaleLayout {
    /// Scale element type.
    pub dtype: ScaleDtype,
    /// Bytes of the scale itself per block (1 or 4).
    pub scale_bytes: usize,
    /// Name of the one extra byte per block after the scale, if any: `"zero_point"` (asymmetric
    /// INT) or `"grid_index"` (multi-grid formats without spare scale bits).
    pub extra: Option<&'static str>,
}

impl ScaleLayout {
    /// Bytes per block in total.
    pub fn stride(&self) -> usize {
        self.scale_bytes + self.extra.is_some() as usize
    }
}

impl Format {
    /// Scale layout of quantizing formats; `None` for pure sparsity.
    pub fn scale_layout(&self) -> Option<ScaleLayout> {
        match self {
            Format::Grid(g) => {
                let (dtype, scale_bytes) = match g.scale_rule() {
                    crate::ScaleRule::E4m3Global => (ScaleDtype::E4m3, 1),
                    crate::ScaleRule::E8m0(_) => (ScaleDtype::E8m0, 1),
                    crate::ScaleRule::F32 => (ScaleDtype::F32, 4),
                };
                let extra = (g.scale_stride() > scale_bytes).then_some("grid_index");
                Some(ScaleLayout {
                    dtype,
                    scale_bytes,
                    extra,
                })
            }
            Format::Int(i) => Some(ScaleLayout {
                dtype: ScaleDtype::F32,
                scale_bytes: 4,
                extra: (!i.symmetric).then_some("zero_point"),
            }),
            Format::Quest(_) => Some(ScaleLayout {
                dtype: ScaleDtype::F32,
                scale_bytes: 4,
                extra: None,
            }),
            Format::Sparse(_) => None,
            Format::SparseQuant { quant, .. } => quant.scale_layout(),
        }
    }

    /// Bits per stored code (4 → two codes per byte), or `None` for pure sparsity.
    pub fn code_bits(&self) -> Option<u32> {
        match self {
            Format::Grid(g) => Some(g.grids()[0].code_bits()),
            Format::Int(i) => Some(i.bits),
            Format::Quest(q) => Some(q.bits),
            Format::Sparse(_) => None,
            Format::SparseQuant { quant, .. } => quant.code_bits(),
        }
    }

    /// Canonical name (parses back to the same format).
    pub fn name(&self) -> String {
        match self {
            Format::Grid(g) => g.name().to_string(),
            Format::Int(i) => i.name(),
            Format::Quest(q) => q.name(),
            Format::Sparse(s) => s.name(),
            Format::SparseQuant { sparsity, quant } => {
                format!("{}+{}", sparsity.name(), quant.name())
            }
        }
    }

    /// The row length must be a multiple of this (1 for formats with row statistics).
    pub fn block_size(&self) -> usize {
        match self {
            Format::Grid(g) => g.block(),
            Format::Int(i) => i.block,
            Format::Quest(q) => q.block.unwrap_or(1),
            Format::Sparse(s) => s.group(),
            Format::SparseQuant { sparsity, quant } => lcm(sparsity.group(), quant.block_size()),
        }
    }

    /// Stored bits per value, scales and metadata included (FORMATS.md "Bits per value").
    pub fn bits_per_value(&self) -> f64 {
        match self {
            Format::Grid(g) => g.bits_per_value(),
            Format::Int(i) => i.bits_per_value(),
            Format::Quest(q) => q.bits_per_value(),
            Format::Sparse(s) => s.mask_bits_per_value() + s.density() * 16.0,
            Format::SparseQuant { sparsity, quant } => {
                sparsity.mask_bits_per_value() + sparsity.density() * quant.bits_per_value()
            }
        }
    }

    /// Encodes a `[len / cols, cols]` tensor (fast path).
    pub fn encode(&self, x: &[f32], cols: usize) -> Result<Encoded, FormatError> {
        match self {
            Format::Grid(g) => g.encode(x, cols),
            Format::Int(i) => i.encode(x, cols),
            Format::Quest(q) => q.encode(x, cols),
            Format::Sparse(s) => {
                let mask = s.mask(x, cols)?;
                let kept: Vec<u8> = x
                    .iter()
                    .zip(&mask)
                    .filter(|(_, k)| **k)
                    .flat_map(|(v, _)| v.to_le_bytes())
                    .collect();
                Ok(Encoded {
                    format: self.name(),
                    rows: x.len() / cols,
                    cols,
                    code_bits: 32,
                    codes: kept,
                    scales: Vec::new(),
                    tensor_scale: None,
                    mask: Some(pack::pack_mask(&mask)),
                })
            }
            Format::SparseQuant { sparsity, quant } => {
                validate(x, cols, self.block_size(), &self.name())?;
                let mask = sparsity.mask(x, cols)?;
                let masked = apply_mask(x, &mask);
                let mut e = quant.encode(&masked, cols)?;
                e.format = self.name();
                e.mask = Some(pack::pack_mask(&mask));
                Ok(e)
            }
        }
    }

    /// Decodes an encoding of this format.
    pub fn decode(&self, e: &Encoded) -> Result<Vec<f32>, FormatError> {
        let n = e.len();
        let mask = |e: &Encoded| -> Result<Vec<bool>, FormatError> {
            match &e.mask {
                Some(m) if m.len() == n.div_ceil(8) => Ok(pack::unpack_mask(m, n)),
                _ => Err(FormatError::CorruptEncoding {
                    format: self.name(),
                    reason: format!("missing or short sparsity mask for {n} values"),
                }),
            }
        };
        match self {
            Format::Grid(g) => g.decode(e),
            Format::Int(i) => i.decode(e),
            Format::Quest(q) => q.decode(e),
            Format::Sparse(_) => {
                let m = mask(e)?;
                let kept = m.iter().filter(|k| **k).count();
                if e.codes.len() != kept * 4 {
                    return Err(FormatError::CorruptEncoding {
                        format: self.name(),
                        reason: format!(
                            "{kept} kept values need {} bytes, found {}",
                            kept * 4,
                            e.codes.len()
                        ),
                    });
                }
                let mut vals = e
                    .codes
                    .chunks(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                Ok(m.iter()
                    .map(|&k| if k { vals.next().unwrap_or(0.0) } else { 0.0 })
                    .collect())
            }
            Format::SparseQuant { quant, .. } => {
                let m = mask(e)?;
                let v = quant.decode(e)?;
                Ok(apply_mask(&v, &m))
            }
        }
    }

    /// Quantizes and dequantizes in place (fast path).
    pub fn fake_quant(&self, x: &mut [f32], cols: usize) -> Result<(), FormatError> {
        match self {
            Format::Grid(g) => g.fake_quant(x, cols),
            Format::Int(i) => i.fake_quant(x, cols),
            Format::Quest(q) => q.fake_quant(x, cols),
            Format::Sparse(s) => {
                let m = s.mask(x, cols)?;
                zero_pruned(x, &m);
                Ok(())
            }
            Format::SparseQuant { sparsity, quant } => {
                validate(x, cols, self.block_size(), &self.name())?;
                let m = sparsity.mask(x, cols)?;
                zero_pruned(x, &m);
                quant.fake_quant(x, cols)?;
                zero_pruned(x, &m);
                Ok(())
            }
        }
    }

    /// Slow reference fake quantization (scalar loops, reference casts, sorting masks).
    pub fn fake_quant_reference(&self, x: &mut [f32], cols: usize) -> Result<(), FormatError> {
        match self {
            Format::Grid(g) => g.fake_quant_reference(x, cols),
            Format::Int(i) => i.fake_quant_reference(x, cols),
            Format::Quest(q) => q.fake_quant_reference(x, cols),
            Format::Sparse(s) => {
                let m = s.mask_reference(x, cols)?;
                zero_pruned(x, &m);
                Ok(())
            }
            Format::SparseQuant { sparsity, quant } => {
                validate(x, cols, self.block_size(), &self.name())?;
                let m = sparsity.mask_reference(x, cols)?;
                zero_pruned(x, &m);
                quant.fake_quant_reference(x, cols)?;
                zero_pruned(x, &m);
                Ok(())
            }
        }
    }

    /// Reference encode (grid formats use the slow path; others share the fast encoder, whose
    /// values are checked against the reference fake quantization).
    pub fn encode_reference(&self, x: &[f32], cols: usize) -> Result<Encoded, FormatError> {
        match self {
            Format::Grid(g) => g.encode_reference(x, cols),
            _ => self.encode(x, cols),
        }
    }
}

fn apply_mask(x: &[f32], m: &[bool]) -> Vec<f32> {
    x.iter()
        .zip(m)
        .map(|(&v, &k)| if k { v } else { 0.0 })
        .collect()
}

fn zero_pruned(x: &mut [f32], m: &[bool]) {
    for (v, &k) in x.iter_mut().zip(m) {
        if !k {
            *v = 0.0;
        }
    }
}

fn lcm(a: usize, b: usize) -> usize {
    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    a / gcd(a, b) * b
}
