//! One Lloyd iteration over K grids: (a) assign every block to its best grid and every value to
//! its nearest level, accumulating per-level sufficient statistics; (b) move every free level
//! to the weighted mean of its values, with the max-6 renormalisation as a checked candidate.
//!
//! Determinism: blocks are cut into fixed chunks, each chunk's partial sums are computed in
//! parallel and added in chunk order, so every sum — and hence every grid — is the same for any
//! rayon thread count.

use super::blocks::{GRID_MAX, Normalised};
use super::init::{extreme, renormalise};
use lowbit_formats::grid::TableGrid;
use rayon::prelude::*;

/// Blocks per parallel work item (fixed, so that the summation order is too).
const CHUNK_BLOCKS: usize = 256;

/// What an assignment pass measured.
#[derive(Debug, Clone)]
pub(crate) struct Pass {
    /// Weighted SSE over every value (normalised units).
    pub sse: f64,
    /// Per grid and level: [Σw, Σw·u, Σw·u²] of the values assigned to it, `[K][L]`.
    pub stats: Vec<Vec<[f64; 3]>>,
    /// Blocks that chose each grid.
    pub blocks_per_grid: Vec<usize>,
    /// Weighted SSE of every block under its best grid (only when requested).
    pub block_sse: Vec<f64>,
}

/// Assigns every block of `data` to its best grid (least weighted SSE, ties to the lowest
/// index) and every value to the nearest level of that grid (ties to the lower level).
pub(crate) fn assign(data: &Normalised, grids: &[TableGrid], want_block_sse: bool) -> Pass {
    let n = data.block;
    let levels = grids.first().map_or(0, |g| g.levels().len());
    let k = grids.len();
    let nb = data.blocks();
    let chunks = nb.div_ceil(CHUNK_BLOCKS);
    let parts: Vec<Pass> = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let mut p = Pass {
                sse: 0.0,
                stats: vec![vec![[0.0; 3]; levels]; k],
                blocks_per_grid: vec![0; k],
                block_sse: Vec::new(),
            };
            let mut codes = vec![0u8; n];
            let mut best_codes = vec![0u8; n];
            for b in c * CHUNK_BLOCKS..((c + 1) * CHUNK_BLOCKS).min(nb) {
                let u = &data.u[b * n..(b + 1) * n];
                let mut best = (f64::INFINITY, 0usize);
                for (gi, g) in grids.iter().enumerate() {
                    let lv = g.levels();
                    let mut err = 0.0f64;
                    for (j, (&v, c)) in u.iter().zip(codes.iter_mut()).enumerate() {
                        *c = g.code(v);
                        let d = v as f64 - lv[*c as usize] as f64;
                        err += data.weight(b * n + j) as f64 * d * d;
                    }
                    if err < best.0 {
                        best = (err, gi);
                        best_codes.copy_from_slice(&codes);
                    }
                }
                let (err, gi) = best;
                p.sse += err;
                p.blocks_per_grid[gi] += 1;
                if want_block_sse {
                    p.block_sse.push(err);
                }
                for (j, (&v, &c)) in u.iter().zip(&best_codes).enumerate() {
                    let w = data.weight(b * n + j) as f64;
                    let s = &mut p.stats[gi][c as usize];
                    s[0] += w;
                    s[1] += w * v as f64;
                    s[2] += w * v as f64 * v as f64;
                }
            }
            p
        })
        .collect();
    let mut total = Pass {
        sse: 0.0,
        stats: vec![vec![[0.0; 3]; levels]; k],
        blocks_per_grid: vec![0; k],
        block_sse: Vec::with_capacity(if want_block_sse { nb } else { 0 }),
    };
    for p in parts {
        total.sse += p.sse;
        for (t, s) in total.stats.iter_mut().zip(&p.stats) {
            for (a, b) in t.iter_mut().zip(s) {
                for i in 0..3 {
                    a[i] += b[i];
                }
            }
        }
        for (a, b) in total.blocks_per_grid.iter_mut().zip(&p.blocks_per_grid) {
            *a += b;
        }
        total.block_sse.extend(p.block_sse);
    }
    total
}

/// The two candidate updates of one grid from the statistics of its assigned values.
///
/// * `free`: every free level at the weighted mean of its values, then renormalised to max 6.
/// * `held`: the level of largest magnitude stays where it is (at ±6, where the block scale
///   puts each block's amax), every other free level at its mean clamped to [−6, 6].
///
/// Levels with no values keep their place; with `explicit_zero` a level at exactly 0 stays.
/// With the assignment fixed the objective is a sum of one convex quadratic per level, so
/// `held` never raises it; `free` is accepted by the caller only if it does no worse.
pub(crate) fn candidates(
    levels: &[f32],
    stats: &[[f64; 3]],
    explicit_zero: bool,
) -> (Vec<f32>, Vec<f32>) {
    let fixed = |i: usize| explicit_zero && levels[i] == 0.0;
    let mean = |i: usize| -> f32 {
        let s = stats[i];
        if s[0] > 0.0 && !fixed(i) {
            (s[1] / s[0]) as f32
        } else {
            levels[i]
        }
    };
    let means: Vec<f32> = (0..levels.len()).map(mean).collect();
    let free = renormalise(&means).unwrap_or_else(|| levels.to_vec());
    let top = extreme(levels).map(|e| e.0);
    let held: Vec<f32> = means
        .iter()
        .enumerate()
        .map(|(i, &m)| {
            if Some(i) == top {
                levels[i]
            } else {
                m.clamp(-GRID_MAX, GRID_MAX)
            }
        })
        .collect();
    (sorted(free), sorted(held))
}

fn sorted(mut v: Vec<f32>) -> Vec<f32> {
    v.sort_by(f32::total_cmp);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(u: Vec<f32>, block: usize) -> Normalised {
        let total_weight = u.len() as f64;
        Normalised {
            block,
            u,
            w: None,
            total_weight,
            flushed: 0,
        }
    }

    #[test]
    fn assignment_picks_the_better_grid_and_sums_are_exact() {
        let a = TableGrid::new(vec![-6.0, -1.0, 1.0, 6.0]).unwrap();
        let b = TableGrid::new(vec![-6.0, -3.0, 3.0, 6.0]).unwrap();
        let d = data(vec![6.0, 1.0, -1.0, 0.9, 6.0, 3.0, -3.0, 2.9], 4);
        let p = assign(&d, &[a, b], true);
        assert_eq!(p.blocks_per_grid, vec![1, 1]);
        assert!((p.sse - 0.02).abs() < 1e-6, "{}", p.sse);
        assert_eq!(p.block_sse.len(), 2);
        assert_eq!(p.stats[0][2][0], 2.0); // 1.0 and 0.9 on level 1.0 of grid 0
    }

    #[test]
    fn held_candidate_keeps_the_extreme_and_zero() {
        let levels = [-6.0, 0.0, 2.0, 4.0];
        let stats = [
            [1.0, -5.0, 25.0],
            [2.0, 0.2, 0.1],
            [1.0, 2.5, 6.25],
            [0.0; 3],
        ];
        let (free, held) = candidates(&levels, &stats, true);
        assert_eq!(held, vec![-6.0, 0.0, 2.5, 4.0]);
        assert_eq!(free[0], -6.0);
        assert_eq!(free[1], 0.0);
        assert!((free[2] - 3.0).abs() < 1e-6, "{free:?}");
    }
}
