//! Property tests: tensor fake quantization equals `lowbit_formats::Format::fake_quant` bit for
//! bit on the Flex CPU backend, over random and adversarial tensors.

use burn::tensor::{Device, Tensor};
use lowbit_formats::Format;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::fake::{fake_quant, fake_quant_host, fake_quant_tensor, has_tensor_path};
use crate::NnError;

const COLS: usize = 64;

/// Formats on the tensor path.
const TENSOR_FORMATS: [&str; 12] = [
    "nvfp4",
    "mxfp4",
    "int4",
    "int4:asym",
    "int8",
    "int2:block=16",
    "int3:asym,block=16",
    "int8:asym,block=64",
    "nf4",
    "nf4:block=16,scale=e4m3-global",
    "nf4:block=32,scale=e8m0",
    "e2m1:block=16,scale=f32",
];

/// Formats that take the documented host fallback.
const HOST_FORMATS: [&str; 6] = [
    "mxfp4-rceil",
    "mxfp4-even",
    "split87",
    "po2-nf4",
    "sfp4",
    "2of4+int4",
];

fn rows_of(rng: &mut ChaCha8Rng) -> Vec<Vec<f32>> {
    let mut rows: Vec<Vec<f32>> = Vec::new();
    // Random rows over a wide range of magnitudes, per block.
    for _ in 0..24 {
        let e: i32 = rng.random_range(-140..120);
        let scale = 2f32.powi(e.clamp(-126, 127));
        rows.push(
            (0..COLS)
                .map(|_| rng.random_range(-4.0f32..4.0) * scale)
                .collect(),
        );
    }
    // Gaussian-ish rows at unit scale (sum of uniforms).
    for _ in 0..8 {
        rows.push(
            (0..COLS)
                .map(|_| (0..4).map(|_| rng.random_range(-1.0f32..1.0)).sum())
                .collect(),
        );
    }
    // Adversarial rows.
    rows.push(vec![0.0; COLS]);
    rows.push(vec![-0.0; COLS]);
    let ties: Vec<f32> = [
        0.25f32, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 6.0, -0.25, -0.75, -5.0, -6.0, 0.0, -0.0, 0.5,
        4.5,
    ]
    .iter()
    .copied()
    .cycle()
    .take(COLS)
    .collect();
    rows.push(ties.clone());
    rows.push(ties.iter().map(|v| v * 1.5).collect());
    rows.push(ties.iter().map(|v| v / 6.0 * 7.0).collect());
    rows.push((0..COLS).map(|i| i as f32 - 32.0).collect()); // integer ties for INT
    rows.push((0..COLS).map(|i| (i as f32 - 32.0) + 0.5).collect());
    rows.push((0..COLS).map(|i| f32::from_bits(i as u32 + 1)).collect()); // subnormals
    rows.push((0..COLS).map(|i| -f32::from_bits(7 * i as u32)).collect());
    rows.push((0..COLS).map(|i| f32::MAX / (i as f32 + 1.0)).collect()); // huge
    rows.push(
        (0..COLS)
            .map(|i| {
                if i % 2 == 0 {
                    f32::MAX
                } else {
                    -f32::MIN_POSITIVE
                }
            })
            .collect(),
    );
    rows.push(
        (0..COLS)
            .map(|i| if i % 17 == 0 { 1e30 } else { 1e-30 })
            .collect(),
    );
    // NVFP4 E4M3 ties: with global amax 448, enc_g·(1/6) rounds to exactly 1, so s_f32 = amax_b
    // and these block maxima sit exactly on E4M3 midpoints (8.5, 9.5, 3·2^-10 ties; 17 ties up).
    let mut e4m3_ties = vec![0.0f32; COLS];
    for (b, amax) in [448.0f32, 8.5, 9.5, 3.0 * 2f32.powi(-10)]
        .iter()
        .enumerate()
    {
        for j in 0..16 {
            e4m3_ties[b * 16 + j] = amax * (j as f32 - 7.0) / 8.0;
        }
    }
    rows.push(e4m3_ties);
    // INT asymmetric scale underflow (s == 0) with lo = 0 and with lo < 0.
    rows.push(
        (0..COLS)
            .map(|i| {
                if i % 8 == 0 {
                    f32::from_bits(1 + (i as u32 / 8) % 3)
                } else {
                    0.0
                }
            })
            .collect(),
    );
    rows.push(
        (0..COLS)
            .map(|i| {
                if i % 8 == 0 {
                    -f32::from_bits(1 + (i as u32 / 8) % 3)
                } else {
                    0.0
                }
            })
            .collect(),
    );
    let mut one = vec![0.0f32; COLS];
    one[5] = -3.0;
    rows.push(one);
    rows.push(
        (0..COLS)
            .map(|i| 448.0 * 6.0 / 2f32.powi(i as i32 % 24))
            .collect(),
    );
    rows
}

fn check(name: &str, x: &[f32], rows: usize) {
    let format = Format::parse(name).unwrap();
    let mut want = x.to_vec();
    format.fake_quant(&mut want, COLS).unwrap();
    let d = Device::flex();
    let t = Tensor::<1>::from_floats(x, &d).reshape([rows, COLS]);
    let values = |t: Tensor<2>| -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap()
    };
    // What layers call (on `flex`: the host quantizer) and, where the format has one, the
    // tensor-op path explicitly (what GPU backends run).
    let dispatched = values(fake_quant(t.clone(), &format).unwrap());
    let got = if has_tensor_path(&format) {
        values(fake_quant_tensor(t, &format).unwrap())
    } else {
        dispatched.clone()
    };
    for i in 0..x.len() {
        assert_eq!(
            dispatched[i].to_bits(),
            want[i].to_bits(),
            "{name}: fake_quant, index {i}"
        );
        assert_eq!(
            got[i].to_bits(),
            want[i].to_bits(),
            "{name}: index {i} (row {}), x={:e} got={:e} want={:e}",
            i / COLS,
            x[i],
            got[i],
            want[i]
        );
    }
}

fn check_all(names: &[&str]) {
    let mut rng = ChaCha8Rng::seed_from_u64(0x10b17);
    let rows = rows_of(&mut rng);
    for name in names {
        // Each row alone (NVFP4's global amax then differs per row) and all rows together.
        for r in &rows {
            check(name, r, 1);
        }
        let all: Vec<f32> = rows.iter().flatten().copied().collect();
        check(name, &all, rows.len());
    }
}

#[test]
fn tensor_path_is_bit_exact() {
    for name in TENSOR_FORMATS {
        assert!(has_tensor_path(&Format::parse(name).unwrap()), "{name}");
    }
    check_all(&TENSOR_FORMATS);
}

#[test]
fn host_fallback_is_bit_exact() {
    for name in HOST_FORMATS {
        assert!(!has_tensor_path(&Format::parse(name).unwrap()), "{name}");
    }
    check_all(&HOST_FORMATS);
}

#[test]
fn three_dim_tensor_keeps_shape() {
    let d = Device::flex();
    let format = Format::parse("nvfp4").unwrap();
    let x = Tensor::<3>::ones([2, 3, 32], &d);
    let y = fake_quant(x, &format).unwrap();
    assert_eq!(y.dims(), [2, 3, 32]);
}

#[test]
fn errors_are_typed() {
    let d = Device::flex();
    let format = Format::parse("nvfp4").unwrap();
    let x = Tensor::<2>::ones([2, 24], &d);
    assert!(matches!(
        fake_quant(x, &format),
        Err(NnError::BlockMismatch {
            cols: 24,
            block: 16
        })
    ));
    let x = Tensor::<1>::from_floats(
        [
            1.0f32,
            f32::NAN,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
        ],
        &d,
    );
    assert!(matches!(
        fake_quant_tensor(x.clone(), &format),
        Err(NnError::NonFinite)
    ));
    assert!(matches!(fake_quant(x, &format), Err(NnError::NonFinite)));
    assert!(matches!(
        fake_quant_tensor(
            Tensor::<2>::ones([2, 32], &d),
            &Format::parse("split87").unwrap()
        ),
        Err(NnError::Config(_))
    ));
    let x = Tensor::<2>::ones([2, 32], &d);
    let split = Format::parse("split87").unwrap();
    assert!(fake_quant_host(x.slice([0..2, 0..16]), &split).is_ok());
}

#[test]
fn fake_quant_composes_with_ste_on_autodiff() {
    let d = Device::flex().autodiff();
    let format = Format::parse("nvfp4").unwrap();
    let v: Vec<f32> = (0..32).map(|i| (i as f32 - 15.5) / 3.0).collect();
    let x = Tensor::<1>::from_floats(v.as_slice(), &d)
        .reshape([2, 16])
        .require_grad();
    let q = fake_quant(x.clone().detach(), &format).unwrap();
    let out = crate::quant::estimator::ste(x.clone(), q);
    let grads = out.clone().sum().backward();
    let g: Vec<f32> = x
        .grad(&grads)
        .unwrap()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    assert_eq!(g, vec![1.0; 32]);
    let mut want = v.clone();
    format.fake_quant(&mut want, 16).unwrap();
    let got: Vec<f32> = out
        .detach()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    assert_eq!(got, want);
}
