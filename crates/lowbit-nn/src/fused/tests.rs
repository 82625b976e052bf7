//! The fused kernels against their composite tensor-op definitions, forward and backward, on
//! `flex` with and without autodiff.

use super::kernels::exp_nonpos;
use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random(n: usize, scale: f32, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-scale..scale)).collect()
}

fn values<const D: usize>(x: Tensor<D>) -> Vec<f32> {
    x.into_data().convert::<f32>().try_into_vec().unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn exp_nonpos_is_within_2_5e_7_relative_of_f64_exp() {
    let mut worst = 0.0f64;
    let mut x = -87.0f32;
    while x <= 0.5 {
        let want = (x as f64).exp();
        let rel = ((exp_nonpos(x) as f64 - want) / want).abs();
        worst = worst.max(rel);
        x += 1.3e-4;
    }
    assert!(worst < 2.5e-7, "worst relative error {worst:e}");
    assert_eq!(exp_nonpos(0.0), 1.0);
    assert!(exp_nonpos(f32::NAN).is_nan());
    let tiny = exp_nonpos(f32::NEG_INFINITY);
    assert!(tiny > 0.0 && tiny < 2e-38, "{tiny:e}");
}

/// Scores `[b, h, t, s]` from a seeded stream, on `device`.
fn scores(dims: [usize; 4], seed: u64, device: &Device) -> Tensor<4> {
    let n = dims.iter().product();
    Tensor::<1>::from_data(TensorData::new(random(n, 6.0, seed), [n]), device).reshape(dims)
}

#[test]
fn causal_softmax_equals_the_composite_definition() {
    let device = Device::flex();
    // Training (t = s), a KV-cache prefill continuation (t < s) and one-token decoding.
    for (dims, seed) in [([2, 3, 17, 17], 1), ([1, 2, 5, 12], 2), ([2, 2, 1, 9], 3)] {
        let x = scores(dims, seed, &device);
        let scale = 0.125;
        let fused = values(causal_softmax(x.clone(), scale));
        let reference = values(causal_softmax_reference(x, scale));
        assert!(max_abs_diff(&fused, &reference) < 1e-6, "{dims:?}");
        let [_, _, t, s] = dims;
        for (r, row) in fused.chunks(s).enumerate() {
            let seen = r % t + s - t + 1;
            assert!(row[seen..].iter().all(|&p| p == 0.0), "masked keys are 0");
            let sum: f32 = row.iter().sum();
            assert!((sum - 1.0).abs() < 1e-6, "row {r} sums to {sum}");
        }
    }
}

#[test]
fn causal_softmax_reads_strided_inputs() {
    let device = Device::flex();
    let x = scores([2, 7, 3, 7], 4, &device).swap_dims(1, 3); // [2, 7, 3, 7], not contiguous
    let fused = values(causal_softmax(x.clone(), 0.5));
    let reference = values(causal_softmax_reference(x, 0.5));
    assert!(max_abs_diff(&fused, &reference) < 1e-6);
}

#[test]
fn causal_softmax_propagates_nan_like_the_composite() {
    let device = Device::flex();
    let mut v = random(16, 1.0, 5);
    v[5] = f32::NAN; // row 1 of a [1, 1, 4, 4] score block, a visible key
    let x = Tensor::<1>::from_data(TensorData::new(v, [16]), &device).reshape([1, 1, 4, 4]);
    let fused = values(causal_softmax(x.clone(), 1.0));
    let reference = values(causal_softmax_reference(x, 1.0));
    // Row 1 (query 1 sees keys 0 and 1) is NaN where it is visible; the composite's max is NaN
    // too, which also turns its masked keys into NaN, while the kernel keeps them 0. Other rows
    // are untouched in both.
    assert!(fused[4..6].iter().all(|p| p.is_nan()));
    assert!(reference[4..6].iter().all(|p| p.is_nan()));
    assert_eq!(&fused[6..8], &[0.0, 0.0]);
    for (k, (f, r)) in fused.iter().zip(&reference).enumerate() {
        if !(4..8).contains(&k) {
            assert!(!f.is_nan() && (f - r).abs() < 1e-6, "entry {k}: {f} vs {r}");
        }
    }
}

#[test]
fn causal_softmax_gradient_equals_the_composite_gradient() {
    let device = Device::flex().autodiff();
    let dims = [2, 2, 13, 13];
    let n: usize = dims.iter().product();
    let weights =
        Tensor::<1>::from_data(TensorData::new(random(n, 1.0, 7), [n]), &device).reshape(dims);
    let grad_of = |fused: bool| {
        let x = scores(dims, 6, &device).require_grad();
        let p = if fused {
            causal_softmax(x.clone(), 0.3)
        } else {
            causal_softmax_reference(x.clone(), 0.3)
        };
        let g = (p * weights.clone()).sum().backward();
        values(x.grad(&g).expect("scores gradient"))
    };
    let (fused, reference) = (grad_of(true), grad_of(false));
    let scale = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(scale > 1e-3);
    assert!(max_abs_diff(&fused, &reference) < 1e-6 * scale.max(1.0));
}

fn logits_and_targets(n: usize, v: usize, device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
    let x = Tensor::<1>::from_data(TensorData::new(random(n * v, 8.0, 11), [n * v]), device)
        .reshape([n, v]);
    let y: Vec<i64> = (0..n).map(|i| ((i * 37 + 5) % v) as i64).collect();
    (
        x,
        Tensor::<1, Int>::from_data(TensorData::new(y, [n]), device),
    )
}

#[test]
fn cross_entropy_equals_the_composite_definition() {
    let device = Device::flex();
    let (x, y) = logits_and_targets(33, 1000, &device);
    let fused = values(cross_entropy_rows(x.clone(), y.clone()));
    let reference = values(cross_entropy_rows_reference(x, y));
    assert!(max_abs_diff(&fused, &reference) < 2e-5, "{fused:?}");
}

#[test]
fn cross_entropy_gradient_equals_the_composite_gradient() {
    let device = Device::flex().autodiff();
    let (x0, y) = logits_and_targets(21, 300, &device);
    let w = Tensor::<1>::from_data(TensorData::new(random(21, 1.0, 12), [21]), &device);
    let grad_of = |fused: bool| {
        let x = x0.clone().require_grad();
        let l = if fused {
            cross_entropy_rows(x.clone(), y.clone())
        } else {
            cross_entropy_rows_reference(x.clone(), y.clone())
        };
        let g = (l * w.clone()).sum().backward();
        values(x.grad(&g).expect("logits gradient"))
    };
    let (fused, reference) = (grad_of(true), grad_of(false));
    assert!(max_abs_diff(&fused, &reference) < 1e-6);
    // Each row's gradient sums to zero (softmax minus a one-hot, times a scalar).
    for row in fused.chunks(300) {
        assert!(row.iter().sum::<f32>().abs() < 1e-5);
    }
}
