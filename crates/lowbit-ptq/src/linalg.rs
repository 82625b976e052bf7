//! The dense linear algebra GPTQ needs, written out by hand (no BLAS/LAPACK dependency): the
//! lower Cholesky factor, the inverse of a lower-triangular matrix, and from them the upper
//! Cholesky factor of H⁻¹ (paper §4 "Cholesky reformulation"; gptq: `cholesky` →
//! `cholesky_inverse` → `cholesky(upper=True)`).
//!
//! Matrices are square, row-major `[n, n]` f32. Every inner product is accumulated in f64 and
//! rounded to f32 once, so the results are at least as accurate as an f32 LAPACK (whose
//! summation order is not specified anyway); the fixtures' rounding decisions sit ≥ 1e-4 from
//! their boundaries, far beyond either noise. Cost: O(n³) single-threaded, ≈ n³/3 + n³/3 + n³/3
//! multiply-adds for the three steps.

use crate::PtqError;

/// Lower Cholesky factor L (A = L·Lᵀ) of a symmetric matrix, reading only A's lower triangle;
/// the strict upper triangle of the result is 0. A pivot that is not > 0 and finite is an
/// error naming `stage` and the column.
pub(crate) fn cholesky_lower(
    a: &[f32],
    n: usize,
    stage: &'static str,
) -> Result<Vec<f32>, PtqError> {
    let mut l = vec![0f32; n * n];
    for j in 0..n {
        let mut d = a[j * n + j] as f64;
        for k in 0..j {
            let v = l[j * n + k] as f64;
            d -= v * v;
        }
        if !(d > 0.0 && d.is_finite()) {
            return Err(PtqError::NotPositiveDefinite {
                stage,
                index: j,
                pivot: d,
            });
        }
        let ljj = d.sqrt();
        l[j * n + j] = ljj as f32;
        let ljj = l[j * n + j] as f64;
        for i in j + 1..n {
            let mut s = a[i * n + j] as f64;
            for k in 0..j {
                s -= l[i * n + k] as f64 * l[j * n + k] as f64;
            }
            l[i * n + j] = (s / ljj) as f32;
        }
    }
    Ok(l)
}

/// Inverse M = L⁻¹ of a lower-triangular matrix with a non-zero diagonal, by forward
/// substitution on the columns of the identity, returned TRANSPOSED (`mt[c·n + i] = M[i][c]`,
/// so every inner product below runs over contiguous memory).
pub(crate) fn lower_inverse_t(l: &[f32], n: usize) -> Vec<f32> {
    let mut mt = vec![0f32; n * n];
    for c in 0..n {
        mt[c * n + c] = (1.0 / l[c * n + c] as f64) as f32;
        for i in c + 1..n {
            let s: f64 = (c..i)
                .map(|k| l[i * n + k] as f64 * mt[c * n + k] as f64)
                .sum();
            mt[c * n + i] = (-s / l[i * n + i] as f64) as f32;
        }
    }
    mt
}

/// The upper Cholesky factor U of H⁻¹ (H⁻¹ = Uᵀ·U) of a symmetric positive-definite `h`:
/// L = chol(H), H⁻¹ = L⁻ᵀ·L⁻¹, U = chol(H⁻¹)ᵀ — the order of gptq's three calls. `h` is
/// row-major `[n, n]` (only its lower triangle is read); U is row-major with a zero strict
/// lower triangle.
///
/// # Errors
/// [`PtqError::Shape`] if `h` is not `[n, n]`; [`PtqError::NotPositiveDefinite`] for a pivot
/// that is not > 0 and finite (stage `"damped H"` or `"H^-1"`).
pub fn cholesky_inverse_upper(h: &[f32], n: usize) -> Result<Vec<f32>, PtqError> {
    crate::error::check_shape("hessian", h.len(), n, n)?;
    let l = cholesky_lower(h, n, "damped H")?;
    let mt = lower_inverse_t(&l, n);
    // H⁻¹[i][j] = Σ_k M[k][i]·M[k][j] over k ≥ max(i, j) = i (j ≤ i).
    let mut hinv = vec![0f32; n * n];
    for i in 0..n {
        for j in 0..=i {
            let (a, b) = (&mt[i * n + i..(i + 1) * n], &mt[j * n + i..(j + 1) * n]);
            let s: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
            hinv[i * n + j] = s as f32;
            hinv[j * n + i] = s as f32;
        }
    }
    let l2 = cholesky_lower(&hinv, n, "H^-1")?;
    let mut u = vec![0f32; n * n];
    for i in 0..n {
        for j in 0..=i {
            u[j * n + i] = l2[i * n + j];
        }
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small SPD matrix: B·Bᵀ + n·I with a fixed B.
    fn spd(n: usize) -> Vec<f32> {
        let b: Vec<f64> = (0..n * n)
            .map(|i| ((i * 37 % 11) as f64 - 5.0) / 7.0)
            .collect();
        let mut a = vec![0f32; n * n];
        for i in 0..n {
            for j in 0..n {
                let s: f64 = (0..n).map(|k| b[i * n + k] * b[j * n + k]).sum();
                a[i * n + j] = (s + if i == j { n as f64 } else { 0.0 }) as f32;
            }
        }
        a
    }

    fn matmul(a: &[f32], b: &[f32], n: usize) -> Vec<f64> {
        let mut c = vec![0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                c[i * n + j] = (0..n)
                    .map(|k| a[i * n + k] as f64 * b[k * n + j] as f64)
                    .sum();
            }
        }
        c
    }

    fn transpose(a: &[f32], n: usize) -> Vec<f32> {
        (0..n * n).map(|i| a[(i % n) * n + i / n]).collect()
    }

    #[test]
    fn cholesky_reconstructs() {
        let n = 9;
        let a = spd(n);
        let l = cholesky_lower(&a, n, "A").unwrap();
        let llt = matmul(&l, &transpose(&l, n), n);
        for (x, y) in llt.iter().zip(&a) {
            assert!((x - *y as f64).abs() < 1e-5 * (*y as f64).abs().max(1.0));
        }
        assert!((0..n).all(|i| (i + 1..n).all(|j| l[i * n + j] == 0.0)));
    }

    #[test]
    fn upper_factor_of_inverse() {
        let n = 12;
        let a = spd(n);
        let u = cholesky_inverse_upper(&a, n).unwrap();
        assert!((0..n).all(|i| (0..i).all(|j| u[i * n + j] == 0.0)));
        // (UᵀU)·A = I
        let utu = matmul(&transpose(&u, n), &u, n);
        let utu32: Vec<f32> = utu.iter().map(|&v| v as f32).collect();
        let id = matmul(&utu32, &a, n);
        for i in 0..n {
            for j in 0..n {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!(
                    (id[i * n + j] - want).abs() < 1e-5,
                    "{i} {j} {}",
                    id[i * n + j]
                );
            }
        }
    }

    #[test]
    fn not_positive_definite_is_an_error() {
        let a = [1.0, 2.0, 2.0, 1.0];
        let e = cholesky_inverse_upper(&a, 2).unwrap_err();
        assert!(matches!(
            e,
            PtqError::NotPositiveDefinite {
                stage: "damped H",
                index: 1,
                ..
            }
        ));
    }
}
