//! Block scale rules: how a block's amax becomes a stored scale and the factors that map values
//! onto a grid and back (FORMATS.md "Block scale rules").

use crate::elem::e4m3::{e4m3_to_f32, f32_to_e4m3, f32_to_e4m3_even_lattice};
use crate::elem::e8m0::{MxRounding, exponent_to_byte, pow2, shared_exponent};

/// How block scales are chosen and stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ScaleRule {
    /// One f32 scale per block, `amax / M` (4 bytes).
    F32,
    /// OCP MX power-of-two scale, one E8M0 byte per block.
    E8m0(MxRounding),
    /// NVFP4 two-level scaling: E4M3 block scale and an f32 tensor scale (TransformerEngine).
    E4m3Global,
}

impl ScaleRule {
    /// Stored bytes per block for the scale itself (selector bytes excluded).
    pub fn bytes_per_block(&self) -> usize {
        match self {
            ScaleRule::F32 => 4,
            ScaleRule::E8m0(_) | ScaleRule::E4m3Global => 1,
        }
    }

    /// The name used in grid files and format names.
    pub fn name(&self) -> &'static str {
        match self {
            ScaleRule::F32 => "f32",
            ScaleRule::E8m0(MxRounding::Floor) => "e8m0",
            ScaleRule::E8m0(MxRounding::Rceil) => "e8m0-rceil",
            ScaleRule::E8m0(MxRounding::Even) => "e8m0-even",
            ScaleRule::E4m3Global => "e4m3-global",
        }
    }

    /// Parses a name produced by [`ScaleRule::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "f32" => ScaleRule::F32,
            "e8m0" | "e8m0-floor" => ScaleRule::E8m0(MxRounding::Floor),
            "e8m0-rceil" => ScaleRule::E8m0(MxRounding::Rceil),
            "e8m0-even" => ScaleRule::E8m0(MxRounding::Even),
            "e4m3-global" | "e4m3" => ScaleRule::E4m3Global,
            _ => return None,
        })
    }
}

/// Tensor-level encode/decode factors of the NVFP4 two-level recipe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GlobalScale {
    /// `enc_g = 2688 / global_amax` (1 if amax is 0; f32::MAX if the quotient overflows).
    pub enc: f32,
    /// `dec_g = 1 / enc_g`, the stored tensor scale.
    pub dec: f32,
}

impl GlobalScale {
    /// TransformerEngine `compute_global_encode_scaling_factor_FP4`.
    pub fn from_amax(global_amax: f32) -> Self {
        let mut enc = (448.0f32 * 6.0) / global_amax;
        if global_amax == 0.0 || enc == 0.0 {
            enc = 1.0;
        }
        let enc = enc.min(f32::MAX);
        Self {
            enc,
            dec: 1.0 / enc,
        }
    }

    /// The identity (used by scale rules without a tensor scale).
    pub const ONE: Self = Self { enc: 1.0, dec: 1.0 };
}

/// How a block maps values onto the grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Enc {
    /// `v = x * f`.
    Mul(f32),
    /// `v = x / f`.
    Div(f32),
}

/// The scale of one block for one grid: how to encode and decode, and what is stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockScale {
    /// Value → grid coordinate.
    pub enc: Enc,
    /// Decode is `(level * d1) * d2` in f32.
    pub d1: f32,
    /// Second decode factor (the tensor scale for NVFP4, 1 otherwise: multiplying by 1 is exact).
    pub d2: f32,
    /// Stored bits: the scale byte, or the f32 bit pattern for F32.
    pub stored: u32,
}

impl BlockScale {
    /// Maps one value onto the grid's coordinate.
    #[inline(always)]
    pub fn scale(&self, x: f32) -> f32 {
        match self.enc {
            Enc::Mul(f) => x * f,
            Enc::Div(f) => x / f,
        }
    }

    /// Maps a slice of values onto the grid's coordinate (one branch per slice).
    #[inline]
    pub fn scale_slice(&self, x: &[f32], out: &mut [f32]) {
        match self.enc {
            Enc::Mul(f) => out.iter_mut().zip(x).for_each(|(o, &v)| *o = v * f),
            Enc::Div(f) => out.iter_mut().zip(x).for_each(|(o, &v)| *o = v / f),
        }
    }

    /// Decodes a grid level to a value.
    #[inline(always)]
    pub fn unscale(&self, level: f32) -> f32 {
        (level * self.d1) * self.d2
    }

    /// Computes the fast-path block scale for a block with absolute maximum `amax` and a grid of
    /// maximum magnitude `grid_max`. `coarse` selects the even-code E4M3 lattice (K ≥ 3 grids).
    #[inline]
    pub fn compute(
        rule: ScaleRule,
        amax: f32,
        grid_max: f32,
        global: GlobalScale,
        coarse: bool,
    ) -> Self {
        match rule {
            ScaleRule::F32 => {
                let s = amax / grid_max;
                BlockScale {
                    enc: if s == 0.0 { Enc::Mul(0.0) } else { Enc::Div(s) },
                    d1: s,
                    d2: 1.0,
                    stored: s.to_bits(),
                }
            }
            ScaleRule::E8m0(r) => {
                let e = shared_exponent(amax, grid_max, r);
                BlockScale {
                    enc: Enc::Mul(pow2(-e)),
                    d1: pow2(e),
                    d2: 1.0,
                    stored: exponent_to_byte(e) as u32,
                }
            }
            ScaleRule::E4m3Global => {
                let s_f32 = amax * (global.enc * (1.0f32 / grid_max));
                let byte = if coarse {
                    f32_to_e4m3_even_lattice(s_f32)
                } else {
                    f32_to_e4m3(s_f32)
                };
                Self::from_e4m3_byte(byte, global)
            }
        }
    }

    /// Rebuilds the factors of an E4M3 block scale byte (selector bits already removed).
    #[inline]
    pub fn from_e4m3_byte(byte: u8, global: GlobalScale) -> Self {
        let s = e4m3_to_f32(byte);
        let enc = (1.0f32 / (s * global.dec)).min(f32::MAX);
        BlockScale {
            enc: Enc::Mul(enc),
            d1: s,
            d2: global.dec,
            stored: byte as u32,
        }
    }
}
