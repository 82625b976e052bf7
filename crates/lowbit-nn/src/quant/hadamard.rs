//! Block Walsh–Hadamard rotation along the last dimension, as used by QuEST (Panferov et al.,
//! 2025) and QuaRot (Ashkboos et al., 2024) to Gaussianise weights/activations before
//! quantization. `H_b` is the Sylvester Hadamard matrix of order `b` scaled by `1/sqrt(b)`, so it
//! is orthogonal and symmetric; applying it blockwise to both GEMM operands leaves `x·Wᵀ`
//! unchanged: `(x H)(W H)ᵀ = x H Hᵀ Wᵀ = x Wᵀ`.

use burn::tensor::{Device, Tensor};

use crate::NnError;

/// Default (maximum) rotation block.
pub const DEFAULT_BLOCK: usize = 128;

/// The rotation block for a reduction dimension `d_in`: `max_block` (a power of two) or the
/// largest power of two dividing `d_in`, whichever is smaller.
pub fn block_for(d_in: usize, max_block: usize) -> Result<usize, NnError> {
    if d_in == 0 || !max_block.is_power_of_two() {
        return Err(NnError::Hadamard(format!(
            "Hadamard needs d_in > 0 and a power-of-two max block (got d_in={d_in}, max_block={max_block})"
        )));
    }
    let pow2 = 1usize << d_in.trailing_zeros();
    Ok(pow2.min(max_block))
}

/// The orthonormal Sylvester Hadamard matrix of order `n` (a power of two), `[n, n]`.
pub fn hadamard_matrix(n: usize, device: &Device) -> Result<Tensor<2>, NnError> {
    if !n.is_power_of_two() {
        return Err(NnError::Hadamard(format!(
            "Hadamard order must be a power of two, got {n}"
        )));
    }
    let scale = 1.0 / (n as f64).sqrt();
    let data: Vec<f32> = (0..n * n)
        .map(|k| {
            let (i, j) = (k / n, k % n);
            // H[i][j] = (−1)^popcount(i & j)
            let sign = if (i & j).count_ones() % 2 == 0 {
                1.0
            } else {
                -1.0
            };
            (sign * scale) as f32
        })
        .collect();
    Ok(Tensor::<1>::from_floats(data.as_slice(), device).reshape([n, n]))
}

/// Applies `H_block` to every block of `block` consecutive values of the last dimension.
///
/// # Shapes
/// `x`: `[..., d]` with `d % block == 0`; output: same shape.
pub fn block_hadamard<const D: usize>(x: Tensor<D>, block: usize) -> Result<Tensor<D>, NnError> {
    let dims = x.dims();
    let d = *dims.last().unwrap_or(&0);
    if d == 0 || block == 0 || d % block != 0 {
        return Err(NnError::BlockMismatch { cols: d, block });
    }
    let h = hadamard_matrix(block, &x.device())?;
    let n: usize = dims.iter().product();
    // H is symmetric, so x_block · H equals x_block · Hᵀ.
    Ok(x.reshape([n / block, block]).matmul(h).reshape(dims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn vals(t: Tensor<2>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    }

    #[test]
    fn block_choice() {
        assert_eq!(block_for(4096, 128).unwrap(), 128);
        assert_eq!(block_for(96, 128).unwrap(), 32);
        assert_eq!(block_for(7, 128).unwrap(), 1);
        assert!(block_for(0, 128).is_err());
        assert!(block_for(64, 100).is_err());
    }

    #[test]
    fn h_times_h_transpose_is_identity() {
        let d = Device::flex();
        for n in [1, 2, 16, 128] {
            let h = hadamard_matrix(n, &d).unwrap();
            let p = vals(h.clone().matmul(h.transpose()));
            for i in 0..n {
                for j in 0..n {
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((p[i * n + j] - want).abs() < 1e-5, "n={n} ({i},{j})");
                }
            }
        }
        assert!(hadamard_matrix(12, &d).is_err());
    }

    #[test]
    fn gemm_is_invariant_under_rotation() {
        let d = Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (m, k, n) = (5, 256, 3);
        let xs: Vec<f32> = (0..m * k).map(|_| rng.random_range(-1.0..1.0)).collect();
        let ws: Vec<f32> = (0..n * k).map(|_| rng.random_range(-1.0..1.0)).collect();
        let x = Tensor::<1>::from_floats(xs.as_slice(), &d).reshape([m, k]);
        let w = Tensor::<1>::from_floats(ws.as_slice(), &d).reshape([n, k]);
        let block = block_for(k, DEFAULT_BLOCK).unwrap();
        let y = vals(x.clone().matmul(w.clone().transpose()));
        let xr = block_hadamard(x, block).unwrap();
        let wr = block_hadamard(w, block).unwrap();
        let yr = vals(xr.matmul(wr.transpose()));
        for (a, b) in y.iter().zip(&yr) {
            assert!((a - b).abs() < 1e-4 * (1.0 + a.abs()), "{a} vs {b}");
        }
    }

    #[test]
    fn rejects_bad_block() {
        let d = Device::flex();
        let x = Tensor::<2>::zeros([2, 48], &d);
        assert!(block_hadamard(x, 32).is_err());
    }
}
