//! `lowbit compress` and `lowbit export` end to end on a tiny random Llama (tokenizer of the HF
//! fixture gqa-untied, calibration text from tests/fixtures/tiny-corpus): RTN checkpoints
//! evaluate exactly as the fake-quantized model, GPTQ beats RTN on every layer's calibration
//! error, a killed run resumes to the same bytes, HF exports round-trip, and bad input is named
//! (compressed-tensors exports: `cli_export_ct`).

mod common;

use common::*;
use lowbit_nn::hf::{HostData, read_safetensors};
use serde_json::Value;
use std::path::Path;

#[test]
fn rtn_checkpoints_evaluate_as_the_fake_quantized_model() {
    let tmp = tempfile::tempdir().unwrap();
    let (calib, held) = texts(tmp.path());
    let (src, fq, out) = (
        tmp.path().join("src"),
        tmp.path().join("fq"),
        tmp.path().join("out"),
    );
    tiny_model(&src, None);
    tiny_model(&fq, Some("int4:block=32"));
    ok(&compress(&src, &out, "rtn", "int4:block=32", &calib, &[]));
    assert_eq!(
        nll(&out, &held),
        nll(&fq, &held),
        "decode == fake_quant, bit for bit"
    );
    assert_ne!(nll(&out, &held), nll(&src, &held));
    let cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    let q = &cfg["quantization_config"];
    assert_eq!(q["quant_method"], "lowbit");
    assert_eq!(q["layers"].as_object().unwrap().len(), 14);
    assert!((q["bits_per_value"].as_f64().unwrap() - (4.0 + 32.0 / 32.0)).abs() < 1e-12);
    assert!(out.join("tokenizer.json").is_file());
    assert!(
        !out.join(".compress").exists(),
        "progress removed when done"
    );
    // A QAT source compressed in part keeps the fake quantization of the layers left latent.
    let part = tmp.path().join("part");
    ok(&compress(
        &fq,
        &part,
        "rtn",
        "int4:block=32",
        &calib,
        &["--include", "model.layers.0.*"],
    ));
    assert_eq!(
        nll(&part, &held),
        nll(&fq, &held),
        "block 1 still fake-quantized"
    );
    // Every family: NVFP4, MXFP4, a multi-grid format, NF4, sparse∘INT, QuEST's centred grid.
    for f in [
        "nvfp4",
        "mxfp4",
        "po2-nf4",
        "sfp4",
        "nf4",
        "2of4+int4",
        "quest-int4",
    ] {
        let (fq2, out2) = (
            tmp.path().join(format!("fq-{f}")),
            tmp.path().join(format!("out-{f}")),
        );
        tiny_model(&fq2, Some(f));
        ok(&compress(&src, &out2, "rtn", f, &calib, &[]));
        assert_eq!(
            nll(&out2, &held),
            nll(&fq2, &held),
            "{f}: decode == fake_quant"
        );
    }
    let g = [
        "generate",
        "--prompt",
        "The",
        "--max-new-tokens",
        "8",
        "--temperature",
        "0",
    ];
    let gen_of = |d: &Path| {
        let mut a = g.to_vec();
        a.extend(["--checkpoint", s(d)]);
        ok(&lowbit(&a))
    };
    assert_eq!(gen_of(&out), gen_of(&fq));
}

#[test]
fn gptq_beats_rtn_on_every_layer_and_exports_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let (calib, held) = texts(tmp.path());
    let src = tmp.path().join("src");
    tiny_model(&src, None);
    let (rtn, gptq) = (tmp.path().join("rtn"), tmp.path().join("gptq"));
    ok(&compress(
        &src,
        &rtn,
        "rtn",
        "int3:block=32,asym",
        &calib,
        &[],
    ));
    ok(&compress(
        &src,
        &gptq,
        "gptq",
        "int3:block=32,asym",
        &calib,
        &[],
    ));
    let (r, g) = (
        jsonl(&rtn.join("compress.jsonl")),
        jsonl(&gptq.join("compress.jsonl")),
    );
    assert_eq!(r.len(), 14);
    for (a, b) in r.iter().zip(&g) {
        assert_eq!(a["layer"], b["layer"]);
        let (ea, eb) = (
            a["rel_error"].as_f64().unwrap(),
            b["rel_error"].as_f64().unwrap(),
        );
        assert!(eb < ea, "{}: GPTQ {eb} vs RTN {ea}", a["layer"]);
    }
    // Export to a dense HF directory: same NLL up to float rounding, no quantization left.
    let hf = tmp.path().join("hf");
    ok(&lowbit(&[
        "export",
        "--checkpoint",
        s(&gptq),
        "--format",
        "hf",
        "--out",
        s(&hf),
    ]));
    let (a, b) = (nll(&gptq, &held), nll(&hf, &held));
    assert!((a - b).abs() < 1e-5 * a.abs(), "{a} vs {b}");
    let text = std::fs::read_to_string(hf.join("config.json")).unwrap();
    assert!(!text.contains("quantization_config") && !text.contains("lowbit_compression"));
    // RTN's export re-compresses with RTN to the very same codes and scales.
    let hf_rtn = tmp.path().join("hf-rtn");
    ok(&lowbit(&[
        "export",
        "--checkpoint",
        s(&rtn),
        "--format",
        "hf",
        "--out",
        s(&hf_rtn),
    ]));
    let again = tmp.path().join("again");
    ok(&compress(
        &hf_rtn,
        &again,
        "rtn",
        "int3:block=32,asym",
        &calib,
        &[],
    ));
    let (x, y) = (
        read_safetensors(&rtn.join("model.safetensors")).unwrap(),
        read_safetensors(&again.join("model.safetensors")).unwrap(),
    );
    // Codes and zero points are identical; a scale recomputed from the decoded extremes,
    // (max − min)/7, may differ from the original by an ulp.
    for (k, v) in &x {
        if !k.contains("_proj.") {
            continue;
        }
        let w = &y[k];
        if k.ends_with("weight_scale") {
            for (a, b) in v.to_f32().iter().zip(w.to_f32()) {
                assert!(
                    (a - b).abs() <= 2.0 * f32::EPSILON * a.abs(),
                    "{k}: {a} vs {b}"
                );
            }
        } else {
            assert_eq!(v, w, "{k}");
        }
    }
    assert!(matches!(
        x["model.layers.0.mlp.up_proj.weight_packed"].data,
        HostData::U8(_)
    ));
}

#[test]
fn a_killed_compression_resumes_to_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let (calib, _) = texts(tmp.path());
    let src = tmp.path().join("src");
    tiny_model(&src, None);
    let (full, part) = (tmp.path().join("full"), tmp.path().join("part"));
    ok(&compress(&src, &full, "gptq", "nvfp4", &calib, &[]));
    ok(&compress(
        &src,
        &part,
        "gptq",
        "nvfp4",
        &calib,
        &["--stop-after-blocks", "1"],
    ));
    assert!(part.join(".compress").is_dir() && !part.join("config.json").exists());
    assert_eq!(jsonl(&part.join("compress.jsonl")).len(), 7);
    // Other settings on the same directory are refused, naming what differs.
    let e = err(&compress(&src, &part, "gptq", "mxfp4", &calib, &[]));
    assert!(e.contains("format") && e.contains("--force"), "{e}");
    ok(&compress(&src, &part, "gptq", "nvfp4", &calib, &[]));
    assert_eq!(
        std::fs::read(full.join("model.safetensors")).unwrap(),
        std::fs::read(part.join("model.safetensors")).unwrap()
    );
    let strip = |v: Vec<Value>| -> Vec<Value> {
        v.into_iter()
            .map(|mut r| {
                r.as_object_mut().unwrap().remove("seconds");
                r
            })
            .collect()
    };
    assert_eq!(
        strip(jsonl(&full.join("compress.jsonl"))),
        strip(jsonl(&part.join("compress.jsonl")))
    );
}

#[test]
fn bad_compress_input_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (calib, _) = texts(tmp.path());
    let src = tmp.path().join("src");
    tiny_model(&src, None);
    let out = tmp.path().join("out");
    let e = err(&compress(&src, &out, "gptq", "int4:block=48", &calib, &[]));
    assert!(
        e.contains("model.layers.0.self_attn.q_proj") && e.contains("block"),
        "{e}"
    );
    let e = err(&compress(&src, &out, "gptq", "int17", &calib, &[]));
    assert!(e.contains("--format") && e.contains("int17"), "{e}");
    let e = err(&lowbit(&[
        "compress",
        "--checkpoint",
        s(&src),
        "--format",
        "int4",
        "--method",
        "gptq",
        "--out",
        s(&out),
    ]));
    assert!(e.contains("--calib-text"), "{e}");
    let e = err(&compress(&src, &out, "aqlm", "int4:block=32", &calib, &[]));
    assert!(e.contains("vq:"), "{e}");
    let e = err(&compress(&src, &out, "gptq", "vq:1x8g8", &calib, &[]));
    assert!(e.contains("aqlm"), "{e}");
    // Not a Llama.
    let gpt2 = tmp.path().join("gpt2");
    tiny_model(&gpt2, None);
    let p = gpt2.join("config.json");
    let t = std::fs::read_to_string(&p)
        .unwrap()
        .replace("\"llama\"", "\"gpt2\"");
    std::fs::write(&p, t).unwrap();
    let e = err(&compress(&gpt2, &out, "rtn", "int4:block=32", &calib, &[]));
    assert!(e.contains("model_type") && e.contains("gpt2"), "{e}");
    // A finished checkpoint is not overwritten without --force, nor compressed again.
    ok(&compress(&src, &out, "rtn", "int4:block=32", &calib, &[]));
    let e = err(&compress(&src, &out, "rtn", "int4:block=32", &calib, &[]));
    assert!(e.contains("--force"), "{e}");
    let again = tmp.path().join("again");
    let e = err(&compress(&out, &again, "rtn", "int4:block=32", &calib, &[]));
    assert!(e.contains("already a compressed checkpoint"), "{e}");
}

#[test]
fn mr_gptq_records_its_rotation_and_the_hf_export_undoes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (calib, held) = texts(tmp.path());
    let src = tmp.path().join("src");
    tiny_model(&src, None);
    let (mr, hf) = (tmp.path().join("mr"), tmp.path().join("hf"));
    ok(&compress(&src, &mr, "mr-gptq", "nvfp4", &calib, &[]));
    let cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(mr.join("config.json")).unwrap()).unwrap();
    for (name, spec) in cfg["quantization_config"]["layers"].as_object().unwrap() {
        assert_eq!(
            spec["hadamard_block"], 16,
            "{name}: block = the format's group"
        );
    }
    ok(&lowbit(&[
        "export",
        "--checkpoint",
        s(&mr),
        "--format",
        "hf",
        "--out",
        s(&hf),
    ]));
    let (a, b) = (nll(&mr, &held), nll(&hf, &held));
    assert!((a - b).abs() < 1e-5 * a.abs(), "{a} vs {b}");
    let e = err(&compress(
        &src,
        &tmp.path().join("bad"),
        "mr-gptq",
        "nvfp4",
        &calib,
        &["--hadamard-block", "24"],
    ));
    assert!(
        e.contains("power of two") && e.contains("--hadamard-block"),
        "{e}"
    );
}

#[test]
fn aqlm_checkpoints_load_evaluate_and_export() {
    let tmp = tempfile::tempdir().unwrap();
    let (calib, held) = texts(tmp.path());
    let src = tmp.path().join("src");
    tiny_model(&src, None);
    let (aq, hf) = (tmp.path().join("aqlm"), tmp.path().join("hf"));
    let few = ["--max-epochs", "3", "--steps-per-epoch", "10", "--json"];
    let out = ok(&compress(&src, &aq, "aqlm", "vq:2x4g8", &calib, &few));
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    // 2·4 code bits per 8 weights plus f32 codebooks (2·16·8) and f32 row scales, per layer
    // ([rows, cols] of q, k, v, o, gate, up, down; two blocks).
    let shapes = [
        (64, 64),
        (32, 64),
        (32, 64),
        (64, 64),
        (128, 64),
        (128, 64),
        (64, 128),
    ];
    let (mut bits, mut n) = (0.0, 0.0);
    for (r, c) in shapes {
        bits += 2.0 * ((r * c) as f64 + 32.0 * (2 * 16 * 8) as f64 + 32.0 * r as f64);
        n += 2.0 * (r * c) as f64;
    }
    let bpv = v["bits_per_value"].as_f64().unwrap();
    assert!((bpv - bits / n).abs() < 1e-12, "{bpv} vs {}", bits / n);
    for r in jsonl(&aq.join("compress.jsonl")) {
        let e = r["rel_error"].as_f64().unwrap();
        assert!(e > 0.0 && e < 1.0, "{}: {e}", r["layer"]);
    }
    let st = read_safetensors(&aq.join("model.safetensors")).unwrap();
    let codes = &st["model.layers.1.mlp.down_proj.weight_codes"];
    assert_eq!(codes.shape, vec![64, 128 / 8, 2]);
    assert!(st.contains_key("model.layers.1.mlp.down_proj.weight_codebooks"));
    let e = err(&lowbit(&[
        "export",
        "--checkpoint",
        s(&aq),
        "--format",
        "compressed-tensors",
        "--out",
        s(&tmp.path().join("ct")),
    ]));
    assert!(
        e.contains("vq:2x4g8") && e.contains("compressed-tensors"),
        "{e}"
    );
    ok(&lowbit(&[
        "export",
        "--checkpoint",
        s(&aq),
        "--format",
        "hf",
        "--out",
        s(&hf),
    ]));
    let (a, b) = (nll(&aq, &held), nll(&hf, &held));
    assert!((a - b).abs() < 1e-5 * a.abs(), "{a} vs {b}");
}
