//! The model path on the GPU backend (Mesa's software Vulkan on CPU-only machines; `.ci/run`
//! runs it with `--features wgpu`): a tiny GQA Llama's loss and every parameter's gradient norm
//! on `--device wgpu` equal the CPU's up to summation order. The CPU side runs lowbit's fused
//! softmax and cross-entropy kernels, the GPU side their composite tensor-op definitions.
#![cfg(feature = "wgpu")]

use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use lowbit_nn::llama::{LlamaConfig, cross_entropy};
use lowbit_optim::grad_norms;
use lowbit_train::device::parse_device;
use lowbit_train::trainer::init_model;

#[test]
fn wgpu_device_runs_the_model_like_the_cpu() {
    let cfg = LlamaConfig::new(96, 32, 2, 4, 2, 64).with_max_seq_len(16);
    let step = |device: Device| {
        let device = device.autodiff();
        let model = init_model(&cfg, 3, &device).unwrap();
        let ids: Vec<i64> = (0..2 * 16).map(|i| (i * 37 % 96) as i64).collect();
        let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [32]), &device).reshape([2, 16]);
        let x = ids.clone().slice([0..2, 0..15]);
        let y = ids.slice([0..2, 1..16]);
        let loss = cross_entropy(model.forward(x).unwrap(), y);
        let value = loss.clone().into_scalar::<f32>() as f64;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        (value, grad_norms(&model, &grads).unwrap().per_param)
    };
    let (cpu_loss, cpu_norms) = step(parse_device("cpu").unwrap());
    let (gpu_loss, gpu_norms) = step(parse_device("wgpu").unwrap());
    assert!(
        (cpu_loss - gpu_loss).abs() <= 1e-5 * cpu_loss.abs(),
        "loss cpu {cpu_loss} wgpu {gpu_loss}"
    );
    assert_eq!(cpu_norms.len(), gpu_norms.len());
    for ((name, a), (name_b, b)) in cpu_norms.iter().zip(&gpu_norms) {
        assert_eq!(name, name_b);
        assert!(*a > 0.0, "{name}: zero gradient on the CPU");
        assert!(
            (a - b).abs() <= 1e-4 * a,
            "{name}: grad norm cpu {a} wgpu {b}"
        );
    }
}
