//! Compressed checkpoints: save → load gives the same model (logits bit for bit) for every kind
//! of coded layer, with packed codes, narrowed scales and an exact bits-per-value count.

use super::*;
use crate::hf::dir::{SaveOptions, load_dir};
use crate::hf::quant_config::{CodedLayer, QuantizationConfig};
use crate::hf::weights::read_safetensors;
use crate::llama::{CompressionPolicy, LlamaConfig};
use burn::tensor::{Int, Tensor, TensorData};

fn cfg() -> LlamaConfig {
    LlamaConfig::new(97, 64, 2, 4, 2, 128).with_max_seq_len(16)
}

fn logits(m: &Llama, device: &Device) -> Vec<f32> {
    let t = Tensor::<1, Int>::from_data(TensorData::new((0..12i64).collect(), [12]), device)
        .reshape([2, 6]);
    m.forward(t)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

/// A model whose linears are RTN-coded with `format` (through a policy), its qc, and the
/// full-precision config it came from.
fn coded(format: &str, device: &Device) -> (Llama, LlamaConfig, QuantizationConfig) {
    let policy = CompressionPolicy::new().with_weight(Some(format.into()));
    let model = cfg()
        .with_compression(policy)
        .init(device)
        .unwrap()
        .into_coded()
        .unwrap();
    let mut qc = QuantizationConfig::new("rtn");
    for l in model.linears() {
        let spec = CodedLayer {
            weight: format.into(),
            input: None,
            hadamard_block: 0,
        };
        qc.layers.insert(l.name.clone(), spec);
    }
    (model, cfg(), qc)
}

#[test]
fn scalar_formats_round_trip_bit_for_bit_with_packed_codes() {
    let device = Device::flex();
    for (format, bits, e4m3) in [
        ("int4:block=32", 4usize, false),
        ("int3:block=32,asym", 3, false),
        ("nvfp4", 4, true),
        // E8M0 scales of N(0, 0.02) weights (≈ 2^-7) are E4M3 values too.
        ("mxfp4", 4, true),
        ("po2-nf4", 4, true),
        ("int8", 8, false),
    ] {
        let (model, cfg, qc) = coded(format, &device);
        let dir = tempfile::tempdir().unwrap();
        let written =
            save_compressed_dir(&model, &cfg, &qc, dir.path(), &SaveOptions::default()).unwrap();
        let st = read_safetensors(&dir.path().join("model.safetensors")).unwrap();
        let p = "model.layers.0.mlp.down_proj";
        assert!(!st.contains_key(&format!("{p}.weight_codes")), "{format}");
        assert!(!st.contains_key(&format!("{p}.weight")), "{format}");
        let packed = &st[&format!("{p}.weight_packed")];
        assert_eq!(packed.shape, vec![64, (128 * bits).div_ceil(8)], "{format}");
        let scale = &st[&format!("{p}.weight_scale")];
        assert_eq!(
            matches!(scale.data, HostData::F8E4m3(_)),
            e4m3,
            "{format}: scale dtype {}",
            scale.data.dtype_name()
        );
        let loaded = load_dir(dir.path(), &device).unwrap();
        assert_eq!(loaded.quantization.as_ref(), Some(&written), "{format}");
        assert_eq!(
            logits(&model, &device),
            logits(&loaded.model, &device),
            "{format}"
        );
        assert!(written.bits_per_value > bits as f64, "{format}");
    }
}

#[test]
fn bits_per_value_counts_what_is_stored() {
    let device = Device::flex();
    // NVFP4: 4-bit codes, one E4M3 scale per 16, one f32 global scale per layer.
    let (model, cfg, qc) = coded("nvfp4", &device);
    let dir = tempfile::tempdir().unwrap();
    let q = save_compressed_dir(&model, &cfg, &qc, dir.path(), &SaveOptions::default()).unwrap();
    let layers: Vec<(usize, usize)> = model
        .linears()
        .iter()
        .map(|l| {
            let [r, c] = l.weight.dims();
            (r, c)
        })
        .collect();
    let n: usize = layers.iter().map(|(r, c)| r * c).sum();
    let want = (4.0 * n as f64 + 8.0 * (n / 16) as f64 + 32.0 * layers.len() as f64) / n as f64;
    assert!(
        (q.bits_per_value - want).abs() < 1e-12,
        "{} vs {want}",
        q.bits_per_value
    );
    // INT4 g32 asym: f32 scale and zero point per 32.
    let (model, cfg, qc) = coded("int4:block=32,asym", &device);
    let q = save_compressed_dir(&model, &cfg, &qc, dir.path(), &SaveOptions::default()).unwrap();
    assert!(
        (q.bits_per_value - (4.0 + 64.0 / 32.0)).abs() < 1e-12,
        "{}",
        q.bits_per_value
    );
}

#[test]
fn vq_layers_round_trip_and_wide_codes_are_kept() {
    let device = Device::flex();
    let model = cfg().init(&device).unwrap();
    let mut qc = QuantizationConfig::new("aqlm");
    let mut seed = 7u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as u32
    };
    let (m, bits, g) = (2usize, 9u32, 8usize);
    let model = model
        .map_linears(|name, l| {
            if !name.ends_with("up_proj") {
                return Ok(l);
            }
            let [rows, cols] = l.weight.dims();
            let e = 1usize << bits;
            let codes = (0..rows * cols / g * m)
                .map(|_| next() % e as u32)
                .collect();
            let books = (0..m * e * g)
                .map(|_| (next() % 1000) as f32 / 1e4 - 0.05)
                .collect();
            let scales = (0..rows)
                .map(|_| 1.0 + (next() % 10) as f32 / 10.0)
                .collect();
            let v = VqCodes::new(codes, books, scales, [rows, cols, m, e, g], &device)?;
            qc.layers.insert(
                name.to_string(),
                CodedLayer {
                    weight: format!("vq:{m}x{bits}g{g}"),
                    input: None,
                    hadamard_block: 0,
                },
            );
            Ok(CompressedLinear {
                weight: WeightRepr::Coded(CodedWeight::Vq(v)),
                ..l
            })
        })
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let q = save_compressed_dir(&model, &cfg(), &qc, dir.path(), &SaveOptions::default()).unwrap();
    let st = read_safetensors(&dir.path().join("model.safetensors")).unwrap();
    let codes = &st["model.layers.1.mlp.up_proj.weight_codes"];
    assert!(
        matches!(codes.data, HostData::I32(_)),
        "9-bit codes are I32"
    );
    assert_eq!(codes.shape, vec![128, 64 / g, m]);
    // Code bits M·B/G per weight, plus f32 codebooks and row scales.
    let (rows, cols) = (128usize, 64usize);
    let per_layer = (rows * cols / g * m) as f64 * bits as f64
        + 32.0 * (m * (1 << bits) * g) as f64
        + 32.0 * rows as f64;
    assert!((q.bits_per_value - per_layer / (rows * cols) as f64).abs() < 1e-12);
    let loaded = load_dir(dir.path(), &device).unwrap();
    assert_eq!(logits(&model, &device), logits(&loaded.model, &device));
}

#[test]
fn bad_quantization_configs_are_named_errors() {
    let device = Device::flex();
    let (model, cfg, mut qc) = coded("int4:block=32", &device);
    // A latent layer listed, or a coded one missing, is refused on save.
    qc.layers.remove("model.layers.0.self_attn.q_proj");
    let dir = tempfile::tempdir().unwrap();
    let e = save_compressed_dir(&model, &cfg, &qc, dir.path(), &SaveOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("model.layers.0.self_attn.q_proj"), "{e}");
    let (model, cfg, qc) = coded("int4:block=32", &device);
    save_compressed_dir(&model, &cfg, &qc, dir.path(), &SaveOptions::default()).unwrap();
    let path = dir.path().join("config.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let edit = |from: &str, to: &str| {
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        load_dir(dir.path(), &device).unwrap_err().to_string()
    };
    let e = edit("\"int4:block=32\"", "\"int4:block=48\"");
    assert!(
        e.contains("quantization_config.layers.model.layers.") && e.contains("weight"),
        "{e}"
    );
    let e = edit("\"quant_method\": \"lowbit\"", "\"quant_method\": \"gptq\"");
    assert!(
        e.contains("quantization_config") && e.contains("lowbit compress"),
        "{e}"
    );
    let e = edit("\"hadamard_block\": 0", "\"hadamard_block\": 3");
    assert!(
        e.contains("hadamard_block") && e.contains("power of two"),
        "{e}"
    );
    let e = edit(
        "model.layers.1.mlp.up_proj\"",
        "model.layers.9.mlp.up_proj\"",
    );
    assert!(
        e.contains("model.layers.9.mlp.up_proj") && e.contains("no such linear"),
        "{e}"
    );
    let e = edit("\"version\": 1", "\"version\": 7");
    assert!(e.contains("version 7"), "{e}");
}

#[test]
fn a_single_coded_linear_restores_from_its_tensors() {
    let device = Device::flex();
    let (model, _, qc) = coded("nvfp4", &device);
    let reg = quant_registry(&qc).unwrap();
    let fresh = cfg().init(&device).unwrap();
    let (a, b) = (model.linears()[5], fresh.linears()[5]);
    let t = linear_tensors(a).unwrap();
    assert!(
        t.keys().all(|k| k.starts_with(&format!("{}.", a.name))),
        "{t:?}"
    );
    let spec = &qc.layers[&a.name];
    let restored = load_coded_linear(b.clone(), spec, &reg, &t, &device).unwrap();
    assert_eq!(linear_tensors(&restored).unwrap(), t);
}
