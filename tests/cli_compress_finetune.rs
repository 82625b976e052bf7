//! `lowbit compress --method aqlm --finetune-epochs N` on the tiny random Llama of `common`:
//! block fine-tuning lowers every block's held-out output error while keeping the codes, a
//! killed run resumes to the same bytes, and scalar methods refuse it.

mod common;

use common::*;
use lowbit_nn::hf::read_safetensors;
use serde_json::Value;

const AQLM: [&str; 4] = ["--max-epochs", "2", "--steps-per-epoch", "5"];
const FT: [&str; 6] = [
    "--finetune-epochs",
    "4",
    "--finetune-lr",
    "1e-3",
    "--finetune-batch",
    "2",
];

fn without_seconds(v: Vec<Value>) -> Vec<Value> {
    v.into_iter()
        .map(|mut r| {
            let o = r.as_object_mut().unwrap();
            o.remove("seconds");
            if let Some(f) = o.get_mut("finetune") {
                f.as_object_mut().unwrap().remove("seconds");
            }
            r
        })
        .collect()
}

#[test]
fn block_finetuning_lowers_block_error_and_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let (calib, held) = texts(tmp.path());
    let src = tmp.path().join("src");
    tiny_model(&src, None);
    let (plain, ft, part) = (
        tmp.path().join("plain"),
        tmp.path().join("ft"),
        tmp.path().join("part"),
    );
    let with_ft: Vec<&str> = AQLM.iter().chain(FT.iter()).copied().collect();
    ok(&compress(&src, &plain, "aqlm", "vq:2x4g8", &calib, &AQLM));
    ok(&compress(&src, &ft, "aqlm", "vq:2x4g8", &calib, &with_ft));
    let recs = jsonl(&ft.join("compress.jsonl"));
    let blocks: Vec<&Value> = recs
        .iter()
        .filter(|r| r.get("finetune").is_some())
        .collect();
    assert_eq!(blocks.len(), 2, "one fine-tuning record per block");
    for r in &blocks {
        let f = &r["finetune"];
        let (before, after) = (
            f["loss_before"].as_f64().unwrap(),
            f["loss_after"].as_f64().unwrap(),
        );
        // 4 windows: 3 train, ⌈4/8⌉ = 1 held out.
        assert_eq!(
            (f["train_windows"].as_u64(), f["val_windows"].as_u64()),
            (Some(3), Some(1))
        );
        assert!(after < before, "block {}: {after} !< {before}", r["block"]);
        assert!(f["best_epoch"].as_u64().unwrap() >= 1);
        assert!(f["epochs"].as_u64().unwrap() <= 4);
    }
    // The codes of block 0 are AQLM's (the same run up to there), only the continuous
    // parameters moved.
    let (a, b) = (
        read_safetensors(&plain.join("model.safetensors")).unwrap(),
        read_safetensors(&ft.join("model.safetensors")).unwrap(),
    );
    let p = "model.layers.0.self_attn.q_proj";
    assert_eq!(
        a[&format!("{p}.weight_codes")],
        b[&format!("{p}.weight_codes")]
    );
    assert_ne!(
        a[&format!("{p}.weight_codebooks")],
        b[&format!("{p}.weight_codebooks")]
    );
    assert_ne!(
        a["model.layers.0.input_layernorm.weight"],
        b["model.layers.0.input_layernorm.weight"]
    );
    assert!(nll(&ft, &held).is_finite());
    // Killed after one block and resumed: the same bytes and records.
    let mut first: Vec<&str> = with_ft.clone();
    first.extend(["--stop-after-blocks", "1"]);
    ok(&compress(&src, &part, "aqlm", "vq:2x4g8", &calib, &first));
    ok(&compress(&src, &part, "aqlm", "vq:2x4g8", &calib, &with_ft));
    assert_eq!(
        std::fs::read(ft.join("model.safetensors")).unwrap(),
        std::fs::read(part.join("model.safetensors")).unwrap()
    );
    assert_eq!(
        without_seconds(jsonl(&ft.join("compress.jsonl"))),
        without_seconds(jsonl(&part.join("compress.jsonl")))
    );
    // Scalar formats' scales are stored in constrained types: refused, naming the fix.
    let e = err(&compress(
        &src,
        &tmp.path().join("g"),
        "gptq",
        "nvfp4",
        &calib,
        &FT,
    ));
    assert!(e.contains("drop --finetune-epochs"), "{e}");
}
