//! The additive vector-quantization (AQLM) format name `vq:MxBgG` (paper §3, "MxB" notation of Table 1; spec §3.1): `M`
//! additive codebooks of `2^B` vectors of `G` consecutive input weights each.

use crate::FormatError;
use std::fmt;
use std::str::FromStr;

/// Largest accepted codebook count: the official code is used with M ≤ 8; 16 leaves room.
pub const MAX_CODEBOOKS: usize = 16;
/// Largest accepted bits per code: 2^16 entries is the paper's largest codebook (1x16).
pub const MAX_BITS: u32 = 16;
/// Largest accepted group (the paper uses g8 and g16).
pub const MAX_GROUP: usize = 1024;

/// An additive vector-quantization format: `M` codebooks of `2^B` vectors of `G` weights.
///
/// One group of `G` consecutive input weights of a row is `s_r · Σ_m C_m[b_m]`, i.e. costs
/// `M·B` bits plus the amortised codebooks and one scale per row (paper §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VqSpec {
    /// `M`, the number of additive codebooks.
    pub num_codebooks: usize,
    /// `B`, bits per code (codebook size `2^B`).
    pub nbits: u32,
    /// `G`, weights per group (the official `in_group_size`; out_group_size is 1).
    pub group: usize,
}

impl VqSpec {
    /// A spec from its parts, range-checked as [`VqSpec::parse`] does.
    pub fn new(num_codebooks: usize, nbits: u32, group: usize) -> Result<Self, FormatError> {
        let name = format!("vq:{num_codebooks}x{nbits}g{group}");
        let bad = |reason: String| FormatError::VqName {
            name: name.clone(),
            reason,
        };
        if !(1..=MAX_CODEBOOKS).contains(&num_codebooks) {
            return Err(bad(format!(
                "M = {num_codebooks} is outside 1..={MAX_CODEBOOKS}"
            )));
        }
        if !(1..=MAX_BITS).contains(&nbits) {
            return Err(bad(format!("B = {nbits} is outside 1..={MAX_BITS}")));
        }
        if !(1..=MAX_GROUP).contains(&group) {
            return Err(bad(format!("G = {group} is outside 1..={MAX_GROUP}")));
        }
        Ok(Self {
            num_codebooks,
            nbits,
            group,
        })
    }

    /// Parses `vq:MxBgG` (e.g. `vq:1x16g8`, `vq:2x8g8`); every failure is a
    /// [`FormatError::VqName`] that says what is wrong.
    pub fn parse(name: &str) -> Result<Self, FormatError> {
        let bad = |reason: &str| FormatError::VqName {
            name: name.to_string(),
            reason: reason.to_string(),
        };
        let body = name
            .strip_prefix("vq:")
            .ok_or_else(|| bad("missing the `vq:` prefix"))?;
        let (m, rest) = body
            .split_once('x')
            .ok_or_else(|| bad("missing `x` between M and B"))?;
        let (b, g) = rest
            .split_once('g')
            .ok_or_else(|| bad("missing `g` before the group size"))?;
        let num = |s: &str, what: &str| -> Result<usize, FormatError> {
            if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad(&format!("{what} = `{s}` is not a decimal number")));
            }
            s.parse::<usize>()
                .map_err(|_| bad(&format!("{what} = `{s}` is too large")))
        };
        let (m, b, g) = (num(m, "M")?, num(b, "B")?, num(g, "G")?);
        let b = u32::try_from(b).map_err(|_| bad("B is too large"))?;
        Self::new(m, b, g).map_err(|e| match e {
            FormatError::VqName { reason, .. } => FormatError::VqName {
                name: name.to_string(),
                reason,
            },
            other => other,
        })
    }

    /// Codebook size `K = 2^B`.
    pub fn codebook_size(&self) -> usize {
        1usize << self.nbits
    }

    /// Bits per weight of a `rows × cols` layer with 16-bit codebooks and scales (the official
    /// `estimate_nbits_per_parameter` with scale_nbits = 0; spec §3.1):
    /// `M·B/G + M·K·G·16/(rows·cols) + 16/cols`.
    pub fn bits_per_weight(&self, rows: usize, cols: usize) -> f64 {
        let (m, k, g) = (
            self.num_codebooks as f64,
            self.codebook_size() as f64,
            self.group as f64,
        );
        m * self.nbits as f64 / g
            + m * k * g * 16.0 / (rows as f64 * cols as f64)
            + 16.0 / cols as f64
    }
}

impl fmt::Display for VqSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vq:{}x{}g{}", self.num_codebooks, self.nbits, self.group)
    }
}

impl FromStr for VqSpec {
    type Err = FormatError;
    fn from_str(s: &str) -> Result<Self, FormatError> {
        Self::parse(s)
    }
}

impl VqSpec {
    /// Code bits per weight, `M·B/G` (codebooks and scales not charged).
    pub fn code_bits_per_value(&self) -> f64 {
        (self.num_codebooks as f64 * self.nbits as f64) / self.group as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_round_trips_and_rejects() {
        let s = VqSpec::parse("vq:1x16g8").unwrap();
        assert_eq!((s.num_codebooks, s.nbits, s.group), (1, 16, 8));
        assert_eq!(s.to_string(), "vq:1x16g8");
        assert_eq!(s.codebook_size(), 65536);
        assert_eq!(
            VqSpec::parse("vq:2x8g8").unwrap().code_bits_per_value(),
            2.0
        );
        for bad in [
            "vq:1x16",
            "1x16g8",
            "vq:0x8g8",
            "vq:1x17g8",
            "vq:axbgc",
            "vq:2x8g0",
        ] {
            let e = VqSpec::parse(bad).unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("vq:MxBgG"), "{e}");
        }
    }
}
