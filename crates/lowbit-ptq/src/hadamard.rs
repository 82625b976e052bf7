//! Block-diagonal Walsh–Hadamard rotation on the host, for MR-GPTQ (Egiazarian et al.,
//! "Bridging the Gap Between Promise and Performance for Microscaling FP4 Quantization",
//! arXiv 2509.23202, §4 "micro-rotations"; FP-Quant `src/transforms/transforms.py`
//! `HadamardTransform`: `hadamard_transform(x.view(-1, group_size), scale=1/sqrt(group_size))`).
//!
//! R = diag(H_b, …, H_b) with H_b the Sylvester Hadamard matrix of order b,
//! H_b(i, j) = (−1)^popcount(i & j) · f32(1/√b): the SAME matrix as lowbit-nn's
//! `quant::hadamard::hadamard_matrix` (entries `(sign · (1/√b in f64)) as f32`), applied the same
//! way as its `block_hadamard` (each row's consecutive blocks of b values times H_b, i.e.
//! x ↦ x·R). H_b is symmetric and orthogonal, so R = Rᵀ = R⁻¹. At inference lowbit rotates the
//! activations online with `block_hadamard` (x_rot = x·R) and multiplies by the stored rotated
//! weight: x_rot · (W·R)ᵀ = x·R·Rᵀ·Wᵀ = x·Wᵀ. GPTQ therefore runs on W·R with the Hessian of
//! the rotated inputs, E[(xR)ᵀ(xR)] = Rᵀ·H·R.
//!
//! Arithmetic: the fast Walsh–Hadamard butterflies in f64 on the f32 inputs, multiplied by the
//! f32 entry magnitude (as f64) and rounded to f32 once — the exact product with lowbit-nn's f32
//! matrix up to f64 rounding (the device matmul rounds its own way; the matrix is what must
//! agree, and does).

use crate::PtqError;
use crate::error::{check_finite, check_shape};

/// The magnitude of every entry of H_b as lowbit-nn stores it: `(1/√b in f64) as f32`.
fn entry(b: usize) -> f32 {
    (1.0 / (b as f64).sqrt()) as f32
}

fn check_block(cols: usize, block: usize) -> Result<(), PtqError> {
    if block == 0 || !block.is_power_of_two() || cols % block != 0 {
        return Err(PtqError::Rotation { cols, block });
    }
    Ok(())
}

/// The orthonormal Sylvester Hadamard matrix of order `n` (a power of two), `[n, n]` row-major:
/// H(i, j) = (−1)^popcount(i & j)/√n in f32 (lowbit-nn `hadamard_matrix`, entry for entry).
pub fn hadamard_matrix(n: usize) -> Result<Vec<f32>, PtqError> {
    check_block(n, n)?;
    if n > 1 << 14 {
        // n² values: refuse what cannot be a rotation block (lowbit-nn uses ≤ 128).
        return Err(PtqError::Rotation { cols: n, block: n });
    }
    let s = entry(n);
    Ok((0..n * n)
        .map(|k| {
            let (i, j) = (k / n, k % n);
            if (i & j).count_ones() % 2 == 0 { s } else { -s }
        })
        .collect())
}

/// In-place unnormalised Walsh–Hadamard transform of one block (Sylvester order: the butterfly
/// over bit h pairs indices i and i + h, which is x·H for H(i, j) = (−1)^popcount(i & j)).
fn fwht(v: &mut [f64]) {
    let n = v.len();
    let mut h = 1;
    while h < n {
        for i in (0..n).step_by(2 * h) {
            for k in i..i + h {
                let (a, b) = (v[k], v[k + h]);
                v[k] = a + b;
                v[k + h] = a - b;
            }
        }
        h *= 2;
    }
}

/// Rotates f64 rows in place: every `block` consecutive values of each row times H_block.
fn rotate_rows_f64(m: &mut [f64], cols: usize, block: usize) {
    let s = entry(block) as f64;
    for chunk in m.chunks_exact_mut(block) {
        fwht(chunk);
        chunk.iter_mut().for_each(|x| *x *= s);
    }
    debug_assert!(m.len() % cols == 0);
}

/// W·R: each row's consecutive `block` columns times the normalised Sylvester Hadamard matrix
/// (lowbit-nn `block_hadamard` on a `[rows, cols]` tensor). `block` must be a power of two
/// dividing `cols`; block 1 is the identity.
pub fn block_hadamard_rows(
    w: &[f32],
    rows: usize,
    cols: usize,
    block: usize,
) -> Result<Vec<f32>, PtqError> {
    check_shape("weight", w.len(), rows, cols)?;
    check_finite("weight", w)?;
    check_block(cols, block)?;
    let mut m: Vec<f64> = w.iter().map(|&v| v as f64).collect();
    rotate_rows_f64(&mut m, cols, block);
    Ok(m.into_iter().map(|v| v as f32).collect())
}

/// Rᵀ·H·R for a `[cols, cols]` Hessian H (the Hessian of the rotated inputs x·R), in f64 and
/// rounded to f32 once.
pub fn rotate_hessian(h: &[f32], cols: usize, block: usize) -> Result<Vec<f32>, PtqError> {
    check_shape("hessian", h.len(), cols, cols)?;
    check_finite("hessian", h)?;
    check_block(cols, block)?;
    let mut m: Vec<f64> = h.iter().map(|&v| v as f64).collect();
    rotate_rows_f64(&mut m, cols, block); // H·R
    let mut t = vec![0f64; cols * cols]; // (H·R)ᵀ = Rᵀ·Hᵀ
    for i in 0..cols {
        for j in 0..cols {
            t[j * cols + i] = m[i * cols + j];
        }
    }
    rotate_rows_f64(&mut t, cols, block); // Rᵀ·Hᵀ·R = (Rᵀ·H·R)ᵀ
    let mut out = vec![0f32; cols * cols];
    for i in 0..cols {
        for j in 0..cols {
            out[i * cols + j] = t[j * cols + i] as f32;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::noise;

    /// Direct product x·R with the explicit matrix, f64 sums.
    fn direct(w: &[f32], rows: usize, cols: usize, b: usize) -> Vec<f64> {
        let hb = hadamard_matrix(b).unwrap();
        let mut out = vec![0f64; rows * cols];
        for r in 0..rows {
            for j in 0..cols {
                let (blk, jj) = (j / b, j % b);
                out[r * cols + j] = (0..b)
                    .map(|i| w[r * cols + blk * b + i] as f64 * hb[i * b + jj] as f64)
                    .sum();
            }
        }
        out
    }

    #[test]
    fn rotation_is_orthogonal_and_symmetric() {
        for b in [1, 2, 16, 32, 128] {
            let cols = 2 * b;
            let eye: Vec<f32> = (0..cols * cols)
                .map(|i| if i % (cols + 1) == 0 { 1.0 } else { 0.0 })
                .collect();
            let r = block_hadamard_rows(&eye, cols, cols, b).unwrap(); // I·R = R
            for i in 0..cols {
                for j in 0..cols {
                    let rrt: f64 = (0..cols)
                        .map(|k| r[i * cols + k] as f64 * r[j * cols + k] as f64)
                        .sum();
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((rrt - want).abs() < 1e-6, "b={b} ({i},{j}): {rrt}");
                    assert_eq!(r[i * cols + j], r[j * cols + i], "symmetric");
                }
            }
        }
    }

    #[test]
    fn matches_the_direct_matrix_product() {
        let (rows, cols) = (3, 256);
        let w: Vec<f32> = noise(rows * cols, 9).iter().map(|v| 5.0 * v).collect();
        for b in [2, 16, 32, 64, 128] {
            let got = block_hadamard_rows(&w, rows, cols, b).unwrap();
            let want = direct(&w, rows, cols, b);
            for (g, d) in got.iter().zip(&want) {
                assert!(
                    (*g as f64 - d).abs() <= 1e-6 * (1.0 + d.abs()),
                    "b={b}: {g} vs {d}"
                );
            }
        }
        // Sylvester order and sign: H_2 = [[s, s], [s, −s]] applied as x·H.
        let s = entry(2);
        let got = block_hadamard_rows(&[1.0, 2.0], 1, 2, 2).unwrap();
        assert_eq!(got, vec![(3.0 * s as f64) as f32, (-(s as f64)) as f32]);
    }

    #[test]
    fn products_are_invariant_and_hessian_rotates() {
        let (rows, cols, n, b) = (4, 64, 20, 16);
        let w: Vec<f32> = noise(rows * cols, 1).to_vec();
        let x: Vec<f32> = noise(n * cols, 2).iter().map(|v| 3.0 * v).collect();
        let wr = block_hadamard_rows(&w, rows, cols, b).unwrap();
        let xr = block_hadamard_rows(&x, n, cols, b).unwrap(); // rows of X: x·R = Rᵀx
        for k in 0..n {
            for r in 0..rows {
                let dot = |a: &[f32], c: &[f32]| -> f64 {
                    a.iter().zip(c).map(|(&p, &q)| p as f64 * q as f64).sum()
                };
                let y = dot(&w[r * cols..(r + 1) * cols], &x[k * cols..(k + 1) * cols]);
                let yr = dot(&wr[r * cols..(r + 1) * cols], &xr[k * cols..(k + 1) * cols]);
                assert!((y - yr).abs() < 1e-5 * (1.0 + y.abs()), "{y} vs {yr}");
            }
        }
        // Rᵀ·H·R equals the Hessian of the rotated inputs.
        let h = crate::hessian(&x, cols, 8).unwrap();
        let hr = crate::hessian(&xr, cols, 8).unwrap();
        let got = rotate_hessian(&h, cols, b).unwrap();
        let scale = hr.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (a, c) in got.iter().zip(&hr) {
            assert!((a - c).abs() < 1e-5 * scale, "{a} vs {c}");
        }
    }

    #[test]
    fn bad_blocks_are_typed_errors() {
        let w = vec![0f32; 48];
        for b in [0, 3, 32, 12] {
            assert!(matches!(
                block_hadamard_rows(&w, 1, 48, b),
                Err(PtqError::Rotation { .. })
            ));
        }
        assert!(hadamard_matrix(12).is_err());
        assert!(hadamard_matrix(1 << 20).is_err());
        assert!(rotate_hessian(&w, 7, 1).is_err());
    }
}
