//! The fused kernels of `lowbit_nn::fused` against their composite tensor-op definitions, at the
//! shapes of the `train_step` bench (batch 8 × seq 256, 4 heads, vocab 4096), forward + backward
//! under autodiff on `flex`. Run: `cargo bench -p lowbit-nn --bench fused`.

use burn::tensor::{Device, Int, Tensor, TensorData};
use criterion::{Criterion, criterion_group, criterion_main};
use lowbit_nn::fused::{
    causal_softmax, causal_softmax_reference, cross_entropy_rows, cross_entropy_rows_reference,
};

fn ramp(n: usize, device: &Device) -> Tensor<1> {
    let v: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 125.0 - 4.0)
        .collect();
    Tensor::<1>::from_data(TensorData::new(v, [n]), device)
}

fn bench(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let mut g = c.benchmark_group("fused_fwd_bwd");
    g.sample_size(20);

    let dims = [8, 4, 256, 256];
    let scores = ramp(dims.iter().product(), &device).reshape(dims);
    for (label, fused) in [
        ("causal_softmax/fused", true),
        ("causal_softmax/composite", false),
    ] {
        g.bench_function(label, |b| {
            b.iter(|| {
                let x = scores.clone().require_grad();
                let p = if fused {
                    causal_softmax(x.clone(), 0.125)
                } else {
                    causal_softmax_reference(x.clone(), 0.125)
                };
                x.grad(&p.sum().backward()).expect("grad")
            })
        });
    }

    let (n, v) = (8 * 256, 4096);
    let logits = ramp(n * v, &device).reshape([n, v]);
    let y: Vec<i64> = (0..n).map(|i| ((i * 2654435761) % v) as i64).collect();
    let y = Tensor::<1, Int>::from_data(TensorData::new(y, [n]), &device);
    for (label, fused) in [
        ("cross_entropy/fused", true),
        ("cross_entropy/composite", false),
    ] {
        g.bench_function(label, |b| {
            b.iter(|| {
                let x = logits.clone().require_grad();
                let l = if fused {
                    cross_entropy_rows(x.clone(), y.clone())
                } else {
                    cross_entropy_rows_reference(x.clone(), y.clone())
                };
                x.grad(&l.mean().backward()).expect("grad")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
