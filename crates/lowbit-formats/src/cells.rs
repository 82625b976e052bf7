//! Where each value lands in its block's grid: the dequantized value, the half-width of the
//! rounding cell on the value's side, and the block's lowest and highest level — all in value
//! units, from the block's *actual* stored scale (E4M3-rounded, E8M0, f32) and selected grid.
//!
//! Why: gradient estimators must mask by what the quantizer really did. Recovering a "step" from
//! the largest dequantized value (max |x̂| / max level) is wrong whenever the block maximum is not
//! on the top level (MXFP4 FLOOR scales, E4M3-rounded scales) and treats a non-uniform grid
//! (E2M1: gaps ½, 1, 2) as uniform. With cells:
//! * trust (QuEST): keep the gradient iff |x̂ − x| ≤ factor · `tol` — every value that rounds
//!   inside its own cell passes at factor 1; only clipped values (beyond the outermost level by
//!   more than its cell's half-width) are masked;
//! * clipped STE: keep iff `clip · lo ≤ x ≤ clip · hi` — only values the block's grid cannot
//!   reach are masked.
//!
//! For QuEST's grid `tol` is QuEST's own `trust · rms` (default trust α_b/(2^b − 1), i.e. half a
//! step) and `[lo, hi] = [−scale, scale]` (its `ClipQuantizer`). Pruned positions of sparse
//! formats get infinite cells (their gradient stays the plain STE, as in sparse training).

use crate::grid::Grid;
use crate::grid_format::GridFormat;
use crate::int::IntFormat;
use crate::quest::QuestFormat;
use crate::tensor::validate;
use crate::{Format, FormatError};
use rayon::prelude::*;

/// Per-element rounding cells of one tensor (see the module docs).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cells {
    /// The dequantized value x̂ (bit-equal to `fake_quant`).
    pub q: Vec<f32>,
    /// Half-width of x's rounding cell on x's side of x̂ (the outermost cells are mirrored).
    pub tol: Vec<f32>,
    /// The block's lowest representable value.
    pub lo: Vec<f32>,
    /// The block's highest representable value.
    pub hi: Vec<f32>,
}

impl Cells {
    fn with_len(n: usize) -> Self {
        Self {
            q: vec![0.0; n],
            tol: vec![0.0; n],
            lo: vec![0.0; n],
            hi: vec![0.0; n],
        }
    }
}

/// Half-width of the cell of sorted level `p` (of `vals`) on the side of `x` relative to `q`.
#[inline]
fn side_tol(vals: &[f32], p: usize, x: f32, q: f32) -> f32 {
    let below = (p > 0).then(|| (vals[p] - vals[p - 1]) * 0.5);
    let above = (p + 1 < vals.len()).then(|| (vals[p + 1] - vals[p]) * 0.5);
    let pick = if x >= q {
        above.or(below)
    } else {
        below.or(above)
    };
    pick.unwrap_or(0.0)
}

impl Format {
    /// The rounding cells of a `[len / cols, cols]` tensor under this format.
    pub fn cells(&self, x: &[f32], cols: usize) -> Result<Cells, FormatError> {
        match self {
            Format::Grid(g) => grid_cells(g, x, cols),
            Format::Int(i) => int_cells(i, x, cols),
            Format::Quest(q) => quest_cells(q, x, cols),
            Format::Sparse(s) => {
                let m = s.mask(x, cols)?;
                let mut c = Cells::with_len(x.len());
                for (i, &keep) in m.iter().enumerate() {
                    c.q[i] = if keep { x[i] } else { 0.0 };
                    c.tol[i] = f32::INFINITY;
                    c.lo[i] = f32::NEG_INFINITY;
                    c.hi[i] = f32::INFINITY;
                }
                Ok(c)
            }
            Format::SparseQuant { sparsity, quant } => {
                validate(x, cols, self.block_size(), &self.name())?;
                let m = sparsity.mask(x, cols)?;
                let masked: Vec<f32> = x
                    .iter()
                    .zip(&m)
                    .map(|(&v, &k)| if k { v } else { 0.0 })
                    .collect();
                let mut c = quant.cells(&masked, cols)?;
                for (i, &keep) in m.iter().enumerate() {
                    if !keep {
                        c.q[i] = 0.0;
                        c.tol[i] = f32::INFINITY;
                        c.lo[i] = f32::NEG_INFINITY;
                        c.hi[i] = f32::INFINITY;
                    }
                }
                Ok(c)
            }
        }
    }
}

/// Sorted position of every code of `g` among its distinct sorted levels.
fn code_positions(g: &Grid) -> (Vec<f32>, Vec<usize>) {
    let sorted = g.sorted_levels();
    let pos = g
        .table()
        .iter()
        .map(|&l| {
            // −0 and +0 are one level; `sorted` holds each distinct value once.
            sorted.iter().position(|&s| s == l).unwrap_or_default()
        })
        .collect();
    (sorted, pos)
}

fn grid_cells(g: &GridFormat, x: &[f32], cols: usize) -> Result<Cells, FormatError> {
    let e = g.encode(x, cols)?;
    let global = g.global(x);
    let bits = g.grids()[0].code_bits();
    let codes = crate::pack::unpack(&e.codes, bits, x.len())?;
    let tables: Vec<(Vec<f32>, Vec<usize>)> = g.grids().iter().map(code_positions).collect();
    let block = g.block();
    let stride = g.scale_stride();
    let mut c = Cells::with_len(x.len());
    let scales: Vec<_> = e
        .scales
        .chunks(stride)
        .map(|b| g.load_scale(b, global))
        .collect::<Result<_, _>>()?;
    c.q.par_chunks_mut(block)
        .zip(c.tol.par_chunks_mut(block))
        .zip(c.lo.par_chunks_mut(block))
        .zip(c.hi.par_chunks_mut(block))
        .enumerate()
        .for_each(|(b, (((q, tol), lo), hi))| {
            let (s, k) = scales[b];
            let (sorted, pos) = &tables[k];
            let table = g.grids()[k].table();
            let vals: Vec<f32> = sorted.iter().map(|&l| s.unscale(l)).collect();
            let (vlo, vhi) = (vals[0], vals[vals.len() - 1]);
            for i in 0..block {
                let j = b * block + i;
                let code = codes[j] as usize;
                q[i] = s.unscale(table[code]);
                tol[i] = side_tol(&vals, pos[code], x[j], q[i]);
                lo[i] = vlo;
                hi[i] = vhi;
            }
        });
    Ok(c)
}

fn int_cells(f: &IntFormat, x: &[f32], cols: usize) -> Result<Cells, FormatError> {
    validate(x, cols, f.block, &f.name())?;
    let mut c = Cells::with_len(x.len());
    c.q.par_chunks_mut(f.block)
        .zip(c.tol.par_chunks_mut(f.block))
        .zip(c.lo.par_chunks_mut(f.block))
        .zip(c.hi.par_chunks_mut(f.block))
        .zip(x.par_chunks(f.block))
        .for_each(|((((q, tol), lo), hi), xb)| {
            let p = f.block_scale(xb);
            let (vlo, vhi) = (
                IntFormat::dequant(p, f.qmin()),
                IntFormat::dequant(p, f.qmax()),
            );
            for (i, &v) in xb.iter().enumerate() {
                q[i] = IntFormat::dequant(p, f.quant(p, v));
                tol[i] = p.s * 0.5; // a uniform grid: every cell is one step wide
                lo[i] = vlo;
                hi[i] = vhi;
            }
        });
    Ok(c)
}

fn quest_cells(f: &QuestFormat, x: &[f32], cols: usize) -> Result<Cells, FormatError> {
    let g = f.block_len(cols);
    let stats = f.stats(x, cols)?;
    let mut q = x.to_vec();
    f.fake_quant(&mut q, cols)?;
    let trust = f.default_trust();
    let mut c = Cells::with_len(x.len());
    c.q = q;
    c.tol
        .par_chunks_mut(g)
        .zip(c.lo.par_chunks_mut(g))
        .zip(c.hi.par_chunks_mut(g))
        .zip(&stats)
        .for_each(|(((tol, lo), hi), p)| {
            // QuEST `TrustQuantizer`: T = std · trust; `ClipQuantizer`: |x| ≤ scale.
            tol.fill(p.rms * trust);
            lo.fill(-p.scale);
            hi.fill(p.scale);
        });
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cells by brute force: decode every code of the block's actual scale.
    #[test]
    fn nvfp4_cells_follow_the_e2m1_gaps() {
        let f = Format::parse("nvfp4").unwrap();
        // One block of 16 with amax 6: the E4M3 block scale is exact (1 · global), so the
        // E2M1 levels are the values themselves and the gaps are ½, 1 and 2.
        let mut x = [0.0f32; 16];
        let vals = [
            0.2f32, 0.7, 1.3, 1.6, 2.4, 2.6, 3.4, 3.6, 4.4, 4.6, 5.4, 5.6, 6.0, -4.9, -0.1, 0.0,
        ];
        x.copy_from_slice(&vals);
        let c = f.cells(&x, 16).unwrap();
        let mut q = x;
        f.fake_quant(&mut q, 16).unwrap();
        assert_eq!(c.q, q.to_vec());
        // The global scale maps amax 6 to 2688 = 448 · 6, so the block scale is 448 and decodes
        // back exactly to 1: cells are the E2M1 cells.
        let want_tol = [
            0.25f32, 0.25, 0.25, 0.25, 0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.25, 0.25,
        ];
        for (i, (&t, &w)) in c.tol.iter().zip(&want_tol).enumerate() {
            assert!((t - w).abs() < 1e-6, "{i}: {t} vs {w}");
            assert!((c.hi[i] - 6.0).abs() < 1e-6 && (c.lo[i] + 6.0).abs() < 1e-6);
        }
    }

    /// x̂ of the cells is bit-equal to `fake_quant`, x̂ lies in [lo, hi], every tolerance is
    /// non-negative, and a value within its cell is never further than `tol` from x̂ unless it
    /// is outside [lo, hi] (a clipped value) — for every built-in name, on heavy-tailed rows.
    #[test]
    #[allow(clippy::needless_range_loop)] // five parallel arrays read at the same index
    fn cells_agree_with_fake_quant_for_every_builtin() {
        let cols = 256;
        let x: Vec<f32> = (0..8 * cols)
            .map(|i| {
                let u = ((i as u64 * 2654435761) % 1000) as f32 / 1000.0 - 0.5;
                u * (1.0 + 30.0 * (i % 37 == 0) as u8 as f32)
            })
            .collect();
        for name in crate::spec::BUILTIN_NAMES {
            let f = Format::parse(name).unwrap();
            let c = f.cells(&x, cols).unwrap();
            let mut q = x.clone();
            f.fake_quant(&mut q, cols).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&c.q), bits(&q), "{name}");
            for i in 0..x.len() {
                // QuEST's range is its `scale`; its top level k·step − step/2 may round an ulp past.
                let ulp = 1e-6 * c.hi[i].abs().max(c.lo[i].abs());
                assert!(c.tol[i] >= 0.0, "{name} {i}");
                assert!(
                    c.lo[i] - ulp <= c.q[i] && c.q[i] <= c.hi[i] + ulp,
                    "{name} {i}"
                );
                let inside = c.lo[i] <= x[i] && x[i] <= c.hi[i];
                if inside && !matches!(f, Format::Quest(_)) {
                    assert!(
                        (c.q[i] - x[i]).abs() <= c.tol[i] * (1.0 + 1e-4),
                        "{name} {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn int_and_quest_cells() {
        let f = Format::parse("int4").unwrap();
        let x: Vec<f32> = (0..32).map(|i| i as f32 - 12.0).collect();
        let c = f.cells(&x, 32).unwrap();
        let s = 19.0f32 / 7.0;
        assert!(c.tol.iter().all(|&t| t == s * 0.5));
        assert!(c.hi.iter().all(|&h| h == 7.0 * s) && c.lo.iter().all(|&l| l == -8.0 * s));
        let f = Format::parse("quest-int2").unwrap();
        let x = [0.1f32, -0.2, 0.15, 5.0, -0.1, 0.05, 0.3, -0.25];
        let c = f.cells(&x, 8).unwrap();
        let Format::Quest(qf) = &f else {
            unreachable!()
        };
        let p = qf.block_stats(&x);
        assert!(c.tol.iter().all(|&t| t == p.rms * qf.default_trust()));
        assert!(c.hi.iter().all(|&h| h == p.scale));
        let pruned = Format::parse("2of4+int4:block=8")
            .unwrap()
            .cells(&x, 8)
            .unwrap();
        assert_eq!(pruned.tol.iter().filter(|t| t.is_infinite()).count(), 4);
    }
}
