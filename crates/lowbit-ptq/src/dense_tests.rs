//! The GEMM helpers against a naive product, and thread-count independence: every public
//! computation that runs on them gives the same bits in a 1-thread and a 2-thread pool.

use crate::dense::{View, gemm_seq, par_row_blocks};
use crate::gptq_tests::{noise, problem};
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
