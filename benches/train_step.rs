//! One training step (forward + backward + AdamW) of a 4-layer d=256 Llama (4 heads, SwiGLU 768,
//! vocab 4096), batch 8 × seq 256, on the CPU `flex` backend: full precision, NVFP4 W4A4 and
//! PO2(NF4) W4A4. criterion reports elements/s = tokens/s. `benches/compare_torch.sh` runs the
//! same model and step in PyTorch and prints the ratio. Run:
//! `cargo bench -p lowbit-train --bench train_step`.
//!
//! `LOWBIT_BENCH_BACKEND=ndarray cargo bench -p lowbit-train --features ndarray --bench
//! train_step` times the same step on Burn's `ndarray` backend, the measurement behind `flex`
//! being the default CPU backend (benches/README.md).

use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lowbit_nn::llama::{CompressionPolicy, LlamaConfig, cross_entropy};
use lowbit_optim::{AdamW, AdamWConfig, Optimizer, clip_factor, grad_norms};
use lowbit_train::trainer::init_model;

const BATCH: usize = 8;
const SEQ: usize = 256;
const VOCAB: usize = 4096;

fn tokens(offset: usize, device: &Device) -> Tensor<2, Int> {
    let v: Vec<i64> = (0..BATCH * SEQ)
        .map(|i| ((i * 2654435761 + offset) % VOCAB) as i64)
        .collect();
    Tensor::<1, Int>::from_data(TensorData::new(v, [BATCH * SEQ]), device).reshape([BATCH, SEQ])
}

/// The CPU backend to time: `flex` (the default), or `ndarray` with `--features ndarray`.
fn backend() -> Device {
    match std::env::var("LOWBIT_BENCH_BACKEND").as_deref() {
        Err(_) | Ok("flex") => Device::flex(),
        #[cfg(feature = "ndarray")]
        Ok("ndarray") => Device::ndarray(),
        Ok(other) => panic!(
            "LOWBIT_BENCH_BACKEND={other}: this bench knows `flex` and, built with \
             `--features ndarray`, `ndarray`"
        ),
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("train_step_4x256_b8_s256");
    g.throughput(Throughput::Elements((BATCH * SEQ) as u64));
    g.sample_size(10);
    let device = backend().autodiff();
    for (label, fmt) in [
        ("bf16-none", None),
        ("nvfp4-w4a4", Some("nvfp4")),
        ("po2-nf4-w4a4", Some("po2-nf4")),
    ] {
        let policy = CompressionPolicy::new()
            .with_weight(fmt.map(String::from))
            .with_input(fmt.map(String::from));
        let cfg = LlamaConfig::new(VOCAB, 256, 4, 4, 4, 768)
            .with_max_seq_len(SEQ)
            .with_compression(policy);
        let mut model = Some(init_model(&cfg, 1, &device).expect("model"));
        let mut opt = AdamW::new(AdamWConfig::default());
        let x = tokens(0, &device);
        let y = tokens(1, &device);
        g.bench_function(label, |b| {
            b.iter(|| {
                let m = model.take().expect("model");
                let loss = cross_entropy(m.forward(x.clone()).expect("forward"), y.clone());
                let grads = GradientsParams::from_grads(loss.backward(), &m);
                let n = grad_norms(&m, &grads).expect("grad norms").total;
                model = Some(opt.step(m, grads, 1e-3, clip_factor(n, 1.0)).unwrap());
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
