//! The quantizer interface GPTQ drives — tensor statistics once, parameters per group of
//! columns, then one column at a time — and its implementation over lowbit's formats.
//!
//! A GPTQ group of g columns is one block of every row (blocks run along the reduction
//! dimension d_in = GPTQ's columns), so for each row, quantizing the g columns of a group one
//! at a time with the group's parameters gives exactly what `Format::fake_quant` gives on that
//! block. [`FormatQuantizer`] guarantees this by calling lowbit-formats' own per-block and
//! per-value entry points (`block_params`, `quantize_value`), which share the encoder's code.

use crate::PtqError;
use crate::scale_search::{self, ScaleSearch};
use lowbit_formats::scale::GlobalScale;
use lowbit_formats::{Format, GridBlockParams, IntScale};

/// Parameters of one row's block (one row of one group).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BlockParams {
    /// Integer formats: f32 scale and zero point.
    Int(IntScale),
    /// Grid formats (NVFP4, MXFP4, NF4, multi-grid): block scale and chosen grid.
    Grid(GridBlockParams),
}

/// Parameters of one group: one [`BlockParams`] per row.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupParams(pub Vec<BlockParams>);

/// What GPTQ needs from a quantizer.
pub trait GroupQuantizer {
    /// The quantizer's name (the format name for [`FormatQuantizer`]).
    fn name(&self) -> String;

    /// Columns per group (= the format's block size).
    fn group_size(&self) -> usize;

    /// Tensor-level statistics, computed once from the original weight `w` (`[rows, cols]`
    /// row-major) before GPTQ changes anything (e.g. NVFP4's global scale).
    fn prepare(&mut self, w: &[f32], rows: usize, cols: usize);

    /// Per-row parameters of one group, `group` = the group's columns, row-major `[rows, g]`.
    fn params(&self, group: &[f32], rows: usize) -> GroupParams;

    /// Quantizes one column (`column[r]` = row r) with its group's parameters, writing the code
    /// and the dequantized value of every row.
    fn quantize(&self, column: &[f32], params: &GroupParams, codes: &mut [i32], values: &mut [f32]);
}

/// A [`GroupQuantizer`] over a lowbit [`Format`]: INT (symmetric or asymmetric, any bits, group
/// = block) and every grid format (NVFP4 with its E4M3 block scales and f32 tensor scale taken
/// in `prepare` from the original weight; MXFP4 with E8M0 scales; NF4; multi-grid formats such
/// as PO2 or SFP4, whose grid is chosen from the group's weights when the group starts).
///
/// Codes: INT gives the integer level q (signed for symmetric formats), grid formats the
/// element code (E2M1: the OCP code 0..15, −0 = 8).
#[derive(Debug, Clone, PartialEq)]
pub struct FormatQuantizer {
    format: Format,
    global: GlobalScale,
    search: ScaleSearch,
}

/// The formats [`FormatQuantizer`] accepts, in words (for [`PtqError::Unsupported`]).
pub const SUPPORTED: &str = "integer formats (intB, intB:asym, any block) and grid formats (nvfp4, mxfp4*, nf4, e2m1, multi-grid po2/sfp4/… families)";

impl FormatQuantizer {
    /// Wraps a format; QuEST and sparse formats are [`PtqError::Unsupported`].
    pub fn new(format: Format) -> Result<Self, PtqError> {
        match format {
            Format::Int(_) | Format::Grid(_) => Ok(Self {
                format,
                global: GlobalScale::ONE,
                search: ScaleSearch::Absmax,
            }),
            other => Err(PtqError::Unsupported {
                format: other.name(),
                supported: SUPPORTED,
            }),
        }
    }

    /// Parses a format name (`Format::parse`) and wraps it.
    pub fn parse(name: &str) -> Result<Self, PtqError> {
        Self::new(Format::parse(name)?)
    }

    /// Chooses block scales by `search` when a group starts (scale_search.rs; MR-GPTQ's MSE
    /// search with [`ScaleSearch::FP_QUANT`]). Invalid search parameters are
    /// [`PtqError::InvalidOption`].
    pub fn with_scale_search(mut self, search: ScaleSearch) -> Result<Self, PtqError> {
        search.validate()?;
        self.search = search;
        Ok(self)
    }

    /// The block-scale search in use.
    pub fn scale_search(&self) -> ScaleSearch {
        self.search
    }

    /// The wrapped format.
    pub fn format(&self) -> &Format {
        &self.format
    }

    /// The tensor-level scale set by the last `prepare` (identity for non-NVFP4 formats).
    pub fn tensor_scale(&self) -> GlobalScale {
        self.global
    }
}

impl GroupQuantizer for FormatQuantizer {
    fn name(&self) -> String {
        self.format.name()
    }

    fn group_size(&self) -> usize {
        self.format.block_size()
    }

    fn prepare(&mut self, w: &[f32], _rows: usize, _cols: usize) {
        if let Format::Grid(g) = &self.format {
            self.global = g.tensor_scale(w);
        }
    }

    fn params(&self, group: &[f32], rows: usize) -> GroupParams {
        let g = group.len() / rows.max(1);
        let blocks = group.chunks(g.max(1)).take(rows);
        // `new` admits only Int and Grid, for which `block_params` is always `Some`.
        GroupParams(
            blocks
                .filter_map(|b| {
                    scale_search::block_params(&self.format, b, self.global, &self.search)
                })
                .collect(),
        )
    }

    fn quantize(
        &self,
        column: &[f32],
        params: &GroupParams,
        codes: &mut [i32],
        values: &mut [f32],
    ) {
        let it = column
            .iter()
            .zip(&params.0)
            .zip(codes.iter_mut().zip(values));
        for ((&v, p), (c, o)) in it {
            (*c, *o) = match (&self.format, p) {
                (Format::Int(f), BlockParams::Int(s)) => f.quantize_value(*s, v),
                (Format::Grid(f), BlockParams::Grid(s)) => {
                    let (code, x) = f.quantize_value(s, v);
                    (code as i32, x)
                }
                // Parameters of another quantizer: no value (never produced by `params`).
                _ => (0, 0.0),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Group by group, column by column == fake_quant of the whole tensor, bit for bit.
    #[test]
    fn column_at_a_time_equals_fake_quant() {
        for name in [
            "int4",
            "int3:block=16,asym",
            "nvfp4",
            "mxfp4",
            "nf4",
            "po2-nf4",
        ] {
            let mut q = FormatQuantizer::parse(name).unwrap();
            let g = q.group_size();
            let (rows, cols) = (5, 3 * g);
            let w: Vec<f32> = (0..rows * cols)
                .map(|i| ((i * 2654435761usize % 1000) as f32 - 500.0) / 97.0)
                .collect();
            let mut want = w.clone();
            q.format().fake_quant(&mut want, cols).unwrap();
            q.prepare(&w, rows, cols);
            let mut got = vec![0f32; w.len()];
            for k in 0..cols / g {
                let grp: Vec<f32> = (0..rows)
                    .flat_map(|r| w[r * cols + k * g..r * cols + (k + 1) * g].to_vec())
                    .collect();
                let p = q.params(&grp, rows);
                for j in k * g..(k + 1) * g {
                    let col: Vec<f32> = (0..rows).map(|r| w[r * cols + j]).collect();
                    let (mut c, mut v) = (vec![0; rows], vec![0f32; rows]);
                    q.quantize(&col, &p, &mut c, &mut v);
                    (0..rows).for_each(|r| got[r * cols + j] = v[r]);
                }
            }
            let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{name}");
        }
    }

    #[test]
    fn unsupported_formats_are_named() {
        let e = FormatQuantizer::parse("quest-int4").unwrap_err();
        assert!(
            matches!(e, PtqError::Unsupported { ref format, .. } if format.starts_with("quest")),
            "{e}"
        );
    }
}
