//! GPU code-path smoke test: one `CompressedLinear` (NVFP4 weights and inputs, Hadamard rotation,
//! QuEST trust estimator) forward + backward on `wgpu` equals the CPU (`flex`) result.
//!
//! Built only with `--features wgpu`. On the CPU-only dev/CI machines it runs on Mesa's software
//! Vulkan driver (`apt-get install mesa-vulkan-drivers`, done by `tools/setup_wgpu.sh`), slowly:
//! every kernel is compiled on first use. Run it with
//! `cargo test --profile gpu-smoke -p lowbit-nn --features wgpu --test wgpu_smoke` (`.ci/run`
//! does, together with the Llama-step check in `lowbit-train`).
#![cfg(feature = "wgpu")]

use burn::tensor::{Device, DeviceKind, Tensor, TensorData};
use lowbit_nn::CompressedLinearConfig;
use lowbit_nn::quant::estimator::Estimator;

const D_IN: usize = 64;
const D_OUT: usize = 32;
const ROWS: usize = 8;

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 data")
}

/// Output, input gradient and weight gradient of `sum(y²)` on `device`.
fn run(device: &Device, weight: &[f32], x: &[f32]) -> [Vec<f32>; 3] {
    let ad = device.clone().autodiff();
    let cfg = CompressedLinearConfig::new(D_IN, D_OUT)
        .with_weight(Some("nvfp4".into()))
        .with_input(Some("nvfp4".into()))
        .with_hadamard(true)
        .with_estimator(Estimator::Trust { factor: 1.0 });
    let mut layer = cfg.init(&ad).expect("layer");
    let w = Tensor::<2>::from_data(TensorData::new(weight.to_vec(), [D_OUT, D_IN]), &ad);
    let lw = layer.weight.latent_mut().expect("latent weight");
    lw.weight = lw.weight.clone().map(|_| w.require_grad());
    let xt = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [ROWS, D_IN]), &ad).require_grad();
    let y = layer.forward(xt.clone()).expect("forward");
    let grads = y.clone().powf_scalar(2.0).sum().backward();
    let gx = xt.grad(&grads).expect("input grad");
    let gw = layer
        .weight
        .latent()
        .expect("latent weight")
        .weight
        .grad(&grads)
        .expect("weight grad");
    [host(y.inner()), host(gx), host(gw)]
}

#[test]
fn wgpu_forward_and_backward_match_the_cpu() {
    // Dyadic values with few significant bits and a 64-wide Hadamard block (scale 1/8): the
    // rotation is exact in f32 whatever the summation order, so both devices quantize the same
    // operands and only the final GEMMs' summation order may differ.
    let weight: Vec<f32> = (0..D_OUT * D_IN)
        .map(|i| ((i * 7919) % 1009) as f32 / 4096.0 - 0.123_046_875)
        .collect();
    let x: Vec<f32> = (0..ROWS * D_IN)
        .map(|i| ((i * 104_729) % 2003) as f32 / 256.0 - 3.90625)
        .collect();
    let cpu = run(&Device::flex(), &weight, &x);
    let gpu = run(&Device::wgpu(DeviceKind::DefaultDevice), &weight, &x);
    for (what, (a, b)) in ["output", "input grad", "weight grad"]
        .iter()
        .zip(cpu.iter().zip(gpu.iter()))
    {
        assert_eq!(a.len(), b.len(), "{what}: length");
        let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(scale > 0.0, "{what}: all zeros on the CPU");
        let worst = a
            .iter()
            .zip(b)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        eprintln!("{what}: max |cpu − wgpu| = {worst:e} (scale {scale:e})");
        assert!(
            worst <= 1e-5 * scale,
            "{what}: max |cpu − wgpu| = {worst:e} (scale {scale:e})"
        );
    }
}
