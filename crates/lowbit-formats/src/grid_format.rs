//! `GridFormat { grids, block, scale, selection }`: one grid gives NVFP4 / MXFP4 / NF4; two or
//! more give the Grid Games families (PO2, MPO2, SFP4, Split87; Egiazarian et al. 2026,
//! arXiv 2605.12327) where each block picks its best grid and the choice lives in spare scale
//! bits. Semantics: FORMATS.md "Grids and grid formats". This file is the fast path;
//! `grid_reference.rs` is its slow twin.

use crate::grid::Grid;
use crate::scale::{BlockScale, GlobalScale, ScaleRule};
use crate::tensor::{Encoded, PAR_CHUNK, abs_max, abs_max_seq, validate};
use crate::{FormatError, pack};
use rayon::prelude::*;

/// Criterion for choosing among a block's candidate grids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Selection {
    /// Least sum of squared errors (lowbit's default).
    Sse,
    /// Least sum of absolute errors (TransformerEngine's Four-over-Six default).
    Sae,
}

/// A block format over one or more grids.
#[derive(Debug, Clone, PartialEq)]
pub struct GridFormat {
    pub(crate) name: String,
    pub(crate) grids: Vec<Grid>,
    pub(crate) block: usize,
    pub(crate) scale: ScaleRule,
    pub(crate) selection: Selection,
}

impl GridFormat {
    /// Builds a grid format. All grids must have the same code width; at most 4 grids with E4M3
    /// scales (the selector must fit the two spare bits) and at most 256 otherwise.
    pub fn new(
        name: impl Into<String>,
        grids: Vec<Grid>,
        block: usize,
        scale: ScaleRule,
        selection: Selection,
    ) -> Result<Self, FormatError> {
        let name = name.into();
        let bad = |reason: String| FormatError::InvalidParameter {
            format: name.clone(),
            reason,
        };
        if grids.is_empty() {
            return Err(bad("at least one grid is required".into()));
        }
        if !(2..=4096).contains(&block) || block % 2 != 0 {
            return Err(bad(format!(
                "block size {block} must be even and in 2..=4096"
            )));
        }
        if grids.iter().any(|g| g.code_bits() != grids[0].code_bits()) {
            return Err(bad("all grids must have the same number of levels".into()));
        }
        let max_k = if scale == ScaleRule::E4m3Global {
            4
        } else {
            256
        };
        if grids.len() > max_k {
            return Err(bad(format!(
                "{} grids do not fit the selector bits of {} scales (max {max_k})",
                grids.len(),
                scale.name()
            )));
        }
        Ok(Self {
            name,
            grids,
            block,
            scale,
            selection,
        })
    }

    /// Canonical name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The candidate grids.
    pub fn grids(&self) -> &[Grid] {
        &self.grids
    }
    /// Values per block.
    pub fn block(&self) -> usize {
        self.block
    }
    /// The block scale rule.
    pub fn scale_rule(&self) -> ScaleRule {
        self.scale
    }
    /// The grid selection criterion.
    pub fn selection(&self) -> Selection {
        self.selection
    }

    /// Bits per value including scale and selector bits (FORMATS.md "Bits per value").
    pub fn bits_per_value(&self) -> f64 {
        let code = self.grids[0].code_bits() as f64;
        let scale = 8.0 * self.scale.bytes_per_block() as f64;
        let k = self.grids.len();
        let selector = if k > 1 && self.scale != ScaleRule::E4m3Global {
            (k as f64).log2().ceil()
        } else {
            0.0
        };
        code + (scale + selector) / self.block as f64
    }

    /// E4M3 scales are cast to the even-code lattice when the mantissa LSB carries a selector bit.
    pub(crate) fn coarse(&self) -> bool {
        self.scale == ScaleRule::E4m3Global && self.grids.len() > 2
    }

    /// Bytes stored per block: the scale, plus a selector byte unless it hides in E4M3 bits.
    pub(crate) fn scale_stride(&self) -> usize {
        let sel = self.grids.len() > 1 && self.scale != ScaleRule::E4m3Global;
        self.scale.bytes_per_block() + sel as usize
    }

    /// The tensor-level scale (NVFP4 two-level recipe) of an input.
    pub(crate) fn global(&self, x: &[f32]) -> GlobalScale {
        match self.scale {
            ScaleRule::E4m3Global => GlobalScale::from_amax(abs_max(x)),
            _ => GlobalScale::ONE,
        }
    }

    /// Writes a block's stored scale and selector `k` into `out` (`scale_stride` bytes).
    pub(crate) fn store_scale(&self, s: &BlockScale, k: usize, out: &mut [u8]) {
        match self.scale {
            ScaleRule::E4m3Global => {
                let sel = ((k & 1) << 7) as u8 | ((k >> 1) & 1) as u8;
                out[0] = s.stored as u8 | sel;
            }
            ScaleRule::E8m0(_) => out[0] = s.stored as u8,
            ScaleRule::F32 => out[..4].copy_from_slice(&s.stored.to_le_bytes()),
        }
        if out.len() > self.scale.bytes_per_block() {
            out[self.scale.bytes_per_block()] = k as u8;
        }
    }

    /// The grid index stored in a block's scale bytes (FORMATS.md "Multi-grid selector"): bit 7
    /// of an E4M3 scale (and its mantissa LSB for K > 2), else the byte after the scale.
    fn selector_of(&self, bytes: &[u8]) -> usize {
        match self.scale {
            ScaleRule::E4m3Global => match self.grids.len() {
                1 => 0,
                2 => (bytes[0] >> 7) as usize,
                _ => ((bytes[0] >> 7) | ((bytes[0] & 1) << 1)) as usize,
            },
            _ => bytes
                .get(self.scale.bytes_per_block())
                .copied()
                .unwrap_or(0) as usize,
        }
    }

    /// The grid each block of `e` selected, block after block (all 0 for one grid).
    pub fn selectors(&self, e: &Encoded) -> Vec<usize> {
        e.scales
            .chunks(self.scale_stride())
            .map(|b| self.selector_of(b))
            .collect()
    }

    /// Reads a block's scale and selected grid back from its stored bytes.
    pub(crate) fn load_scale(
        &self,
        bytes: &[u8],
        global: GlobalScale,
    ) -> Result<(BlockScale, usize), FormatError> {
        let k = self.selector_of(bytes);
        let s = match self.scale {
            ScaleRule::E4m3Global => {
                let b = bytes[0];
                let mag = match self.grids.len() {
                    1 => b,
                    2 => b & 0x7F,
                    _ => b & 0x7E,
                };
                BlockScale::from_e4m3_byte(mag, global)
            }
            ScaleRule::E8m0(_) => {
                let v = crate::elem::e8m0::e8m0_to_f32(bytes[0]);
                BlockScale {
                    enc: crate::scale::Enc::Mul(1.0 / v),
                    d1: v,
                    d2: 1.0,
                    stored: bytes[0] as u32,
                }
            }
            ScaleRule::F32 => {
                let v = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                BlockScale {
                    enc: crate::scale::Enc::Div(v),
                    d1: v,
                    d2: 1.0,
                    stored: v.to_bits(),
                }
            }
        };
        if k >= self.grids.len() {
            return Err(FormatError::CorruptEncoding {
                format: self.name.clone(),
                reason: format!("selector {k} but the format has {} grids", self.grids.len()),
            });
        }
        Ok((s, k))
    }

    /// Fast path for one block: chooses the grid, writes codes, returns (scale, grid index).
    /// `scratch` holds at least 2·block bytes of codes and `vbuf` block f32s.
    #[inline]
    pub(crate) fn quant_block(
        &self,
        x: &[f32],
        global: GlobalScale,
        codes: &mut [u8],
        scratch: &mut [u8],
        vbuf: &mut [f32],
    ) -> (BlockScale, usize) {
        let n = x.len();
        let amax = abs_max_seq(x);
        let coarse = self.coarse();
        let v = &mut vbuf[..n];
        if self.grids.len() == 1 {
            let g = &self.grids[0];
            let s = BlockScale::compute(self.scale, amax, g.max_abs(), global, coarse);
            s.scale_slice(x, v);
            g.encode_slice(v, &mut codes[..n]);
            return (s, 0);
        }
        let mut best: Option<(f64, BlockScale, usize)> = None;
        let cand = &mut scratch[..n];
        for (k, g) in self.grids.iter().enumerate() {
            let s = BlockScale::compute(self.scale, amax, g.max_abs(), global, coarse);
            s.scale_slice(x, v);
            g.encode_slice(v, cand);
            let lv = g.table();
            let mut err = 0.0f64;
            match self.selection {
                Selection::Sse => {
                    for (&c, &xv) in cand.iter().zip(x) {
                        let d = xv as f64 - s.unscale(lv[c as usize]) as f64;
                        err += d * d;
                    }
                }
                Selection::Sae => {
                    for (&c, &xv) in cand.iter().zip(x) {
                        err += (xv as f64 - s.unscale(lv[c as usize]) as f64).abs();
                    }
                }
            }
            if best.as_ref().is_none_or(|b| err < b.0) {
                best = Some((err, s, k));
                codes[..n].copy_from_slice(cand);
            }
        }
        let (_, s, k) = best.expect("at least one grid");
        (s, k)
    }

    /// Encodes a `[len / cols, cols]` tensor (fast path).
    pub fn encode(&self, x: &[f32], cols: usize) -> Result<Encoded, FormatError> {
        let rows = validate(x, cols, self.block, &self.name)?;
        let global = self.global(x);
        let stride = self.scale_stride();
        let mut codes = vec![0u8; x.len()];
        let mut scales = vec![0u8; x.len() / self.block * stride];
        let chunk = PAR_CHUNK.max(self.block);
        x.par_chunks(chunk)
            .zip(codes.par_chunks_mut(chunk))
            .zip(scales.par_chunks_mut(chunk / self.block * stride))
            .for_each(|((xc, cc), sc)| {
                let mut scratch = vec![0u8; self.block];
                let mut vbuf = vec![0f32; self.block];
                for ((xb, cb), sb) in xc
                    .chunks(self.block)
                    .zip(cc.chunks_mut(self.block))
                    .zip(sc.chunks_mut(stride))
                {
                    let (s, k) = self.quant_block(xb, global, cb, &mut scratch, &mut vbuf);
                    self.store_scale(&s, k, sb);
                }
            });
        let bits = self.grids[0].code_bits();
        Ok(Encoded {
            format: self.name.clone(),
            rows,
            cols,
            code_bits: bits,
            codes: pack::pack(&codes, bits),
            scales,
            tensor_scale: (self.scale == ScaleRule::E4m3Global).then_some(global.dec),
            mask: None,
        })
    }

    /// Quantizes and dequantizes in place (fast path, = decode ∘ encode).
    pub fn fake_quant(&self, x: &mut [f32], cols: usize) -> Result<(), FormatError> {
        validate(x, cols, self.block, &self.name)?;
        let global = self.global(x);
        let chunk = PAR_CHUNK.max(self.block);
        x.par_chunks_mut(chunk).for_each(|xc| {
            let mut codes = vec![0u8; self.block];
            let mut scratch = vec![0u8; self.block];
            let mut vbuf = vec![0f32; self.block];
            for xb in xc.chunks_mut(self.block) {
                let (s, k) = self.quant_block(xb, global, &mut codes, &mut scratch, &mut vbuf);
                let lv = self.grids[k].table();
                for (v, &c) in xb.iter_mut().zip(&codes) {
                    *v = s.unscale(lv[c as usize]);
                }
            }
        });
        Ok(())
    }

    /// Decodes an [`Encoded`] produced by this format (or a compatible tool).
    pub fn decode(&self, e: &Encoded) -> Result<Vec<f32>, FormatError> {
        let n = e.len();
        let bits = self.grids[0].code_bits();
        let corrupt = |reason: String| FormatError::CorruptEncoding {
            format: self.name.clone(),
            reason,
        };
        if e.cols % self.block != 0 {
            return Err(corrupt(format!(
                "{} columns are not a multiple of block {}",
                e.cols, self.block
            )));
        }
        let stride = self.scale_stride();
        if e.scales.len() != n / self.block * stride {
            return Err(corrupt(format!(
                "expected {} scale bytes, found {}",
                n / self.block * stride,
                e.scales.len()
            )));
        }
        let global = match (self.scale, e.tensor_scale) {
            (ScaleRule::E4m3Global, Some(dec)) => GlobalScale {
                enc: 1.0 / dec,
                dec,
            },
            (ScaleRule::E4m3Global, None) => return Err(corrupt("missing tensor scale".into())),
            _ => GlobalScale::ONE,
        };
        let codes = pack::unpack(&e.codes, bits, n)?;
        let mut out = vec![0f32; n];
        for ((ob, cb), sb) in out
            .chunks_mut(self.block)
            .zip(codes.chunks(self.block))
            .zip(e.scales.chunks(stride))
        {
            let (s, k) = self.load_scale(sb, global)?;
            let g = &self.grids[k];
            for (o, &c) in ob.iter_mut().zip(cb) {
                *o = s.unscale(g.decode(c));
            }
        }
        Ok(out)
    }
}
