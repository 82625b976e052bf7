//! The V-step of scalar grids (algorithms.md §4.5): every lowbit-formats format held as
//! [`CodedParts`] — INT (sym/asym), NF4, E2M1 with NVFP4/MXFP4 scales, multi-grid PO2 families,
//! QuEST's centred grid, sparse compositions.
//!
//! Given the target `T` of the linearized step (algorithms.md §4.2 step 4), the elements with the
//! largest `|T − Ŵ|` (a `τ` fraction, [`super::select`]) move to the level of their block's table
//! nearest to `T` under the block's current factors — the exact projection onto the weights the
//! current scales can express; all other codes stay. For the uniform integer tables of INT
//! formats this is `clamp(round(T/s + z), 0, 2^b − 1)` (round half to even, as `torch.round`),
//! the formula of §4.5; for any other table it is the level whose *decoded* value is nearest to
//! `T` (ties: the lower code), computed with the decode's own f32 operations. Pruned elements of
//! a sparse composition are never selected (they decode to 0 whatever their code).
//!
//! Deviation: the paper derives the scalar case as AQLM with one codebook of group 1 (§4.5 is
//! marked *derived* in the spec); the projection is exact either way, the only choice is which
//! elements may move, which follows the VQ rule with tiles of one element.

use super::select::{budget, top_k};
use lowbit_formats::{CodedParts, DecodeRule};

/// What one V-step did to a layer.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct VStepStats {
    /// Code groups (elements here, tiles for VQ) the step may change.
    pub groups: usize,
    /// Groups selected (`⌈τ·groups⌉`, fewer if some cannot change).
    pub selected: usize,
    /// Groups whose code actually changed.
    pub changed: usize,
}

/// The decoded value of `level` in block `b` of `p` (the f32 operations of
/// [`CodedParts::decode`]).
fn value(p: &CodedParts, level: f32, b: usize) -> f32 {
    let s = p.scales[b];
    match p.rule {
        DecodeRule::Scaled => (level * s) * p.global.unwrap_or(1.0),
        DecodeRule::ZeroPoint => (level - p.zeros[b]) * s,
        DecodeRule::Centred => level * s - s * 0.5,
    }
}

/// Whether `table` is `0, 1, …, n − 1` (the INT formats' levels).
fn is_integer_table(table: &[f32]) -> bool {
    table.iter().enumerate().all(|(k, &v)| v == k as f32)
}

/// The code of `table` nearest to `t` in block `b` (`current` on a tie with it, so equal values
/// such as E2M1's ±0 never count as a change).
fn project(p: &CodedParts, table: &[f32], integer: bool, t: f32, b: usize, current: u8) -> u8 {
    if integer && p.rule == DecodeRule::ZeroPoint && p.scales[b] != 0.0 {
        let top = (table.len() - 1) as f32;
        let q = (t / p.scales[b] + p.zeros[b]).round_ties_even();
        return q.clamp(0.0, top) as u8;
    }
    let now = (value(p, table[current as usize], b) - t).abs();
    let mut best = (current, now);
    for (k, &level) in table.iter().enumerate() {
        let e = (value(p, level, b) - t).abs();
        if e < best.1 {
            best = (k as u8, e);
        }
    }
    best.0
}

/// One V-step of `p` towards `target` (`rows · cols`, row-major) changing at most `⌈τ·n⌉`
/// elements; returns the selected element indices in priority order and the counts.
///
/// # Panics
/// Debug-asserts `target.len() == p.codes.len()`.
pub fn scalar_vstep(p: &mut CodedParts, target: &[f32], tau: f64) -> (Vec<usize>, VStepStats) {
    debug_assert_eq!(target.len(), p.codes.len());
    let n = p.codes.len();
    let current = p.decode();
    let score: Vec<f32> = (0..n)
        .map(|i| {
            if p.mask.as_ref().is_some_and(|m| !m[i]) {
                f32::NEG_INFINITY
            } else {
                (target[i] - current[i]).abs()
            }
        })
        .collect();
    let selected = top_k(&score, budget(tau, n));
    let integer: Vec<bool> = p.tables.iter().map(|t| is_integer_table(t)).collect();
    let mut changed = 0;
    for &i in &selected {
        let b = i / p.block;
        let k = p.table_of_block[b] as usize;
        let c = project(p, &p.tables[k], integer[k], target[i], b, p.codes[i]);
        if c != p.codes[i] {
            p.codes[i] = c;
            changed += 1;
        }
    }
    let stats = VStepStats {
        groups: n,
        selected: selected.len(),
        changed,
    };
    (selected, stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lowbit_formats::Format;

    fn parts(name: &str, w: &[f32], cols: usize) -> CodedParts {
        let f = Format::parse(name).unwrap();
        let e = f.encode(w, cols).unwrap();
        f.coded_parts(&e).unwrap()
    }

    fn weights(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let x = (i as u32)
                    .wrapping_mul(2654435761)
                    .wrapping_add(seed.wrapping_mul(0x9E37_79B9))
                    >> 8;
                (x % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    /// τ = 0 never changes a code; a target equal to the current decode changes none either.
    #[test]
    fn tau_zero_and_a_fixed_point_change_nothing() {
        for name in ["int2:block=16,asym", "nvfp4", "nf4:block=32", "mxfp4"] {
            let mut p = parts(name, &weights(8 * 64, 3), 64);
            let before = p.codes.clone();
            let t = weights(8 * 64, 9);
            let (_, s) = scalar_vstep(&mut p, &t, 0.0);
            assert_eq!((s.selected, s.changed), (0, 0), "{name}");
            assert_eq!(p.codes, before);
            let fixed = p.decode();
            let (_, s) = scalar_vstep(&mut p, &fixed, 1.0);
            assert_eq!(s.changed, 0, "{name}");
        }
    }

    /// A huge step (τ = 1) re-projects every element to its nearest representable value: no
    /// other code of its block decodes closer to the target.
    #[test]
    fn tau_one_is_the_nearest_code_everywhere() {
        for name in [
            "int2:block=16,asym",
            "int4:block=32",
            "nvfp4",
            "po2-nf4-default",
        ] {
            let Ok(f) = Format::parse(name) else { continue };
            let cols = 64;
            let w = weights(4 * cols, 5);
            let e = f.encode(&w, cols).unwrap();
            let mut p = f.coded_parts(&e).unwrap();
            let t: Vec<f32> = weights(4 * cols, 11).iter().map(|v| v * 1.7).collect();
            let (sel, s) = scalar_vstep(&mut p, &t, 1.0);
            assert_eq!(sel.len(), 4 * cols, "{name}");
            assert!(s.changed > 0, "{name}");
            let got = p.decode();
            for i in 0..t.len() {
                let b = i / p.block;
                let table = &p.tables[p.table_of_block[b] as usize];
                let best = table
                    .iter()
                    .map(|&l| (value(&p, l, b) - t[i]).abs())
                    .fold(f32::INFINITY, f32::min);
                assert!(
                    (got[i] - t[i]).abs() <= best * (1.0 + 1e-6) + 1e-7,
                    "{name} element {i}"
                );
            }
        }
    }

    /// The number of changed elements never exceeds ⌈τ·n⌉ and only selected elements change.
    #[test]
    fn changes_stay_within_the_budget() {
        let mut p = parts("int2:block=16,asym", &weights(16 * 64, 1), 64);
        let before = p.codes.clone();
        // Near the current weights (far targets only hit the clamp: their codes stay).
        let noise = weights(16 * 64, 7);
        let t: Vec<f32> = p
            .decode()
            .iter()
            .zip(&noise)
            .map(|(w, n)| w + 0.5 * n)
            .collect();
        let (sel, s) = scalar_vstep(&mut p, &t, 0.05);
        assert_eq!(s.selected, budget(0.05, 16 * 64));
        assert!(s.changed <= s.selected && s.changed > 0);
        for (i, (a, b)) in p.codes.iter().zip(&before).enumerate() {
            if a != b {
                assert!(sel.contains(&i));
            }
        }
    }
}
