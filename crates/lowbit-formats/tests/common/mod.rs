//! Test inputs shared by the integration tests: seeded random tensors and adversarial ones.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Every format name the fast-vs-reference tests cover.
pub const FORMATS: &[&str] = &[
    "nvfp4",
    "mxfp4",
    "mxfp4-rceil",
    "mxfp4-even",
    "nf4",
    "nf4:block=16",
    "int2",
    "int3:asym",
    "int4",
    "int4:asym",
    "int4:block=16",
    "int8",
    "int8:asym,block=64",
    "po2-nf4",
    "split87",
    "sfp4",
    "e2m1:scale=f32",
    "nvfp4:scale=e8m0",
    "split87:scale=f32",
    "po2-nf4:scale=e8m0-rceil,block=32",
    "nvfp4:select=sae",
    "unstructured:ratio=0.5",
    "unstructured:ratio=0.3,per_row",
    "2of4",
    "1of8",
    "pairs4of8",
    "2of4+int4",
    "2of4+nvfp4",
    "pairs4of8+int4",
    "unstructured:ratio=0.5+mxfp4",
];

/// A named test tensor with rows of `cols` (cols = 128, a multiple of every block above).
pub struct Case {
    pub name: String,
    pub x: Vec<f32>,
    pub cols: usize,
}

fn gauss(rng: &mut ChaCha8Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let v: f32 = StandardNormal.sample(rng);
            v * scale
        })
        .collect()
}

/// Random and adversarial tensors.
pub fn cases(seed: u64) -> Vec<Case> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let cols = 128;
    let mut out = Vec::new();
    let mut push = |name: &str, x: Vec<f32>| {
        out.push(Case {
            name: name.into(),
            x,
            cols,
        })
    };
    for (i, s) in [1e-3f32, 1.0, 1e3].iter().enumerate() {
        push(&format!("gauss{i}"), gauss(&mut rng, 8 * cols, *s));
    }
    // Heavy tails: log-normal magnitudes with random signs across 12 decades.
    let heavy: Vec<f32> = gauss(&mut rng, 8 * cols, 1.0)
        .into_iter()
        .map(|v| v.signum() * (v * 6.0).exp())
        .collect();
    push("heavy", heavy);
    push("zeros", vec![0.0; 2 * cols]);
    let mut signed_zeros = vec![0.0f32; 2 * cols];
    for (i, v) in signed_zeros.iter_mut().enumerate() {
        if i % 3 == 0 {
            *v = -0.0;
        }
    }
    signed_zeros[cols + 5] = 1.5;
    push("signed-zeros", signed_zeros);
    let mut zero_block = gauss(&mut rng, 2 * cols, 1.0);
    zero_block[32..96].iter_mut().for_each(|v| *v = 0.0);
    push("zero-block", zero_block);
    let sub: Vec<f32> = (0..2 * cols)
        .map(|i| {
            f32::from_bits(rng.random_range(1..0x007F_FFFF)) * if i % 2 == 0 { 1.0 } else { -1.0 }
        })
        .collect();
    push("subnormals", sub);
    // A block whose only non-zero is the smallest subnormal: INT scales underflow to 0.
    let mut lone = vec![0.0f32; 2 * cols];
    lone[5] = f32::from_bits(1);
    lone[cols + 70] = -f32::from_bits(1);
    push("lone-min-subnormal", lone);
    let mut huge = gauss(&mut rng, 2 * cols, 1e30);
    huge[7] = 3.0e38;
    huge[200] = -3.4e38;
    push("huge", huge);
    // E2M1 ties: global amax 2688 makes enc_g = 1; blocks with amax 6 then have scale exactly 1
    // (NVFP4) or 2^0 (MX FLOOR), so these values sit exactly on rounding boundaries.
    let ties = [0.25f32, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 6.0];
    let mut t: Vec<f32> = (0..4 * cols)
        .map(|i| {
            let v = ties[i % ties.len()];
            if (i / 8) % 2 == 0 { v } else { -v }
        })
        .collect();
    t[3 * cols] = 2688.0;
    push("e2m1-ties", t);
    // Scale ties: one dominant value per block sweeping across E4M3 midpoints.
    let mut dom = gauss(&mut rng, 4 * cols, 0.1);
    for (b, chunk) in dom.chunks_mut(16).enumerate() {
        chunk[b % 16] = 6.0 * (1.0 + (b as f32) / 64.0);
    }
    push("dominant", dom);
    // Integer ties: multiples of half a step.
    let it: Vec<f32> = (0..2 * cols)
        .map(|i| ((i % 15) as f32 - 7.0) * 0.5)
        .collect();
    push("half-steps", it);
    let mut dup = vec![1.0f32; 2 * cols];
    dup.iter_mut().step_by(3).for_each(|v| *v = -1.0);
    push("equal-magnitudes", dup);
    out
}
