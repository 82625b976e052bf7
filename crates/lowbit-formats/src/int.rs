//! Integer block formats: symmetric absmax (`s = amax / (2^(b−1) − 1)`, FP-Quant) and asymmetric
//! min–max with an integer zero point (GPTQ `quant.py::find_params` convention: the range always
//! contains 0; an all-zero block uses [−1, 1]). Scales are f32. Semantics: FORMATS.md.

use crate::tensor::{Encoded, PAR_CHUNK, validate};
use crate::{FormatError, pack};
use rayon::prelude::*;

/// An INT-b block format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntFormat {
    /// Bits per value (2..=8).
    pub(crate) bits: u32,
    /// Values per block.
    pub(crate) block: usize,
    /// Symmetric absmax (true) or asymmetric min–max with a zero point (false).
    pub(crate) symmetric: bool,
}

/// Per-block parameters of an [`IntFormat`]: the f32 scale `s` and the zero point `z` (an
/// integer held as f32; 0 for symmetric formats). Decode is `(q − z)·s`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntScale {
    /// Scale `s`.
    pub s: f32,
    /// Zero point `z` (integer-valued, in `[0, 2^b − 1]`; 0 for symmetric formats).
    pub z: f32,
}

impl IntFormat {
    /// Builds and validates an integer format.
    pub fn new(bits: u32, block: usize, symmetric: bool) -> Result<Self, FormatError> {
        let f = Self {
            bits,
            block,
            symmetric,
        };
        if !(2..=8).contains(&bits) {
            return Err(FormatError::InvalidParameter {
                format: f.name(),
                reason: format!("bits must be in 2..=8, got {bits}"),
            });
        }
        if !(2..=1 << 20).contains(&block) {
            return Err(FormatError::InvalidParameter {
                format: f.name(),
                reason: format!("block must be in 2..=1048576, got {block}"),
            });
        }
        Ok(f)
    }

    /// Bits per value.
    pub fn bits(&self) -> u32 {
        self.bits
    }
    /// Values per block.
    pub fn block(&self) -> usize {
        self.block
    }
    /// Symmetric absmax (true) or asymmetric min–max (false).
    pub fn symmetric(&self) -> bool {
        self.symmetric
    }

    /// Canonical name, e.g. `int4`, `int4:block=64,asym`.
    pub fn name(&self) -> String {
        let mut params = Vec::new();
        if self.block != 32 {
            params.push(format!("block={}", self.block));
        }
        if !self.symmetric {
            params.push("asym".to_string());
        }
        if params.is_empty() {
            format!("int{}", self.bits)
        } else {
            format!("int{}:{}", self.bits, params.join(","))
        }
    }

    /// Code bits + f32 scale (+ 8-bit zero point) per block.
    pub fn bits_per_value(&self) -> f64 {
        let meta = if self.symmetric { 32.0 } else { 40.0 };
        self.bits as f64 + meta / self.block as f64
    }

    pub(crate) fn qmin(&self) -> f32 {
        if self.symmetric {
            -((1i32 << (self.bits - 1)) as f32)
        } else {
            0.0
        }
    }

    pub(crate) fn qmax(&self) -> f32 {
        if self.symmetric {
            ((1i32 << (self.bits - 1)) - 1) as f32
        } else {
            ((1i32 << self.bits) - 1) as f32
        }
    }

    fn scale_stride(&self) -> usize {
        if self.symmetric { 4 } else { 5 }
    }

    #[inline]
    pub(crate) fn block_scale(&self, x: &[f32]) -> IntScale {
        if self.symmetric {
            let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            IntScale {
                s: amax / self.qmax(),
                z: 0.0,
            }
        } else {
            let (mut lo, mut hi) = x
                .iter()
                .fold((0.0f32, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            if lo == 0.0 && hi == 0.0 {
                lo = -1.0;
                hi = 1.0;
            }
            let s = (hi - lo) / self.qmax();
            // A range below (2^b − 1)·2^−149 underflows s to 0; z = 0 then (−lo/0 would be NaN).
            let z = if s == 0.0 {
                0.0
            } else {
                (-lo / s).round_ties_even().clamp(0.0, self.qmax())
            };
            IntScale { s, z }
        }
    }

    /// q as a float in [qmin, qmax].
    #[inline(always)]
    pub(crate) fn quant(&self, p: IntScale, v: f32) -> f32 {
        if p.s == 0.0 {
            return 0.0;
        }
        // `+ 0.0` turns a rounded −0 into the integer 0, so fake_quant equals decode∘encode.
        (v / p.s + p.z)
            .round_ties_even()
            .clamp(self.qmin(), self.qmax())
            + 0.0
    }

    #[inline(always)]
    pub(crate) fn dequant(p: IntScale, q: f32) -> f32 {
        (q - p.z) * p.s
    }

    fn code_of(&self, q: f32) -> u8 {
        ((q as i32) & ((1 << self.bits) - 1)) as u8
    }

    pub(crate) fn q_of(&self, code: u8) -> f32 {
        if self.symmetric {
            let shift = 32 - self.bits;
            (((code as i32) << shift) >> shift) as f32
        } else {
            code as f32
        }
    }

    fn store(&self, p: IntScale, out: &mut [u8]) {
        out[..4].copy_from_slice(&p.s.to_le_bytes());
        if !self.symmetric {
            out[4] = p.z as u8;
        }
    }

    fn load(&self, b: &[u8]) -> IntScale {
        IntScale {
            s: f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            z: if self.symmetric { 0.0 } else { b[4] as f32 },
        }
    }

    /// Encodes a `[len / cols, cols]` tensor.
    pub fn encode(&self, x: &[f32], cols: usize) -> Result<Encoded, FormatError> {
        let rows = validate(x, cols, self.block, &self.name())?;
        let stride = self.scale_stride();
        let mut codes = vec![0u8; x.len()];
        let mut scales = vec![0u8; x.len() / self.block * stride];
        let chunk = PAR_CHUNK.div_ceil(self.block) * self.block;
        x.par_chunks(chunk)
            .zip(codes.par_chunks_mut(chunk))
            .zip(scales.par_chunks_mut(chunk / self.block * stride))
            .for_each(|((xc, cc), sc)| {
                for ((xb, cb), sb) in xc
                    .chunks(self.block)
                    .zip(cc.chunks_mut(self.block))
                    .zip(sc.chunks_mut(stride))
                {
                    let p = self.block_scale(xb);
                    for (c, &v) in cb.iter_mut().zip(xb) {
                        *c = self.code_of(self.quant(p, v));
                    }
                    self.store(p, sb);
                }
            });
        Ok(Encoded {
            format: self.name(),
            rows,
            cols,
            code_bits: self.bits,
            codes: pack::pack(&codes, self.bits),
            scales,
            tensor_scale: None,
            mask: None,
        })
    }

    /// Decodes an encoding of this format.
    pub fn decode(&self, e: &Encoded) -> Result<Vec<f32>, FormatError> {
        let n = e.len();
        let stride = self.scale_stride();
        if e.cols % self.block != 0 || e.scales.len() != n / self.block * stride {
            return Err(FormatError::CorruptEncoding {
                format: self.name(),
                reason: format!(
                    "expected {} scale bytes for {n} values, found {}",
                    n / self.block * stride,
                    e.scales.len()
                ),
            });
        }
        let codes = pack::unpack(&e.codes, self.bits, n)?;
        let mut out = vec![0f32; n];
        for ((ob, cb), sb) in out
            .chunks_mut(self.block)
            .zip(codes.chunks(self.block))
            .zip(e.scales.chunks(stride))
        {
            let p = self.load(sb);
            for (o, &c) in ob.iter_mut().zip(cb) {
                *o = Self::dequant(p, self.q_of(c));
            }
        }
        Ok(out)
    }

    /// Fast in-place fake quantization.
    pub fn fake_quant(&self, x: &mut [f32], cols: usize) -> Result<(), FormatError> {
        validate(x, cols, self.block, &self.name())?;
        let chunk = PAR_CHUNK.div_ceil(self.block) * self.block;
        x.par_chunks_mut(chunk).for_each(|xc| {
            for xb in xc.chunks_mut(self.block) {
                let p = self.block_scale(xb);
                for v in xb.iter_mut() {
                    *v = Self::dequant(p, self.quant(p, *v));
                }
            }
        });
        Ok(())
    }

    /// Reference fake quantization: a scalar loop written straight from the formulas.
    pub fn fake_quant_reference(&self, x: &mut [f32], cols: usize) -> Result<(), FormatError> {
        validate(x, cols, self.block, &self.name())?;
        let qmax = if self.symmetric {
            (2i32.pow(self.bits - 1) - 1) as f32
        } else {
            (2i32.pow(self.bits) - 1) as f32
        };
        let qmin = if self.symmetric { -qmax - 1.0 } else { 0.0 };
        for block in x.chunks_mut(self.block) {
            let (s, z) = if self.symmetric {
                let mut amax = 0.0f32;
                for &v in block.iter() {
                    amax = if v.abs() > amax { v.abs() } else { amax };
                }
                (amax / qmax, 0.0f32)
            } else {
                let mut lo = 0.0f32;
                let mut hi = 0.0f32;
                for &v in block.iter() {
                    lo = if v < lo { v } else { lo };
                    hi = if v > hi { v } else { hi };
                }
                if lo == 0.0 && hi == 0.0 {
                    (lo, hi) = (-1.0, 1.0);
                }
                let s = (hi - lo) / qmax;
                let z = if s == 0.0 {
                    0.0
                } else {
                    (-lo / s).round_ties_even().max(0.0).min(qmax)
                };
                (s, z)
            };
            for v in block.iter_mut() {
                let q = if s == 0.0 {
                    0.0
                } else {
                    (*v / s + z).round_ties_even().max(qmin).min(qmax) + 0.0 // integer q: no −0
                };
                *v = (q - z) * s;
            }
        }
        Ok(())
    }
}
