//! Magnitude sparsity masks: unstructured (per tensor or per row), N:M along the reduction dim
//! (NVIDIA 2:4) and QuEST's 4:8 pairs (`FourEight`: 2 of every 4 pairs of 2 kept, by L2 norm).
//! Ranking is by |x| descending with ties to the lower index (what a stable sort, `argsort` or
//! `topk` gives). Semantics: FORMATS.md "Sparsity".

use crate::FormatError;
use crate::tensor::validate;
use rayon::prelude::*;

/// A sparsity pattern.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sparsity {
    /// Keep the `1 − ratio` fraction of largest magnitudes, per tensor or per row.
    Unstructured {
        /// Fraction of values set to zero, in [0, 1).
        ratio: f64,
        /// Rank within each row instead of the whole tensor.
        per_row: bool,
    },
    /// Keep `n` of every `m` consecutive values of a row.
    NOfM {
        /// Values kept per group.
        n: usize,
        /// Group size.
        m: usize,
    },
    /// QuEST FourEight: in each group of 8, keep the 2 of 4 pairs with the largest L2 norm.
    Pairs4Of8,
}

fn binomial(n: usize, k: usize) -> f64 {
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

impl Sparsity {
    /// Validates the parameters.
    pub fn validate(&self) -> Result<(), FormatError> {
        let bad = |reason: String| {
            Err(FormatError::InvalidParameter {
                format: self.name(),
                reason,
            })
        };
        match *self {
            Sparsity::Unstructured { ratio, .. } if !(0.0..1.0).contains(&ratio) => {
                bad(format!("ratio must be in [0, 1), got {ratio}"))
            }
            Sparsity::NOfM { n, m } if n == 0 || n > m || m > 64 => {
                bad(format!("need 0 < n ≤ m ≤ 64, got {n}:{m}"))
            }
            _ => Ok(()),
        }
    }

    /// Canonical name: `unstructured:ratio=0.5[,per_row]`, `2of4`, `pairs4of8`.
    pub fn name(&self) -> String {
        match *self {
            Sparsity::Unstructured { ratio, per_row } => {
                format!(
                    "unstructured:ratio={ratio}{}",
                    if per_row { ",per_row" } else { "" }
                )
            }
            Sparsity::NOfM { n, m } => format!("{n}of{m}"),
            Sparsity::Pairs4Of8 => "pairs4of8".into(),
        }
    }

    /// Fraction of values kept.
    pub fn density(&self) -> f64 {
        match *self {
            Sparsity::Unstructured { ratio, .. } => 1.0 - ratio,
            Sparsity::NOfM { n, m } => n as f64 / m as f64,
            Sparsity::Pairs4Of8 => 0.5,
        }
    }

    /// Metadata bits per value: a bitmask for unstructured, log2 C(m, n) / m for N:M.
    pub fn mask_bits_per_value(&self) -> f64 {
        match *self {
            Sparsity::Unstructured { .. } => 1.0,
            Sparsity::NOfM { n, m } => binomial(m, n).log2() / m as f64,
            Sparsity::Pairs4Of8 => binomial(4, 2).log2() / 8.0,
        }
    }

    /// Required divisor of the row length.
    pub fn group(&self) -> usize {
        match *self {
            Sparsity::Unstructured { .. } => 1,
            Sparsity::NOfM { m, .. } => m,
            Sparsity::Pairs4Of8 => 8,
        }
    }

    /// Fast mask (`true` = kept) of a `[len / cols, cols]` tensor.
    pub fn mask(&self, x: &[f32], cols: usize) -> Result<Vec<bool>, FormatError> {
        self.validate()?;
        validate(x, cols, self.group(), &self.name())?;
        let mut keep = vec![false; x.len()];
        match *self {
            Sparsity::Unstructured { ratio, per_row } => {
                let unit = if per_row { cols } else { x.len() };
                keep.par_chunks_mut(unit)
                    .zip(x.par_chunks(unit))
                    .for_each(|(k, xs)| top_k_select(xs, keep_count(ratio, xs.len()), k));
            }
            Sparsity::NOfM { n, m } => {
                keep.par_chunks_mut(m)
                    .zip(x.par_chunks(m))
                    .for_each(|(k, g)| rank_keep(g.iter().map(|v| v.abs() as f64), n, k));
            }
            Sparsity::Pairs4Of8 => {
                keep.par_chunks_mut(8)
                    .zip(x.par_chunks(8))
                    .for_each(|(k, g)| {
                        let norms = g.chunks(2).map(|p| pair_norm(p[0], p[1]));
                        let mut kp = [false; 4];
                        rank_keep(norms, 2, &mut kp);
                        for (i, kk) in k.iter_mut().enumerate() {
                            *kk = kp[i / 2];
                        }
                    });
            }
        }
        Ok(keep)
    }

    /// Reference mask: stable sort by magnitude descending, keep the first entries.
    pub fn mask_reference(&self, x: &[f32], cols: usize) -> Result<Vec<bool>, FormatError> {
        self.validate()?;
        validate(x, cols, self.group(), &self.name())?;
        let mut keep = vec![false; x.len()];
        let sorted_keep = |vals: Vec<f64>, k: usize| -> Vec<usize> {
            let mut idx: Vec<usize> = (0..vals.len()).collect();
            idx.sort_by(|&a, &b| vals[b].total_cmp(&vals[a])); // stable: ties keep index order
            idx.truncate(k);
            idx
        };
        match *self {
            Sparsity::Unstructured { ratio, per_row } => {
                let unit = if per_row { cols } else { x.len() };
                for (u, xs) in x.chunks(unit).enumerate() {
                    let vals = xs.iter().map(|v| v.abs() as f64).collect();
                    for i in sorted_keep(vals, keep_count(ratio, xs.len())) {
                        keep[u * unit + i] = true;
                    }
                }
            }
            Sparsity::NOfM { n, m } => {
                for (gi, g) in x.chunks(m).enumerate() {
                    for i in sorted_keep(g.iter().map(|v| v.abs() as f64).collect(), n) {
                        keep[gi * m + i] = true;
                    }
                }
            }
            Sparsity::Pairs4Of8 => {
                for (gi, g) in x.chunks(8).enumerate() {
                    let norms = g.chunks(2).map(|p| pair_norm(p[0], p[1])).collect();
                    for p in sorted_keep(norms, 2) {
                        keep[gi * 8 + 2 * p] = true;
                        keep[gi * 8 + 2 * p + 1] = true;
                    }
                }
            }
        }
        Ok(keep)
    }
}

/// Squared L2 norm of a pair in f64 (exact squares of f32 values).
fn pair_norm(a: f32, b: f32) -> f64 {
    (a as f64) * (a as f64) + (b as f64) * (b as f64)
}

/// `n − floor(ratio · n)` values survive.
fn keep_count(ratio: f64, n: usize) -> usize {
    n - (ratio * n as f64).floor() as usize
}

/// Keeps the `n` largest of a small group by rank counting (no sort): entry i is kept when fewer
/// than `n` entries beat it (larger, or equal with a lower index).
fn rank_keep(vals: impl Iterator<Item = f64>, n: usize, keep: &mut [bool]) {
    let mut v = [0f64; 64];
    let mut len = 0;
    for (i, x) in vals.enumerate() {
        v[i] = x;
        len = i + 1;
    }
    for i in 0..len {
        let beaten = (0..len)
            .filter(|&j| v[j] > v[i] || (v[j] == v[i] && j < i))
            .count();
        keep[i] = beaten < n;
    }
}

/// Keeps the `k` largest |x| with ties to the lower index, in O(n) by selection.
fn top_k_select(x: &[f32], k: usize, keep: &mut [bool]) {
    if k == 0 {
        return;
    }
    if k >= x.len() {
        keep.iter_mut().for_each(|v| *v = true);
        return;
    }
    let mut mags: Vec<f32> = x.iter().map(|v| v.abs()).collect();
    let (_, &mut t, _) = mags.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    let above = x.iter().filter(|v| v.abs() > t).count();
    let mut ties_left = k - above;
    for (kk, v) in keep.iter_mut().zip(x) {
        let a = v.abs();
        *kk = if a > t {
            true
        } else if a == t && ties_left > 0 {
            ties_left -= 1;
            true
        } else {
            false
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_of_four_spec_example() {
        // Spec §9: [0.1, −0.7, 2.5, 0.03] → [0, −0.7, 2.5, 0].
        let s = Sparsity::NOfM { n: 2, m: 4 };
        let m = s.mask(&[0.1, -0.7, 2.5, 0.03], 4).unwrap();
        assert_eq!(m, vec![false, true, true, false]);
    }

    #[test]
    fn ties_keep_the_lower_index() {
        let s = Sparsity::NOfM { n: 2, m: 4 };
        assert_eq!(
            s.mask(&[1.0, -1.0, 1.0, 1.0], 4).unwrap(),
            vec![true, true, false, false]
        );
        let u = Sparsity::Unstructured {
            ratio: 0.5,
            per_row: false,
        };
        assert_eq!(
            u.mask(&[0.0, 0.0, 0.0, 0.0], 4).unwrap(),
            vec![true, true, false, false]
        );
    }
}
