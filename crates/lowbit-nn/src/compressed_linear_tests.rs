//! Tests of `CompressedLinear` (forward values, estimators' gradients, representations).

use super::*;
use burn::tensor::TensorData;

fn data(t: Tensor<2>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 data")
}

fn input(device: &Device) -> Tensor<2> {
    let v: Vec<f32> = (0..4 * 64)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0)
        .collect();
    Tensor::<1>::from_data(TensorData::new(v, [4 * 64]), device).reshape([4, 64])
}

#[test]
fn without_formats_it_is_a_dense_linear() {
    let device = Device::flex();
    let l = CompressedLinearConfig::new(64, 8)
        .with_bias(true)
        .init(&device)
        .unwrap();
    let x = input(&device);
    let y = l.forward(x.clone()).unwrap();
    let want = x
        .matmul(l.weight.latent().unwrap().weight.val().transpose())
        .add(l.bias.as_ref().unwrap().val().unsqueeze());
    assert_eq!(data(y), data(want));
}

#[test]
fn forward_uses_quantized_operands_and_ste_gradients() {
    let device = Device::flex().autodiff();
    let l = CompressedLinearConfig::new(64, 8)
        .with_weight(Some("nvfp4".into()))
        .with_input(Some("mxfp4".into()))
        .init(&device)
        .unwrap();
    let x = input(&device);
    // Reference: quantize on the host with lowbit-formats, then a dense product.
    let mut xq = data(x.clone());
    Format::parse("mxfp4")
        .unwrap()
        .fake_quant(&mut xq, 64)
        .unwrap();
    let mut wq = data(l.weight.latent().unwrap().weight.val());
    Format::parse("nvfp4")
        .unwrap()
        .fake_quant(&mut wq, 64)
        .unwrap();
    let xq_t = Tensor::<1>::from_data(TensorData::new(xq.clone(), [256]), &device).reshape([4, 64]);
    let wq_t = Tensor::<1>::from_data(TensorData::new(wq, [512]), &device).reshape([8, 64]);
    let y = l.forward(x).unwrap();
    assert_eq!(data(y.clone()), data(xq_t.clone().matmul(wq_t.transpose())));
    // STE: d(sum y)/dW = onesᵀ · x_q (each output row gets the column sums of x_q).
    let grads = y.sum().backward();
    let gw = data(
        l.weight
            .latent()
            .unwrap()
            .weight
            .grad(&grads)
            .expect("weight grad")
            .reshape([8, 64]),
    );
    let col: Vec<f32> = (0..64)
        .map(|j| (0..4).map(|i| xq[i * 64 + j]).sum())
        .collect();
    for r in 0..8 {
        for j in 0..64 {
            assert!((gw[r * 64 + j] - col[j]).abs() <= 1e-5 * col[j].abs().max(1.0));
        }
    }
}

#[test]
fn half_hadamard_preserves_the_dense_product() {
    // H·Hᵀ = I: rotating both operands leaves x·Wᵀ unchanged up to rounding.
    let device = Device::flex();
    let l = CompressedLinearConfig::new(64, 8)
        .with_hadamard(true)
        .init(&device)
        .unwrap();
    assert_eq!(l.hadamard_block, 64);
    let x = input(&device);
    let y = data(l.forward(x.clone()).unwrap());
    let want = data(x.matmul(l.weight.latent().unwrap().weight.val().transpose()));
    for (a, b) in y.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "{a} vs {b}");
    }
}

#[test]
fn block_mismatch_is_an_error() {
    let device = Device::flex();
    let e = CompressedLinearConfig::new(40, 8)
        .with_weight(Some("nvfp4".into()))
        .init(&device)
        .unwrap_err();
    assert!(matches!(
        e,
        NnError::BlockMismatch {
            cols: 40,
            block: 16
        }
    ));
}

/// d(Σy)/dx of `l` at `x`, and y.
fn input_grad(l: &CompressedLinear, x: Vec<f32>, device: &Device) -> (Vec<f32>, Vec<f32>) {
    let xt = Tensor::<1>::from_data(TensorData::new(x, [4 * 64]), device)
        .reshape([4, 64])
        .require_grad();
    let y = l.forward(xt.clone()).unwrap();
    let g = y.clone().sum().backward();
    let gx = xt.grad(&g).expect("input grad");
    (data(gx.reshape([4, 64])), data(y.inner()))
}

#[test]
fn trust_and_clipped_estimators_mask_gradients_only() {
    let device = Device::flex().autodiff();
    let mut x = data(input(&Device::flex()));
    // An outlier: MX FLOOR's scale 2^(5−2) puts it at 7.5 → saturated to 6; QuEST's RMS clip
    // (α₄·rms of its row) clips it too.
    x[5] = 60.0;
    let mk = |fmt: &str, est: Estimator| {
        CompressedLinearConfig::new(64, 8)
            .with_weight(Some(fmt.into()))
            .with_input(Some(fmt.into()))
            .with_estimator(est)
            .init(&device)
            .unwrap()
    };
    for (fmt, est) in [
        ("quest-int4", Estimator::Trust { factor: 1.0 }),
        ("mxfp4", Estimator::ClippedSte { clip: 1.0 }),
        ("mxfp4", Estimator::Trust { factor: 1.0 }),
    ] {
        let l = mk(fmt, est);
        let mut ste_l = mk(fmt, Estimator::Ste);
        ste_l.weight = l.weight.clone();
        let f = Format::parse(fmt).unwrap();
        let (gx, y) = input_grad(&l, x.clone(), &device);
        let (gx_ste, y_ste) = input_grad(&ste_l, x.clone(), &device);
        assert_eq!(y, y_ste, "{fmt}: estimators change gradients, not values");
        // Host mask from the rule of quant::mask, on lowbit-formats' cells.
        let c = f.cells(&x, 64).unwrap();
        let mut zeros = 0;
        for i in 0..4 * 64 {
            let keep = match est {
                Estimator::Trust { factor } => (c.q[i] - x[i]).abs() <= factor * c.tol[i],
                Estimator::ClippedSte { clip } => clip * c.lo[i] <= x[i] && x[i] <= clip * c.hi[i],
                _ => true,
            };
            let want = if keep { gx_ste[i] } else { 0.0 };
            assert_eq!(gx[i], want, "{fmt} element {i}");
            zeros += usize::from(!keep);
        }
        assert!(zeros > 0, "{fmt}: the mask removed nothing");
    }
}

#[test]
fn lsq_learns_a_step_for_integer_formats_only() {
    let device = Device::flex().autodiff();
    let l = CompressedLinearConfig::new(64, 8)
        .with_weight(Some("int4".into()))
        .with_input(Some("int8".into()))
        .with_estimator(Estimator::Lsq)
        .init(&device)
        .unwrap();
    let s = l
        .weight
        .latent()
        .unwrap()
        .weight_step
        .as_ref()
        .expect("weight step");
    assert_eq!(s.val().dims(), [8, 1]);
    assert!(l.input_step.is_some());
    let y = l.forward(input(&device)).unwrap();
    let g = y.sum().backward();
    let gs = data(s.grad(&g).expect("step grad").reshape([8, 1]));
    assert!(gs.iter().all(|v| v.is_finite()) && gs.iter().any(|v| *v != 0.0));
    let e = CompressedLinearConfig::new(64, 8)
        .with_weight(Some("nvfp4".into()))
        .with_estimator(Estimator::Lsq)
        .init(&device)
        .unwrap_err();
    assert!(e.to_string().contains("LSQ"), "{e}");
}
