//! The GEMM helpers against a naive product (f64, and `matmul_into` in f32 and f64), and
//! thread-count independence: `matmul_into` and every public GPTQ computation that runs on the
//! helpers give the same bits in a 1-thread and a 2-thread pool.

use crate::dense::{Elem, View, gemm_seq, matmul_into, par_row_blocks};
use crate::test_support::{gptq_problem as problem, noise};
use crate::{
    FormatQuantizer, GptqOptions, cholesky_inverse_upper, gptq, hessian, relative_output_error,
};

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn gemm_matches_naive_product() {
    let (m, k, n) = (131, 70, 97);
    let a: Vec<f64> = noise(m * k, 1).iter().map(|&v| v as f64).collect();
    // B stored transposed, read through a strided view
    let bt: Vec<f64> = noise(n * k, 2).iter().map(|&v| v as f64).collect();
    let mut c = vec![7f64; m * n];
    par_row_blocks(&mut c, n, m, |r0, r1, blk| {
        let av = View::row_major(&a, k, (r0, 0)).block(r1 - r0, k);
        let bv = View::row_major(&bt, k, (0, 0)).block_t(k, n);
        gemm_seq(blk, n, av, bv, -1.0, true);
    });
    for i in 0..m {
        for j in 0..n {
            let s: f64 = (0..k).map(|t| a[i * k + t] * bt[j * k + t]).sum();
            assert!((c[i * n + j] - (7.0 - s)).abs() < 1e-12, "{i} {j}");
        }
    }
    // k = 0: C ← 0 without accumulation
    let mut c = vec![1f64; 4];
    gemm_seq(
        &mut c,
        2,
        View::new(&[], 2, 0, 0, 1),
        View::new(&[], 0, 2, 2, 1),
        1.0,
        false,
    );
    assert_eq!(c, vec![0.0; 4]);
}

/// Runs `f` in a rayon pool of `threads` threads.
fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    // sizes above the 64-row blocks and the 64-column panels, not multiples of either
    let (rows, cols) = (200, 192);
    let (w, h) = problem(rows, cols, 9);
    let x = noise(300 * 130, 4);
    let run = || {
        let mut q = FormatQuantizer::parse("int4:block=32,asym").unwrap();
        let o = GptqOptions {
            block_size: 48,
            ..GptqOptions::default()
        };
        let r = gptq(&w, rows, cols, &h, &mut q, &o).unwrap();
        let e = relative_output_error(&w, &r.w_hat, rows, cols, &h).unwrap();
        let u = cholesky_inverse_upper(&h, cols).unwrap();
        let hx = hessian(&x, 130, 97).unwrap();
        (r, e.to_bits(), bits(&u), bits(&hx))
    };
    let one = with_threads(1, run);
    let two = with_threads(2, run);
    assert_eq!(one.0.codes, two.0.codes);
    assert_eq!(bits(&one.0.w_hat), bits(&two.0.w_hat));
    assert_eq!(one.1, two.1);
    assert_eq!(one.2, two.2);
    assert_eq!(one.3, two.3);
}

/// `matmul_into` of `a [m, k]` and `b [k, n]` in a fresh C (filled with NaN, which must all be
/// overwritten).
fn matmul<T: Elem>(a: &[T], k: usize, b: &[T], n: usize, nan: T) -> Vec<T> {
    let mut c = vec![nan; a.len() / k * n];
    matmul_into(a, k, b, n, &mut c);
    c
}

/// The naive triple loop in f64 and, per element, Σ_t |a_it·b_tj| (the scale of its rounding
/// error).
fn naive(a: &[f64], m: usize, k: usize, b: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut c = vec![0f64; m * n];
    let mut abs = vec![0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            for t in 0..k {
                c[i * n + j] += a[i * k + t] * b[t * n + j];
                abs[i * n + j] += (a[i * k + t] * b[t * n + j]).abs();
            }
        }
    }
    (c, abs)
}

// m × k × n, odd sizes; 131 and 300 rows span two and three 128-row blocks
const SHAPES: [(usize, usize, usize); 5] = [
    (1, 1, 1),
    (3, 130, 257),
    (131, 7, 5),
    (300, 70, 97),
    (2, 1, 3),
];

#[test]
fn matmul_into_matches_the_naive_product_in_f64_and_f32() {
    for (s, &(m, k, n)) in SHAPES.iter().enumerate() {
        let a32 = noise(m * k, 20 + s as u64);
        let b32 = noise(k * n, 40 + s as u64);
        let a: Vec<f64> = a32.iter().map(|&v| v as f64).collect();
        let b: Vec<f64> = b32.iter().map(|&v| v as f64).collect();
        let (want, abs) = naive(&a, m, k, &b, n);
        let c64 = matmul(&a, k, &b, n, f64::NAN);
        let c32 = matmul(&a32, k, &b32, n, f32::NAN);
        for i in 0..m * n {
            // f64: 1e-12 relative to Σ|a·b| (the products are exact: f32 inputs)
            assert!(
                (c64[i] - want[i]).abs() <= 1e-12 * abs[i],
                "f64 {m}x{k}x{n} [{i}]"
            );
            // f32: k + 2 f32 epsilons of Σ|a·b| (a k-term f32 sum rounds at most k times, plus
            // the rounding of the products)
            let tol = (k as f64 + 2.0) * f32::EPSILON as f64 * abs[i];
            assert!(
                (c32[i] as f64 - want[i]).abs() <= tol,
                "f32 {m}x{k}x{n} [{i}]: {} vs {}",
                c32[i],
                want[i]
            );
        }
    }
}

#[test]
fn matmul_into_does_not_depend_on_the_thread_count() {
    for (s, &(m, k, n)) in SHAPES.iter().enumerate() {
        let a32 = noise(m * k, 60 + s as u64);
        let b32 = noise(k * n, 80 + s as u64);
        let a: Vec<f64> = a32.iter().map(|&v| v as f64).collect();
        let b: Vec<f64> = b32.iter().map(|&v| v as f64).collect();
        let run = || {
            let c64 = matmul(&a, k, &b, n, f64::NAN);
            let c32 = matmul(&a32, k, &b32, n, f32::NAN);
            (
                c64.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                bits(&c32),
            )
        };
        let one = with_threads(1, run);
        let two = with_threads(2, run);
        assert_eq!(one, two, "{m}x{k}x{n}");
    }
}
