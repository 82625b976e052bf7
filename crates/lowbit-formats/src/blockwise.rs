//! Block-at-a-time access to the encoders, for algorithms that fix a block's parameters first
//! and quantize its values later, one at a time (GPTQ: the parameters of a group are chosen when
//! the group starts, each column is quantized after the previous columns' errors were spread).
//!
//! Nothing here has arithmetic of its own: [`IntFormat::block_params`] /
//! [`IntFormat::quantize_value`] call the same `block_scale` / `quant` / `dequant` as
//! [`IntFormat::encode`] and [`IntFormat::fake_quant`], and [`GridFormat::block_params`] /
//! [`GridFormat::quantize_value`] call the same `quant_block` (grid choice included),
//! `Grid::encode_slice` and `BlockScale::unscale` as [`GridFormat::encode`]. The tests below hold
//! "parameters of a block, then every value with them" equal to `fake_quant` bit for bit.

use crate::grid_format::GridFormat;
use crate::int::{IntFormat, IntScale};
use crate::scale::{BlockScale, GlobalScale};

/// The parameters of one block of a [`GridFormat`]: its scale and the index of the chosen grid
/// (always 0 for single-grid formats such as NVFP4 and MXFP4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridBlockParams {
    /// The block scale (encode factor, decode factors, stored byte or f32 bits).
    pub scale: BlockScale,
    /// Index into [`GridFormat::grids`] of the grid the block uses.
    pub grid: usize,
}

impl IntFormat {
    /// The parameters `encode` would store for one block of values (any length ≥ 1; the
    /// format's block size is not enforced, so a caller can pass a block built column by column).
    pub fn block_params(&self, block: &[f32]) -> IntScale {
        self.block_scale(block)
    }

    /// Quantizes one value with given block parameters: `(q, (q − z)·s)`, q the integer level
    /// (signed for symmetric formats, `0..2^b` for asymmetric ones). Equals what
    /// `fake_quant` gives for that value in a block with these parameters.
    pub fn quantize_value(&self, p: IntScale, v: f32) -> (i32, f32) {
        let q = self.quant(p, v);
        (q as i32, Self::dequant(p, q))
    }
}

impl GridFormat {
    /// The tensor-level scale `encode` uses for a whole input `x` (NVFP4's two-level recipe:
    /// from the global amax of `x`; [`GlobalScale::ONE`] for the other scale rules).
    pub fn tensor_scale(&self, x: &[f32]) -> GlobalScale {
        self.global(x)
    }

    /// The parameters `encode` would choose for one block (scale and, for multi-grid formats,
    /// the grid), given the tensor scale of the whole input. An empty block gets amax 0.
    pub fn block_params(&self, block: &[f32], global: GlobalScale) -> GridBlockParams {
        let n = block.len();
        let mut codes = vec![0u8; n];
        let mut scratch = vec![0u8; n];
        let mut vbuf = vec![0f32; n];
        let (scale, grid) = self.quant_block(block, global, &mut codes, &mut scratch, &mut vbuf);
        GridBlockParams { scale, grid }
    }

    /// Quantizes one value with given block parameters: `(code, decoded value)`. Equals what
    /// `encode` / `fake_quant` give for that value in a block with these parameters.
    /// `p.grid` must be an index into [`GridFormat::grids`] (as [`GridFormat::block_params`]
    /// returns); an out-of-range index uses the last grid.
    pub fn quantize_value(&self, p: &GridBlockParams, v: f32) -> (u8, f32) {
        let g = &self.grids[p.grid.min(self.grids.len() - 1)];
        let mut code = [0u8];
        g.encode_slice(&[p.scale.scale(v)], &mut code);
        (code[0], p.scale.unscale(g.table()[code[0] as usize]))
    }
}

#[cfg(test)]
mod tests {
    use crate::Format;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Random rows with zeros, −0, repeated values, exact grid points and ties (half steps).
    fn data(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..rows * cols)
            .map(|i| match rng.random_range(0..10) {
                0 => 0.0,
                1 => -0.0,
                2 => (rng.random_range(-16i32..=16) as f32) * 0.25, // ties of E2M1 / INT steps
                3 => (rng.random_range(-12i32..=12) as f32) * 0.5,
                4 if i > 0 => 1.0,
                5 => rng.random_range(-1e-3f32..1e-3),
                _ => rng.random_range(-4.0f32..4.0),
            })
            .collect()
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Per-value path with block parameters == `fake_quant`, and codes == `encode`'s.
    fn check(name: &str) {
        let f = Format::parse(name).unwrap();
        let block = f.block_size();
        let (rows, cols) = (7, block * 3);
        for seed in 0..20 {
            let x = data(rows, cols, seed);
            let mut want = x.clone();
            f.fake_quant(&mut want, cols).unwrap();
            let mut got = vec![0f32; x.len()];
            match &f {
                Format::Int(i) => {
                    for (xb, gb) in x.chunks(block).zip(got.chunks_mut(block)) {
                        let p = i.block_params(xb);
                        for (g, &v) in gb.iter_mut().zip(xb) {
                            *g = i.quantize_value(p, v).1;
                        }
                    }
                }
                Format::Grid(g) => {
                    let global = g.tensor_scale(&x);
                    let enc = g.encode(&x, cols).unwrap();
                    let codes = crate::pack::unpack(&enc.codes, enc.code_bits, x.len()).unwrap();
                    for (k, (xb, gb)) in x.chunks(block).zip(got.chunks_mut(block)).enumerate() {
                        let p = g.block_params(xb, global);
                        for (j, (o, &v)) in gb.iter_mut().zip(xb).enumerate() {
                            let (c, val) = g.quantize_value(&p, v);
                            assert_eq!(c, codes[k * block + j], "{name} code");
                            *o = val;
                        }
                    }
                }
                _ => unreachable!(),
            }
            assert_eq!(bits(&got), bits(&want), "{name} seed {seed}");
        }
    }

    #[test]
    fn int_per_value_equals_fake_quant() {
        for b in 2..=8 {
            check(&format!("int{b}"));
            check(&format!("int{b}:asym"));
            check(&format!("int{b}:block=16,asym"));
        }
    }

    #[test]
    fn grid_per_value_equals_fake_quant() {
        for name in [
            "nvfp4",
            "mxfp4",
            "mxfp4-rceil",
            "nf4",
            "e2m1",
            "po2-nf4",
            "sfp4",
        ] {
            check(name);
        }
    }

    #[test]
    fn all_zero_blocks() {
        let f = Format::parse("int4:asym").unwrap();
        let Format::Int(i) = f else { unreachable!() };
        let p = i.block_params(&[0.0; 32]);
        assert_eq!((p.s, p.z), (2.0 / 15.0, 7.0)); // 1/(2/15) rounds below 7.5 in f32
        assert_eq!(i.quantize_value(p, -0.0), (7, 0.0));
        let Format::Grid(g) = Format::parse("nvfp4").unwrap() else {
            unreachable!()
        };
        let global = g.tensor_scale(&[0.0; 16]);
        let p = g.block_params(&[0.0; 16], global);
        assert_eq!(g.quantize_value(&p, 0.0), (0, 0.0));
    }
}
