//! Tests of the weight representations: a coded weight decodes to exactly what the latent
//! weight's fake quantization gives, trains its scales, keeps its dtypes in the state dict.

use super::*;
use crate::hf::{HostData, load_state_dict, read_safetensors, state_dict, write_safetensors};
use crate::llama::{CompressionPolicy, LlamaConfig};
use crate::{CompressedLinear, CompressedLinearConfig};
use burn::tensor::{Device, Int, TensorData};

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn input(rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    let v: Vec<f32> = (0..rows * cols)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0)
        .collect();
    Tensor::<1>::from_data(TensorData::new(v, [rows * cols]), device).reshape([rows, cols])
}

fn layer(fmt: &str, hadamard: bool, device: &Device) -> CompressedLinear {
    CompressedLinearConfig::new(128, 16)
        .with_weight(Some(fmt.into()))
        .with_hadamard(hadamard)
        .with_init_std(0.5)
        .init(device)
        .unwrap()
}

const FORMATS: [&str; 7] = [
    "nvfp4",
    "mxfp4",
    "po2-nf4",
    "int4:asym",
    "quest-int4",
    "2of4+nvfp4",
    "int8:block=32",
];

#[test]
fn a_coded_layer_computes_exactly_what_its_latent_layer_does() {
    let device = Device::flex();
    for fmt in FORMATS {
        for hadamard in [false, true] {
            let latent = layer(fmt, hadamard, &device);
            let x = input(4, 128, &device);
            let want = host(latent.forward(x.clone()).unwrap());
            let coded = latent.into_coded().unwrap();
            assert!(coded.weight.coded().is_some() && coded.weight_format().is_none());
            let got = host(coded.forward(x).unwrap());
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert_eq!(
                    a.to_bits(),
                    b.to_bits(),
                    "{fmt} H={hadamard} [{i}]: {a} vs {b}"
                );
            }
        }
    }
}

#[test]
fn the_tensor_decode_is_the_host_decode_bit_for_bit() {
    let device = Device::flex();
    for fmt in FORMATS {
        let f = lowbit_formats::Format::parse(fmt).unwrap();
        let l = layer(fmt, false, &device);
        let w = host(l.weight.latent().unwrap().weight.val());
        let parts = f.coded_parts(&f.encode(&w, 128).unwrap()).unwrap();
        let c = ScalarCodes::from_parts(&parts, &device).unwrap();
        assert_eq!(
            c.to_parts().unwrap(),
            parts,
            "{fmt}: to_parts inverts from_parts"
        );
        let got = host(c.decode());
        for (i, (a, b)) in got.iter().zip(parts.decode()).enumerate() {
            assert_eq!(a.to_bits(), b.to_bits(), "{fmt} [{i}]");
        }
    }
}

#[test]
fn the_p_step_parameters_get_gradients_and_codes_do_not_move() {
    // d(Σ W)/d scale_b = Σ over the block of (level · global): checked against the host parts.
    let device = Device::flex().autodiff();
    let f = lowbit_formats::Format::parse("nvfp4").unwrap();
    let l = layer("nvfp4", false, &device);
    let w = host(l.weight.latent().unwrap().weight.val().inner());
    let parts = f.coded_parts(&f.encode(&w, 128).unwrap()).unwrap();
    let c = ScalarCodes::from_parts(&parts, &device).unwrap();
    let g = c.decode().sum().backward();
    let gs = c.weight_scale.grad(&g).expect("scale gradient");
    let gs: Vec<f32> = gs.into_data().try_to_vec::<f32>().unwrap();
    for (b, &got) in gs.iter().enumerate() {
        let want: f32 = (0..parts.block)
            .map(|j| {
                parts.tables[0][parts.codes[b * parts.block + j] as usize]
                    * parts.global.unwrap_or(1.0)
            })
            .sum();
        assert!(
            (got - want).abs() <= 1e-5 * want.abs().max(1.0),
            "block {b}: {got} vs {want}"
        );
    }
    assert!(
        c.weight_levels.grad(&g).is_none(),
        "levels are fixed for scalar codes"
    );
}

#[test]
fn vq_decodes_the_sum_of_codebook_vectors_times_the_row_scale() {
    let device = Device::flex();
    let (rows, cols, m, entries, group) = (3usize, 8usize, 2usize, 4usize, 4usize);
    let books: Vec<f32> = (0..m * entries * group)
        .map(|i| ((i * 13 % 17) as f32 - 8.0) / 8.0)
        .collect();
    let codes: Vec<u32> = (0..rows * (cols / group) * m)
        .map(|i| (i * 7 % entries) as u32)
        .collect();
    let scales = vec![0.5f32, -2.0, 3.25];
    let vq = VqCodes::new(
        codes.clone(),
        books.clone(),
        scales.clone(),
        [rows, cols, m, entries, group],
        &device,
    )
    .unwrap();
    let got = host(CodedWeight::Vq(vq).decode());
    for r in 0..rows {
        for c in 0..cols {
            let (j, e) = (c / group, c % group);
            let mut s = 0.0f32;
            for k in 0..m {
                let code = codes[(r * (cols / group) + j) * m + k] as usize;
                s += books[(k * entries + code) * group + e];
            }
            assert_eq!(got[r * cols + c], s * scales[r], "[{r}, {c}]");
        }
    }
    let e = VqCodes::new(
        vec![9; 12],
        books,
        scales,
        [rows, cols, m, entries, group],
        &device,
    )
    .unwrap_err();
    assert!(e.to_string().contains("outside a codebook"), "{e}");
}

#[test]
fn coded_weights_without_a_format_or_codes_are_errors() {
    let device = Device::flex();
    let dense = CompressedLinearConfig::new(64, 8).init(&device).unwrap();
    let e = dense.into_coded().unwrap_err().to_string();
    assert!(e.contains("full-precision"), "{e}");
    let sparse = CompressedLinearConfig::new(64, 8)
        .with_weight(Some("2of4".into()))
        .init(&device)
        .unwrap();
    let e = sparse.into_coded().unwrap_err().to_string();
    assert!(e.contains("quantizer"), "{e}");
    let e = CompressedLinearConfig::new(64, 8)
        .with_representation(WeightKind::Coded)
        .init(&device)
        .unwrap_err();
    assert!(matches!(e, NnError::Coded(_)), "{e}");
}

#[test]
fn a_coded_model_round_trips_through_safetensors_with_its_dtypes() {
    let device = Device::flex();
    let policy = CompressionPolicy::new().with_weight(Some("po2-nf4".into()));
    let cfg = LlamaConfig::new(97, 64, 2, 4, 2, 128)
        .with_max_seq_len(16)
        .with_compression(policy);
    let model = cfg.init(&device).unwrap().into_coded().unwrap();
    let sd = state_dict(&model).unwrap();
    let p = "model.layers.1.mlp.down_proj";
    assert!(
        !sd.contains_key(&format!("{p}.weight")),
        "no latent weight is kept"
    );
    assert!(matches!(
        sd[&format!("{p}.weight_codes")].data,
        HostData::U8(_)
    ));
    assert_eq!(sd[&format!("{p}.weight_codes")].shape, vec![64, 128]);
    assert!(matches!(
        sd[&format!("{p}.weight_table")].data,
        HostData::U8(_)
    ));
    assert_eq!(sd[&format!("{p}.weight_scale")].shape, vec![64, 128 / 16]);
    assert!(sd.contains_key(&format!("{p}.weight_global_scale")));
    assert!(sd.contains_key("model.layers.0.input_layernorm.weight"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("model.safetensors");
    write_safetensors(&file, &sd, Default::default()).unwrap();
    let back = read_safetensors(&file).unwrap();
    assert_eq!(back, sd);
    // A fresh coded model (different random init) loaded from the file computes the same.
    let fresh = cfg.init(&device).unwrap().into_coded().unwrap();
    assert_ne!(state_dict(&fresh).unwrap(), sd);
    let loaded = load_state_dict(fresh, &back).unwrap();
    let tokens = Tensor::<1, Int>::from_data(TensorData::new((0..12i64).collect(), [12]), &device)
        .reshape([2, 6]);
    let a = model.forward(tokens.clone()).unwrap();
    let b = loaded.forward(tokens).unwrap();
    assert_eq!(
        a.into_data().try_to_vec::<f32>().unwrap(),
        b.into_data().try_to_vec::<f32>().unwrap()
    );
}
