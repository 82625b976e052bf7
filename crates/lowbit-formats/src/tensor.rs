//! Input checks shared by every format and the [`Encoded`] container.

use crate::FormatError;
use rayon::prelude::*;

/// Values per parallel work item: large enough to amortise scheduling, small enough to balance
/// two cores on a 4096×4096 tensor. Always a multiple of every supported block size ≤ 4096.
pub(crate) const PAR_CHUNK: usize = 1 << 14;

/// A tensor encoded by a format: packed codes, scale bytes and the optional tensor scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    /// Canonical name of the format that produced it.
    pub format: String,
    /// Number of rows.
    pub rows: usize,
    /// Values per row (the reduction dimension).
    pub cols: usize,
    /// Bits per code before packing (4 → two codes per byte, element 2i in the low nibble).
    pub code_bits: u32,
    /// Packed codes (see FORMATS.md "Packing").
    pub codes: Vec<u8>,
    /// Per-block scale bytes (and selector / zero-point bytes), block after block.
    pub scales: Vec<u8>,
    /// The f32 tensor scale of two-level formats (NVFP4 family), stored as its decode factor.
    pub tensor_scale: Option<f32>,
    /// Sparsity bitmask (one bit per value, LSB first) of sparse formats.
    pub mask: Option<Vec<u8>>,
}

impl Encoded {
    /// Number of values.
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// Whether the tensor is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Checks the shape (`cols` divides the length, `block` divides `cols`) and that every value is
/// finite. Returns the number of rows.
pub(crate) fn validate(
    x: &[f32],
    cols: usize,
    block: usize,
    format: &str,
) -> Result<usize, FormatError> {
    if cols == 0 || x.len() % cols != 0 {
        return Err(FormatError::ShapeMismatch { len: x.len(), cols });
    }
    if cols % block != 0 {
        return Err(FormatError::BlockMismatch {
            format: format.to_string(),
            cols,
            block,
        });
    }
    // Branch-free scan per chunk (the exponent field is all ones only for NaN/Inf), then a
    // precise search inside the first bad chunk.
    let bad_chunk = x.par_chunks(PAR_CHUNK).position_first(|c| {
        c.iter().fold(0u32, |m, v| m.max(v.to_bits() & 0x7F80_0000)) == 0x7F80_0000
    });
    if let Some(ci) = bad_chunk {
        let start = ci * PAR_CHUNK;
        let off = x[start..]
            .iter()
            .position(|v| !v.is_finite())
            .unwrap_or_default();
        let index = start + off;
        return Err(FormatError::NonFinite {
            index,
            value: x[index],
        });
    }
    Ok(x.len() / cols)
}

/// Largest |x| (parallel; inputs are finite).
pub(crate) fn abs_max(x: &[f32]) -> f32 {
    x.par_chunks(PAR_CHUNK)
        .map(abs_max_seq)
        .reduce(|| 0.0, f32::max)
}

/// Largest |x|, sequential and vectorisable.
#[inline]
pub(crate) fn abs_max_seq(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}
