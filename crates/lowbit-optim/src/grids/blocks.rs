//! The data of grid learning: raw blocks of real tensors, each with the absolute maximum of the
//! tensor it came from (the NVFP4 tensor scale depends on it) and optional per-element
//! importance weights, and their normalisation onto the grid's coordinate by the format's own
//! scale rule.

use super::error::GridLearnError;
use lowbit_formats::ScaleRule;
use lowbit_formats::scale::{BlockScale, GlobalScale};

/// The largest magnitude of every grid (the E2M1 maximum): each block's scale maps its amax
/// onto ±6, so every grid reuses the NVFP4 scale machinery unchanged.
pub const GRID_MAX: f32 = 6.0;

/// Raw blocks to learn grids from.
///
/// # Shapes
/// `values`: `[n_blocks, block]`; `tensor_amax`: `[n_blocks]`; `importance`: `[n_blocks, block]`
/// when any block was given importance weights (blocks given none weigh 1).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlockSet {
    block: usize,
    values: Vec<f32>,
    tensor_amax: Vec<f32>,
    importance: Option<Vec<f32>>,
    zero_blocks: usize,
}

impl BlockSet {
    /// An empty set of blocks of `block` values.
    pub fn new(block: usize) -> Result<Self, GridLearnError> {
        if block == 0 {
            return Err(GridLearnError::Blocks("block size must be positive".into()));
        }
        Ok(Self {
            block,
            ..Self::default()
        })
    }

    /// Adds the blocks `blocks` (`[n, block]`, row-major) of one tensor whose absolute maximum
    /// is `tensor_amax`, with optional importance weights of the same shape. All-zero blocks
    /// carry no information about a grid's shape and are counted, not stored.
    pub fn push(
        &mut self,
        blocks: &[f32],
        tensor_amax: f32,
        importance: Option<&[f32]>,
    ) -> Result<(), GridLearnError> {
        let bad = |m: String| Err(GridLearnError::Blocks(m));
        if blocks.len() % self.block != 0 {
            return bad(format!(
                "{} values are not whole blocks of {}",
                blocks.len(),
                self.block
            ));
        }
        if let Some(i) = blocks.iter().position(|v| !v.is_finite()) {
            return bad(format!("value {i} is not finite ({})", blocks[i]));
        }
        let amax = blocks.iter().fold(0f32, |m, v| m.max(v.abs()));
        if !tensor_amax.is_finite() || tensor_amax < amax {
            return bad(format!(
                "tensor_amax {tensor_amax} is below the blocks' largest magnitude {amax}; pass the \
                 absolute maximum of the whole tensor the blocks came from"
            ));
        }
        if let Some(w) = importance {
            if w.len() != blocks.len() {
                return bad(format!(
                    "{} importance weights for {} values",
                    w.len(),
                    blocks.len()
                ));
            }
            if let Some(i) = w.iter().position(|v| !v.is_finite() || *v < 0.0) {
                return bad(format!(
                    "importance weight {i} is {} (must be finite and ≥ 0)",
                    w[i]
                ));
            }
            if self.importance.is_none() {
                self.importance = Some(vec![1.0; self.values.len()]);
            }
        }
        for (b, x) in blocks.chunks(self.block).enumerate() {
            if x.iter().all(|v| *v == 0.0) {
                self.zero_blocks += 1;
                continue;
            }
            self.values.extend_from_slice(x);
            self.tensor_amax.push(tensor_amax);
            if let Some(all) = &mut self.importance {
                match importance {
                    Some(w) => all.extend_from_slice(&w[b * self.block..(b + 1) * self.block]),
                    None => all.extend(std::iter::repeat_n(1.0, self.block)),
                }
            }
        }
        Ok(())
    }

    /// Values per block.
    pub fn block(&self) -> usize {
        self.block
    }
    /// Number of stored blocks.
    pub fn len(&self) -> usize {
        self.tensor_amax.len()
    }
    /// Whether no block is stored.
    pub fn is_empty(&self) -> bool {
        self.tensor_amax.is_empty()
    }
    /// The stored blocks, `[n_blocks, block]`.
    pub fn values(&self) -> &[f32] {
        &self.values
    }
    /// The tensor amax of every stored block.
    pub fn tensor_amax(&self) -> &[f32] {
        &self.tensor_amax
    }
    /// Importance weights, if any block was given some.
    pub fn importance(&self) -> Option<&[f32]> {
        self.importance.as_deref()
    }
    /// All-zero blocks that were offered and skipped.
    pub fn zero_blocks(&self) -> usize {
        self.zero_blocks
    }

    /// Maps every block onto the grid coordinate exactly as the format does for a grid of
    /// maximum [`GRID_MAX`]: `v = x · enc` with the block scale of `rule` (NVFP4: the two-level
    /// E4M3 recipe with this block's tensor amax; `coarse`: the even-code E4M3 lattice used
    /// when the mantissa LSB carries a selector bit). Blocks whose scale underflows to zero are
    /// decoded as zeros by every grid, so they are dropped (counted in `flushed`).
    pub(crate) fn normalise(&self, rule: ScaleRule, coarse: bool) -> Normalised {
        let n = self.block;
        let mut u = Vec::with_capacity(self.values.len());
        let mut w = self.importance.as_ref().map(|_| Vec::new());
        let mut flushed = 0;
        for (b, x) in self.values.chunks(n).enumerate() {
            let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
            let global = match rule {
                ScaleRule::E4m3Global => GlobalScale::from_amax(self.tensor_amax[b]),
                _ => GlobalScale::ONE,
            };
            let s = BlockScale::compute(rule, amax, GRID_MAX, global, coarse);
            let start = u.len();
            u.extend(x.iter().map(|&v| s.scale(v)));
            if s.d1 == 0.0 || u[start..].iter().any(|v| !v.is_finite()) {
                u.truncate(start);
                flushed += 1;
                continue;
            }
            if let (Some(w), Some(all)) = (&mut w, &self.importance) {
                w.extend_from_slice(&all[b * n..(b + 1) * n]);
            }
        }
        let total_weight = match &w {
            Some(w) => w.iter().map(|&v| v as f64).sum(),
            None => u.len() as f64,
        };
        Normalised {
            block: n,
            u,
            w,
            total_weight,
            flushed,
        }
    }
}

/// Blocks on the grid coordinate (`[n_blocks, block]`) with their weights.
#[derive(Debug, Clone)]
pub(crate) struct Normalised {
    pub block: usize,
    pub u: Vec<f32>,
    pub w: Option<Vec<f32>>,
    pub total_weight: f64,
    pub flushed: usize,
}

impl Normalised {
    pub fn blocks(&self) -> usize {
        self.u.len() / self.block
    }

    /// The weight of element `i` (1 without importance weights).
    #[inline(always)]
    pub fn weight(&self, i: usize) -> f32 {
        self.w.as_ref().map_or(1.0, |w| w[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_checks_shapes_and_amax() {
        let mut s = BlockSet::new(4).unwrap();
        assert!(s.push(&[1.0, 2.0, 3.0], 3.0, None).is_err());
        assert!(s.push(&[1.0, 2.0, 3.0, 4.0], 3.0, None).is_err());
        assert!(s.push(&[1.0, 2.0, 3.0, f32::NAN], 3.0, None).is_err());
        s.push(&[1.0, 2.0, 3.0, -4.0, 0.0, 0.0, 0.0, 0.0], 8.0, None)
            .unwrap();
        assert_eq!((s.len(), s.zero_blocks()), (1, 1));
        s.push(&[1.0; 4], 8.0, Some(&[2.0; 4])).unwrap();
        assert_eq!(s.importance().unwrap(), &[1., 1., 1., 1., 2., 2., 2., 2.]);
    }

    #[test]
    fn normalisation_maps_amax_onto_six() {
        let mut s = BlockSet::new(4).unwrap();
        s.push(&[0.5, -3.0, 1.0, 2.0], 3.0, None).unwrap();
        let n = s.normalise(ScaleRule::F32, false);
        assert_eq!(n.u, vec![1.0, -6.0, 2.0, 4.0]);
        // NVFP4: the block with the tensor amax gets the exact E4M3 scale 448.
        let n = s.normalise(ScaleRule::E4m3Global, false);
        assert_eq!(n.u[1], -6.0);
    }
}
