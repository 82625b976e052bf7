//! `lowbit export --format compressed-tensors` end to end on the tiny random Llama of
//! `common`: weight-only exports read back to the checkpoint's codes, W4A4 exports (NVFP4
//! weights and online NVFP4 inputs) carry one calibrated `input_global_scale` per linear, and
//! what the package cannot express is refused, naming the fix.

mod common;

use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};
use common::*;
use lowbit_nn::llama::CompressionPolicy;
use serde_json::Value;
use std::collections::BTreeMap;

#[test]
fn compressed_tensors_exports_read_back_to_the_same_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let (calib, _) = texts(tmp.path());
    let src = tmp.path().join("src");
    tiny_model(&src, None);
    for (format, ct) in [
        ("nvfp4", "nvfp4-pack-quantized"),
        ("mxfp4", "mxfp4-pack-quantized"),
        ("int4:block=32,asym", "pack-quantized"),
    ] {
        let ck = tmp.path().join(format!("ck-{ct}"));
        let ex = tmp.path().join(format!("ex-{ct}"));
        ok(&compress(&src, &ck, "gptq", format, &calib, &[]));
        ok(&lowbit(&[
            "export",
            "--checkpoint",
            s(&ck),
            "--format",
            "compressed-tensors",
            "--out",
            s(&ex),
        ]));
        let cfg: Value =
            serde_json::from_str(&std::fs::read_to_string(ex.join("config.json")).unwrap())
                .unwrap();
        let q = &cfg["quantization_config"];
        assert_eq!(q["quant_method"], "compressed-tensors", "{format}");
        assert_eq!(q["format"], ct, "{format}");
        assert_eq!(q["ignore"], serde_json::json!(["lm_head"]), "{format}");
        assert!(ex.join("tokenizer.json").is_file());
        let tensors = lowbit_export::read_safetensors(&ex.join("model.safetensors")).unwrap();
        let f = lowbit_formats::Format::parse(format).unwrap();
        let scheme = lowbit_export::ct_scheme_for(&f)
            .unwrap()
            .with_scale_dtype(lowbit_export::CtFloat::F32);
        for (name, parts) in checkpoint_parts(&ck) {
            let back = lowbit_export::read_ct_layer(&name, &tensors, &scheme).unwrap();
            assert_eq!(back.codes, parts.codes, "{format} {name}");
            assert_eq!(back.decode(), parts.decode(), "{format} {name}");
        }
        assert!(
            tensors
                .iter()
                .any(|(n, _)| n == "model.embed_tokens.weight")
        );
    }
    // What compressed-tensors cannot express is refused, listing what it can.
    let (po2, mr) = (tmp.path().join("po2"), tmp.path().join("mr"));
    ok(&compress(&src, &po2, "rtn", "po2-nf4", &calib, &[]));
    let e = err(&lowbit(&[
        "export",
        "--checkpoint",
        s(&po2),
        "--format",
        "compressed-tensors",
        "--out",
        s(&tmp.path().join("x")),
    ]));
    assert!(
        e.contains("po2-nf4") && e.contains("nvfp4") && e.contains("pack-quantized"),
        "{e}"
    );
    ok(&compress(&src, &mr, "mr-gptq", "mxfp4", &calib, &[]));
    let e = err(&lowbit(&[
        "export",
        "--checkpoint",
        s(&mr),
        "--format",
        "compressed-tensors",
        "--out",
        s(&tmp.path().join("y")),
    ]));
    assert!(e.contains("Hadamard") && e.contains("--format hf"), "{e}");
}

fn f32s(t: &lowbit_export::CtTensor) -> Vec<f32> {
    t.data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn amax(t: Tensor<3>) -> f32 {
    t.abs().max().into_data().try_to_vec::<f32>().unwrap()[0]
}

/// Largest |input| of every linear of the checkpoint in `dir` over the first `samples · seq`
/// tokens of `text`, computed here from the model's public modules (the inputs of q/k/v are
/// the first norm's output, of gate/up the second's, of down `silu(gate)·up`) and, for o_proj
/// whose input (the attention context) no public module returns, from a recorder of its own.
fn input_amax(
    dir: &std::path::Path,
    text: &str,
    samples: usize,
    seq: usize,
) -> BTreeMap<String, f32> {
    use lowbit_nn::capture::{LayerView, Recorder, with_recorder};
    struct OProj(BTreeMap<String, f32>);
    impl Recorder for OProj {
        fn record(&mut self, l: &LayerView<'_>) -> Result<(), lowbit_nn::NnError> {
            if l.name.ends_with("o_proj") {
                let a = l
                    .input
                    .clone()
                    .abs()
                    .max()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap()[0];
                let e = self.0.entry(l.name.to_string()).or_insert(0.0);
                *e = e.max(a);
            }
            Ok(())
        }
        fn into_any(self: Box<Self>) -> Box<dyn std::any::Any> {
            self
        }
    }
    let device = Device::flex();
    let loaded = lowbit_nn::hf::load_dir(dir, &device).unwrap();
    let tk = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    let ids: Vec<i64> = tk.encode(text, false).unwrap().get_ids()[..samples * seq]
        .iter()
        .map(|&i| i64::from(i))
        .collect();
    let m = &loaded.model;
    let mut out: BTreeMap<String, f32> = BTreeMap::new();
    let mut keep = |k: String, a: f32| {
        let e = out.entry(k).or_insert(0.0);
        *e = e.max(a);
    };
    let mut rec = OProj(BTreeMap::new());
    // One window per pass, as `lowbit eval` runs them: NVFP4's online tensor scale is per call,
    // so a batch of windows would quantize (and hence propagate) differently.
    for w in ids.chunks(seq) {
        let tokens = Tensor::<1, burn::tensor::Int>::from_data(
            burn::tensor::TensorData::new(w.to_vec(), [seq]),
            &device,
        )
        .reshape([1, seq]);
        let (_, r) = with_recorder(rec, || {
            let mut h = m.embed(tokens).unwrap();
            for (i, b) in m.layers.iter().enumerate() {
                let p = format!("model.layers.{i}.");
                let x = b.input_layernorm.forward(h.clone());
                for n in ["q_proj", "k_proj", "v_proj"] {
                    keep(format!("{p}self_attn.{n}"), amax(x.clone()));
                }
                let h1 = h.clone() + b.self_attn.forward(x, m.rope()).unwrap();
                let x = b.post_attention_layernorm.forward(h1.clone());
                for n in ["gate_proj", "up_proj"] {
                    keep(format!("{p}mlp.{n}"), amax(x.clone()));
                }
                let g = silu(b.mlp.gate_proj.forward(x.clone()).unwrap());
                let d = g * b.mlp.up_proj.forward(x).unwrap();
                keep(format!("{p}mlp.down_proj"), amax(d.clone()));
                h = h1 + b.mlp.down_proj.forward(d).unwrap();
            }
        })
        .unwrap();
        rec = r;
    }
    out.extend(rec.0);
    out
}

#[test]
fn w4a4_exports_carry_calibrated_activation_scales() {
    let tmp = tempfile::tempdir().unwrap();
    let (calib, _) = texts(tmp.path());
    let src = tmp.path().join("src");
    let policy = CompressionPolicy::new()
        .with_weight(Some("nvfp4".into()))
        .with_input(Some("nvfp4".into()));
    tiny_model_with(&src, Some(policy));
    let ex = tmp.path().join("ex");
    let export = |extra: &[&str], out: &std::path::Path, format: &str| {
        let mut args = vec![
            "export",
            "--checkpoint",
            s(&src),
            "--format",
            format,
            "--out",
            s(out),
        ];
        args.extend_from_slice(extra);
        lowbit(&args)
    };
    // Without calibration text the static activation scales cannot be made.
    let e = err(&export(&[], &ex, "compressed-tensors"));
    assert!(e.contains("--calib-text") && e.contains("W4A4"), "{e}");
    // HF exports store no activation scales.
    let e = err(&export(
        &["--calib-text", s(&calib), "--drop-input-quant"],
        &tmp.path().join("hf"),
        "hf",
    ));
    assert!(e.contains("drop --calib-text"), "{e}");
    let cal = [
        "--calib-text",
        s(&calib),
        "--calib-samples",
        "3",
        "--calib-seq-len",
        "32",
    ];
    ok(&export(&cal, &ex, "compressed-tensors"));
    let cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(ex.join("config.json")).unwrap()).unwrap();
    let g = &cfg["quantization_config"]["config_groups"]["group_0"];
    assert_eq!(cfg["quantization_config"]["format"], "nvfp4-pack-quantized");
    assert_eq!(g["input_activations"]["num_bits"], 4, "{g}");
    assert_eq!(g["input_activations"]["dynamic"], "local", "{g}");
    let tensors: BTreeMap<String, _> =
        lowbit_export::read_safetensors(&ex.join("model.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
    let want = input_amax(&src, &std::fs::read_to_string(&calib).unwrap(), 3, 32);
    assert_eq!(want.len(), 14);
    for (name, a) in &want {
        let t = &tensors[&format!("{name}.input_global_scale")];
        let got = f32s(t);
        // compressed-tensors' convention: 448·6 / amax (the encode factor).
        let expect = 2688.0f32 / a;
        assert!(
            got.len() == 1 && (got[0] - expect).abs() <= 1e-6 * expect,
            "{name}: {got:?} vs {expect}"
        );
    }
    // A single window gives a different (no larger) amax on some layer: the scales depend on
    // the calibration, and more windows can only widen the range.
    let ex1 = tmp.path().join("ex1");
    ok(&export(
        &[
            "--calib-text",
            s(&calib),
            "--calib-samples",
            "1",
            "--calib-seq-len",
            "32",
        ],
        &ex1,
        "compressed-tensors",
    ));
    let t1: BTreeMap<String, _> = lowbit_export::read_safetensors(&ex1.join("model.safetensors"))
        .unwrap()
        .into_iter()
        .collect();
    let mut differs = false;
    for name in want.keys() {
        let k = format!("{name}.input_global_scale");
        let (one, three) = (f32s(&t1[&k])[0], f32s(&tensors[&k])[0]);
        assert!(one >= three, "{name}: {one} < {three}");
        differs |= one != three;
    }
    assert!(differs);
}
