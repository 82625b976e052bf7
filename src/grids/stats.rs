//! Statistics of `lowbit grids show`: how often each grid and level is chosen, and the relative
//! squared error of a format on real blocks (with the tensor's own scale).

use anyhow::Result;
use lowbit_formats::{Format, GridFormat, pack};
use lowbit_optim::grids::TensorBlocks;

/// Block length of real blocks in `show`: a multiple of every reference format's block.
pub(super) const REAL_BLOCK: usize = 64;

/// Blocks per grid and values per (grid, code).
pub(super) struct Occupancy {
    blocks: Vec<u64>,
    codes: Vec<Vec<u64>>,
}

impl Occupancy {
    pub(super) fn new(g: &GridFormat) -> Self {
        let n = g.grids().len();
        let l = 1usize << g.grids()[0].code_bits();
        Self {
            blocks: vec![0; n],
            codes: vec![vec![0; l]; n],
        }
    }

    /// Adds `x` (rows of `cols`), skipping its first `skip` values (a sentinel row).
    pub(super) fn add(
        &mut self,
        g: &GridFormat,
        x: &[f32],
        cols: usize,
        skip: usize,
    ) -> Result<()> {
        let e = g.encode(x, cols)?;
        let codes = pack::unpack(&e.codes, e.code_bits, e.len())?;
        let b = g.block();
        for (i, &k) in g.selectors(&e).iter().enumerate().skip(skip / b) {
            self.blocks[k] += 1;
            for &c in &codes[i * b..(i + 1) * b] {
                self.codes[k][c as usize] += 1;
            }
        }
        Ok(())
    }

    pub(super) fn print(&self, g: &GridFormat, on: &str) {
        let total = self.blocks.iter().sum::<u64>().max(1) as f64;
        println!("occupancy on {on}:");
        for (k, grid) in g.grids().iter().enumerate() {
            let n = self.codes[k].iter().sum::<u64>().max(1) as f64;
            let mut lv: Vec<(f32, u64)> = (0..self.codes[k].len())
                .map(|c| (grid.decode(c as u8), self.codes[k][c]))
                .collect();
            lv.sort_by(|a, b| a.0.total_cmp(&b.0));
            let cells: Vec<String> = lv
                .iter()
                .map(|(v, c)| format!("{v:.2}:{:.1}%", 100.0 * *c as f64 / n))
                .collect();
            println!(
                "  grid {k} ({:.1}% of blocks): {}",
                100.0 * self.blocks[k] as f64 / total,
                cells.join(" ")
            );
        }
    }
}

/// A tensor's sampled blocks behind a sentinel row holding the tensor amax, so that a format's
/// tensor-level scale is the one the whole tensor had.
pub(super) fn with_sentinel(t: &TensorBlocks) -> Vec<f32> {
    let mut x = vec![0f32; REAL_BLOCK];
    x[0] = t.tensor_amax;
    x.extend_from_slice(&t.blocks);
    x
}

/// Σ(x − Q(x))² / Σx² over the groups' blocks (sentinels excluded).
pub(super) fn real_rel_mse(f: &Format, groups: &[TensorBlocks]) -> Result<f64> {
    let (mut se, mut ss) = (0.0f64, 0.0f64);
    for t in groups {
        let x = with_sentinel(t);
        let mut q = x.clone();
        f.fake_quant(&mut q, REAL_BLOCK)?;
        for (a, b) in x[REAL_BLOCK..].iter().zip(&q[REAL_BLOCK..]) {
            se += (*a as f64 - *b as f64).powi(2);
            ss += *a as f64 * *a as f64;
        }
    }
    Ok(if ss > 0.0 { se / ss } else { f64::NAN })
}
