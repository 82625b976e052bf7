//! The blocked linear algebra of `linalg.rs` against the unblocked loops it replaced (kept
//! here verbatim as the reference), plus properties of the factors.

use super::*;

// ---- the unblocked reference (the pre-GEMM implementation) ----

/// Lower Cholesky factor L (A = L·Lᵀ) of a symmetric matrix, reading only A's lower triangle;
/// the strict upper triangle of the result is 0. A pivot that is not > 0 and finite is an
/// error naming `stage` and the column.
fn cholesky_lower_unblocked(
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
fn lower_inverse_t_unblocked(l: &[f32], n: usize) -> Vec<f32> {
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
/// L = chol(H), H⁻¹ = L⁻ᵀ·L⁻¹, U = chol(H⁻¹)ᵀ.
fn cholesky_inverse_upper_unblocked(h: &[f32], n: usize) -> Result<Vec<f32>, PtqError> {
    let l = cholesky_lower_unblocked(h, n, "damped H")?;
    let mt = lower_inverse_t_unblocked(&l, n);
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
    let l2 = cholesky_lower_unblocked(&hinv, n, "H^-1")?;
    let mut u = vec![0f32; n * n];
    for i in 0..n {
        for j in 0..=i {
            u[j * n + i] = l2[i * n + j];
        }
    }
    Ok(u)
}

// ---- tests ----

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

/// A Hessian-like SPD matrix of size n: the Gram matrix of 2n correlated pseudo-random rows plus
/// 1 % damping (condition numbers in the hundreds to thousands, like gptq's damped H).
fn gram(n: usize) -> Vec<f32> {
    let rows = 2 * n + 4;
    let z = crate::test_support::noise(rows * n, n as u64 + 17);
    let x: Vec<f64> = (0..rows * n)
        .map(|i| {
            let (k, j) = (i / n, i % n);
            let nb = if j + 1 < n { z[k * n + j + 1] } else { 0.0 };
            (z[i] + 0.8 * nb) as f64 * (1.0 + (j % 5) as f64 * 0.5)
        })
        .collect();
    let mut a = vec![0f32; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..rows).map(|k| x[k * n + i] * x[k * n + j]).sum::<f64>() / rows as f64;
            a[i * n + j] = s as f32;
            a[j * n + i] = s as f32;
        }
    }
    let mean = (0..n).map(|i| a[i * n + i] as f64).sum::<f64>() / n as f64;
    (0..n).for_each(|i| a[i * n + i] += (0.01 * mean) as f32);
    a
}

/// max |x − y| / max |y|.
fn rel_diff(x: &[f32], y: &[f32]) -> f64 {
    let scale = y.iter().fold(0f64, |m, &v| m.max(v.abs() as f64));
    let d = x
        .iter()
        .zip(y)
        .fold(0f64, |m, (&a, &b)| m.max((a as f64 - b as f64).abs()));
    d / scale
}

#[test]
fn blocked_matches_unblocked() {
    for n in [1usize, 7, 64, 129, 576] {
        let a = gram(n);
        let l = cholesky_lower(&a, n, "A").unwrap();
        let l0 = cholesky_lower_unblocked(&a, n, "A").unwrap();
        assert!((0..n).all(|i| (i + 1..n).all(|j| l[i * n + j] == 0.0)));
        let dl = rel_diff(&l, &l0);
        let l64: Vec<f64> = l0.iter().map(|&v| v as f64).collect();
        let m: Vec<f32> = lower_inverse(&l64, n).iter().map(|&v| v as f32).collect();
        let m0 = transpose(&lower_inverse_t_unblocked(&l0, n), n);
        let dm = rel_diff(&m, &m0);
        let u = cholesky_inverse_upper(&a, n).unwrap();
        let u0 = cholesky_inverse_upper_unblocked(&a, n).unwrap();
        assert!((0..n).all(|i| (0..i).all(|j| u[i * n + j] == 0.0)));
        let du = rel_diff(&u, &u0);
        println!("n {n}: rel diff L {dl:e}, L^-1 {dm:e}, U {du:e}");
        assert!(
            dl <= 1e-6 && dm <= 1e-6 && du <= 1e-6,
            "n {n}: {dl:e} {dm:e} {du:e}"
        );
    }
}
