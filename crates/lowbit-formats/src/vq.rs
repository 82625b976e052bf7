//! Names of additive vector-quantization formats (AQLM, Egiazarian et al. 2024, §3):
//! `vq:MxBgG` — `M` codebooks of `2^B` vectors of `G` consecutive weights of a row, plus one
//! scale per output row. `vq:1x16g8` is the paper's 2-bit setting (16 code bits per 8
//! weights), `vq:2x8g8` its cheaper 2-bit alternative (two 8-bit codes per 8 weights).
//!
//! A VQ format is not a [`crate::Format`]: its levels are learned per layer (codebooks), so it
//! has no data-independent encode; the PTQ crate learns the codes and codebooks.

use crate::FormatError;

/// An additive VQ format `vq:MxBgG`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VqSpec {
    /// Codebooks summed per group (`M`).
    pub codebooks: usize,
    /// Bits per code (`B`): each codebook has `2^B` entries.
    pub bits: u32,
    /// Weights per group (`G`), consecutive along a row.
    pub group: usize,
}

impl VqSpec {
    /// Parses `vq:MxBgG` (e.g. `vq:1x16g8`).
    ///
    /// # Errors
    /// [`FormatError::UnknownFormat`] naming what is malformed, with an example.
    pub fn parse(name: &str) -> Result<Self, FormatError> {
        let bad = |reason: &str| FormatError::UnknownFormat {
            name: name.to_string(),
            reason: reason.to_string(),
            known: "vq:MxBgG, e.g. vq:1x16g8 (AQLM 2-bit), vq:2x8g8".into(),
        };
        let rest = name
            .strip_prefix("vq:")
            .ok_or_else(|| bad("a VQ format starts with `vq:`"))?;
        let (m, rest) = rest
            .split_once('x')
            .ok_or_else(|| bad("expected M x B g G"))?;
        let (b, g) = rest
            .split_once('g')
            .ok_or_else(|| bad("expected M x B g G"))?;
        let num = |s: &str, what: &str| -> Result<usize, FormatError> {
            s.parse::<usize>()
                .map_err(|_| bad(&format!("{what} `{s}` is not a number")))
        };
        let (m, b, g) = (num(m, "M")?, num(b, "B")?, num(g, "G")?);
        if m == 0 || m > 8 {
            return Err(bad("M (codebooks) must be 1..=8"));
        }
        if b == 0 || b > 16 {
            return Err(bad("B (bits per code) must be 1..=16"));
        }
        if g == 0 || g > 64 {
            return Err(bad("G (group size) must be 1..=64"));
        }
        Ok(Self {
            codebooks: m,
            bits: b as u32,
            group: g,
        })
    }

    /// The canonical name, `vq:MxBgG`.
    pub fn name(&self) -> String {
        format!("vq:{}x{}g{}", self.codebooks, self.bits, self.group)
    }

    /// Entries per codebook, `2^B`.
    pub fn entries(&self) -> usize {
        1 << self.bits
    }

    /// Code bits per weight, `M·B/G` (scales and codebooks not charged).
    pub fn code_bits_per_value(&self) -> f64 {
        (self.codebooks as f64 * self.bits as f64) / self.group as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_round_trips_and_rejects() {
        let s = VqSpec::parse("vq:1x16g8").unwrap();
        assert_eq!((s.codebooks, s.bits, s.group), (1, 16, 8));
        assert_eq!(s.name(), "vq:1x16g8");
        assert_eq!(s.entries(), 65536);
        assert_eq!(VqSpec::parse("vq:2x8g8").unwrap().code_bits_per_value(), 2.0);
        for bad in ["vq:1x16", "1x16g8", "vq:0x8g8", "vq:1x17g8", "vq:axbgc", "vq:2x8g0"] {
            let e = VqSpec::parse(bad).unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("vq:1x16g8"), "{e}");
        }
    }
}
