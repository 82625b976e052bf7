//! A grid: the set of levels a block's scaled values are rounded to.
//!
//! Either the OCP E2M1 element type (sign-magnitude codes, RNE, −0 kept) or a table of
//! 2^bits ascending levels (NF4, Split87, learned MPO2 grids…) with nearest-level rounding,
//! ties to the lower index. See FORMATS.md "Grids and grid formats".

use crate::FormatError;
use crate::elem::e2m1::{E2M1_MAX, E2M1_VALUES, e2m1_to_f32, f32_to_e2m1, f32_to_e2m1_reference};

/// One quantization grid.
#[derive(Debug, Clone, PartialEq)]
pub enum Grid {
    /// The OCP FP4 E2M1 element type.
    E2m1,
    /// Ascending table of levels, code = index.
    Table(TableGrid),
}

/// A table grid with precomputed f32 decision thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct TableGrid {
    levels: Vec<f32>,
    /// `up[i]` = smallest f32 strictly above the f64 midpoint of distinct levels i and i+1, so that
    /// `v > midpoint ⇔ v ≥ up[i]` with f32 compares only (the fast path's trick).
    up: Vec<f32>,
    /// Code of each distinct level (its first index in `levels`).
    first_code: Vec<u8>,
    max_abs: f32,
}

impl TableGrid {
    /// Builds a table grid; `levels` must be finite, ascending (ties allowed) and of length 2^b
    /// for b in 1..=8.
    pub fn new(levels: Vec<f32>) -> Result<Self, FormatError> {
        let bad = |reason: String| FormatError::InvalidParameter {
            format: "grid".into(),
            reason,
        };
        if !(2..=256).contains(&levels.len()) || !levels.len().is_power_of_two() {
            return Err(bad(format!(
                "a grid needs 2^b levels (b = 1..8), got {}",
                levels.len()
            )));
        }
        if let Some(i) = levels.iter().position(|v| !v.is_finite()) {
            return Err(bad(format!("level {i} is not finite")));
        }
        if levels.windows(2).any(|w| w[0] > w[1]) {
            return Err(bad("levels must be sorted ascending".into()));
        }
        let max_abs = levels.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        if max_abs == 0.0 {
            return Err(bad("all levels are zero".into()));
        }
        // Repeated levels (e.g. the two shifted zeros of SFP4) are never chosen over their first
        // copy (ties → lower index), so the fast path searches the distinct levels and maps back.
        let mut distinct: Vec<f32> = Vec::new();
        let mut first_code = Vec::new();
        for (i, &v) in levels.iter().enumerate() {
            if distinct.last() != Some(&v) {
                distinct.push(v);
                first_code.push(i as u8);
            }
        }
        let up = distinct
            .windows(2)
            .map(|w| smallest_f32_above((w[0] as f64 + w[1] as f64) / 2.0))
            .collect();
        Ok(Self {
            levels,
            up,
            first_code,
            max_abs,
        })
    }

    /// The levels, ascending.
    pub fn levels(&self) -> &[f32] {
        &self.levels
    }

    /// Fast nearest-level code: the number of midpoints strictly below `v`.
    #[inline(always)]
    pub fn code(&self, v: f32) -> u8 {
        let mut c = 0usize;
        for &u in &self.up {
            c += (v >= u) as usize;
        }
        self.first_code[c]
    }

    /// Reference nearest-level code: exact f64 distances, ties to the lower index.
    pub fn code_reference(&self, v: f32) -> u8 {
        let v = v.clamp(self.levels[0], self.levels[self.levels.len() - 1]);
        let mut best = 0usize;
        let mut best_d = f64::INFINITY;
        for (i, &g) in self.levels.iter().enumerate() {
            let d = (v as f64 - g as f64).abs();
            if d < best_d {
                best = i;
                best_d = d;
            }
        }
        best as u8
    }
}

/// The smallest f32 strictly greater than the f64 `m`.
fn smallest_f32_above(m: f64) -> f32 {
    let f = m as f32; // round to nearest
    let f = if (f as f64) > m { f } else { next_up(f) };
    // `m as f32` may have rounded up past a smaller candidate; step back while still above m.
    let mut g = f;
    loop {
        let prev = next_down(g);
        if (prev as f64) > m {
            g = prev;
        } else {
            return g;
        }
    }
}

fn next_up(x: f32) -> f32 {
    if x == 0.0 {
        return f32::from_bits(1);
    }
    let b = x.to_bits();
    f32::from_bits(if x > 0.0 { b + 1 } else { b - 1 })
}

fn next_down(x: f32) -> f32 {
    -next_up(-x)
}

impl Grid {
    /// A table grid from levels (see [`TableGrid::new`]).
    pub fn from_levels(levels: Vec<f32>) -> Result<Self, FormatError> {
        Ok(Grid::Table(TableGrid::new(levels)?))
    }

    /// Largest magnitude M of the grid (the block scale maps the block's amax onto it).
    pub fn max_abs(&self) -> f32 {
        match self {
            Grid::E2m1 => E2M1_MAX,
            Grid::Table(t) => t.max_abs,
        }
    }

    /// Bits per code.
    pub fn code_bits(&self) -> u32 {
        match self {
            Grid::E2m1 => 4,
            Grid::Table(t) => t.levels.len().trailing_zeros(),
        }
    }

    /// Fast encode of one scaled value.
    #[inline(always)]
    pub fn encode(&self, v: f32) -> u8 {
        match self {
            Grid::E2m1 => f32_to_e2m1(v),
            Grid::Table(t) => t.code(v),
        }
    }

    /// Reference encode of one scaled value.
    pub fn encode_reference(&self, v: f32) -> u8 {
        match self {
            Grid::E2m1 => f32_to_e2m1_reference(v),
            Grid::Table(t) => t.code_reference(v),
        }
    }

    /// Level of a code.
    #[inline(always)]
    pub fn decode(&self, code: u8) -> f32 {
        match self {
            Grid::E2m1 => e2m1_to_f32(code),
            Grid::Table(t) => t.levels[code as usize],
        }
    }

    /// Level of every code, in code order, without allocating (the decode table).
    #[inline]
    pub fn table(&self) -> &[f32] {
        match self {
            Grid::E2m1 => &E2M1_VALUES,
            Grid::Table(t) => &t.levels,
        }
    }

    /// Fast encode of a slice of scaled values: one branch per slice, not per value, so the
    /// inner loops vectorise (16 f32 lanes per AVX-512 compare for a block of 16).
    #[inline]
    pub fn encode_slice(&self, v: &[f32], codes: &mut [u8]) {
        match self {
            Grid::E2m1 => {
                for (c, &x) in codes.iter_mut().zip(v) {
                    *c = f32_to_e2m1(x);
                }
            }
            Grid::Table(t) => {
                codes.iter_mut().for_each(|c| *c = 0);
                for &u in &t.up {
                    for (c, &x) in codes.iter_mut().zip(v) {
                        *c += (x >= u) as u8;
                    }
                }
                for c in codes.iter_mut() {
                    *c = t.first_code[*c as usize];
                }
            }
        }
    }

    /// All levels in code order (E2M1: the 16 OCP codes including −0).
    pub fn levels(&self) -> Vec<f32> {
        match self {
            Grid::E2m1 => E2M1_VALUES.to_vec(),
            Grid::Table(t) => t.levels.clone(),
        }
    }

    /// The distinct levels ascending (for reports and plots).
    pub fn sorted_levels(&self) -> Vec<f32> {
        let mut v: Vec<f32> = match self {
            Grid::E2m1 => E2M1_VALUES[..8].iter().flat_map(|&x| [x, -x]).collect(),
            Grid::Table(t) => t.levels.clone(),
        };
        v.sort_by(f32::total_cmp);
        v.dedup_by(|a, b| a == b);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elem::nf4::NF4_VALUES;

    #[test]
    fn table_fast_equals_reference_at_midpoints() {
        let g = TableGrid::new(NF4_VALUES.to_vec()).unwrap();
        for w in NF4_VALUES.windows(2) {
            let m = ((w[0] as f64 + w[1] as f64) / 2.0) as f32;
            for v in [m, next_up(m), next_down(m), w[0], w[1]] {
                assert_eq!(g.code(v), g.code_reference(v), "v = {v}");
            }
        }
        assert_eq!(g.code(-5.0), 0);
        assert_eq!(g.code(5.0), 15);
    }

    #[test]
    fn rejects_bad_tables() {
        assert!(TableGrid::new(vec![1.0, 0.0]).is_err());
        assert!(TableGrid::new(vec![0.0, 1.0, 2.0]).is_err());
        assert!(TableGrid::new(vec![0.0, f32::NAN]).is_err());
    }
}
