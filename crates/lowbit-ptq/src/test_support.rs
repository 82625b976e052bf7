//! Test data shared by the unit tests (compiled under `cfg(test)` only): xorshift noise and
//! two correlated layer problems, one per method. The two problems are kept as they were in
//! `gptq_tests.rs` and `aqlm/tests.rs`, bit for bit (GPTQ's inputs are built in f32 and go
//! through [`crate::hessian`]; AQLM's are built in f64 and give XᵀX/n), so no test's data
//! changed when they moved here. `examples/gptq_timing.rs` keeps its own copy of [`noise`]
//! (an example cannot see `cfg(test)` code).

use crate::hessian;

/// Deterministic pseudo-random values in [−1, 1) (xorshift; no rand dependency).
pub(crate) fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// GPTQ's problem: W [rows, cols] (2·noise) and the H ([`crate::hessian`], f32 output) of
/// correlated inputs X = Z + 0.5·Z·A/√cols (built in f32) with unequal column scales.
pub(crate) fn gptq_problem(rows: usize, cols: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let w: Vec<f32> = noise(rows * cols, seed).iter().map(|v| 2.0 * v).collect();
    let n = 4 * cols;
    let z = noise(n * cols, seed + 1);
    let a = noise(cols * cols, seed + 2);
    let mut x = vec![0f32; n * cols];
    for k in 0..n {
        for j in 0..cols {
            let mut s = z[k * cols + j];
            for t in 0..cols {
                s += 0.5 * z[k * cols + t] * a[t * cols + j] / (cols as f32).sqrt();
            }
            x[k * cols + j] = s * (1.0 + (j % 5) as f32 * 0.4);
        }
    }
    (w, hessian(&x, cols, 64).unwrap())
}

/// AQLM's problem: W [rows, cols] (noise) and XᵀX/n (f64 sums, rounded to f32) of the same
/// kind of correlated inputs, built in f64.
pub(crate) fn aqlm_problem(rows: usize, cols: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let w = noise(rows * cols, seed);
    let n = 4 * cols;
    let z = noise(n * cols, seed + 1);
    let a = noise(cols * cols, seed + 2);
    let mut x = vec![0f64; n * cols];
    for t in 0..n {
        for j in 0..cols {
            let mut s = z[t * cols + j] as f64;
            for u in 0..cols {
                s += 0.5 * (z[t * cols + u] * a[u * cols + j]) as f64 / (cols as f64).sqrt();
            }
            x[t * cols + j] = s * (1.0 + (j % 5) as f64 * 0.4);
        }
    }
    let mut xtx = vec![0f32; cols * cols];
    for p in 0..cols {
        for q in 0..cols {
            let s: f64 = (0..n).map(|t| x[t * cols + p] * x[t * cols + q]).sum();
            xtx[p * cols + q] = (s / n as f64) as f32;
        }
    }
    (w, xtx)
}
