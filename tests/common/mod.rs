//! Helpers shared by the CLI tests of `compress` and `export`: a tiny random Llama with the
//! fixture tokenizer, calibration text from tests/fixtures/tiny-corpus, and runners of the
//! binary. Each test binary uses a subset.
#![allow(dead_code)]

use burn::tensor::Device;
use lowbit_nn::hf::save_dir;
use lowbit_nn::llama::{CompressionPolicy, LlamaConfig};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn lowbit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lowbit"))
        .args(args)
        .output()
        .unwrap()
}

pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "lowbit failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

pub fn err(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A random 2-block Llama (d 64, d_ff 128) with the fixture tokenizer, optionally with a
/// fake-quantization policy recorded in its config.
pub fn tiny_model(dir: &Path, policy: Option<&str>) {
    tiny_model_with(
        dir,
        policy.map(|f| CompressionPolicy::new().with_weight(Some(f.into()))),
    );
}

/// [`tiny_model`] with any compression policy (weight and input formats) in its config.
pub fn tiny_model_with(dir: &Path, policy: Option<CompressionPolicy>) {
    let mut cfg = LlamaConfig::new(320, 64, 2, 4, 2, 128)
        .with_max_seq_len(64)
        .with_init_std(0.2);
    let device = Device::flex();
    // The same weights with or without a policy: the device generator is seeded per model,
    // under a lock because the tests of this file share it.
    static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let model = {
        let _g = RNG.lock().unwrap_or_else(|e| e.into_inner());
        device.seed(11);
        cfg.init(&device).unwrap()
    };
    if let Some(p) = policy {
        cfg = cfg.with_compression(p);
    }
    save_dir(&model, &cfg, dir).unwrap();
    std::fs::copy(
        root().join("tests/fixtures/hf/gqa-untied/tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .unwrap();
}

/// Calibration text (docs 0–9) and held-out text (doc 11).
pub fn texts(tmp: &Path) -> (PathBuf, PathBuf) {
    let corpus = root().join("tests/fixtures/tiny-corpus");
    let mut calib = String::new();
    for i in 0..10 {
        calib += &std::fs::read_to_string(corpus.join(format!("doc{i:02}.txt"))).unwrap();
    }
    let p = tmp.join("calib.txt");
    std::fs::write(&p, calib).unwrap();
    (p, corpus.join("doc11.txt"))
}

pub fn compress(
    src: &Path,
    out: &Path,
    method: &str,
    format: &str,
    calib: &Path,
    extra: &[&str],
) -> Output {
    let mut args = vec![
        "compress",
        "--checkpoint",
        s(src),
        "--format",
        format,
        "--method",
        method,
        "--out",
        s(out),
        "--calib-text",
        s(calib),
        "--calib-samples",
        "4",
        "--calib-seq-len",
        "32",
        "--progress",
        "quiet",
    ];
    args.extend_from_slice(extra);
    lowbit(&args)
}

pub fn nll(dir: &Path, text: &Path) -> f64 {
    let out = ok(&lowbit(&[
        "eval",
        "--checkpoint",
        s(dir),
        "--text-file",
        s(text),
        "--json",
    ]));
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    v["nll"].as_f64().unwrap()
}

pub fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The coded parts of every compressed linear of a compressed checkpoint.
pub fn checkpoint_parts(dir: &Path) -> Vec<(String, lowbit_formats::CodedParts)> {
    let loaded = lowbit_nn::hf::load_dir(dir, &Device::flex()).unwrap();
    loaded
        .model
        .linears()
        .iter()
        .filter_map(|l| match &l.weight {
            lowbit_nn::weight::WeightRepr::Coded(lowbit_nn::weight::CodedWeight::Scalar(s)) => {
                Some((l.name.clone(), s.to_parts().unwrap()))
            }
            _ => None,
        })
        .collect()
}
