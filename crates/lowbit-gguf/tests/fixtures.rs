//! The fixtures of tools/gen_gguf_fixtures.py (tests/fixtures/gguf/): dequantization of every
//! type and the import of the tiny llama must equal what the PyPI `gguf` package computed,
//! bit for bit.

use lowbit_gguf::{GgmlType, GgufFile, GgufValue, import_llama};
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/gguf")
}

fn f32_file(path: &std::path::Path) -> Vec<u32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn every_type_dequantizes_bit_exactly() {
    let types = [
        "F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K",
        "Q5_K", "Q6_K",
    ];
    for name in types {
        let g = GgufFile::open(fixtures().join(format!("types/{name}.gguf"))).unwrap();
        let t = g.tensor("t").unwrap();
        assert_eq!(t.ggml_type.name(), name);
        let got: Vec<u32> = g
            .tensor_f32(t)
            .unwrap()
            .iter()
            .map(|x| x.to_bits())
            .collect();
        let want = f32_file(&fixtures().join(format!("types/{name}.f32")));
        assert_eq!(got.len(), want.len(), "{name}");
        let bad = got.iter().zip(&want).position(|(a, b)| a != b);
        assert_eq!(bad, None, "{name}: first mismatch at element {bad:?}");
    }
}

#[test]
fn metadata_of_every_value_type() {
    let g = GgufFile::open(fixtures().join("meta.gguf")).unwrap();
    assert_eq!(g.version(), 3);
    assert_eq!(g.alignment(), 64);
    assert_eq!(g.data_start() % 64, 0);
    let m = g.metadata();
    assert_eq!(m["t.u8"], GgufValue::U8(200));
    assert_eq!(m["t.i8"], GgufValue::I8(-100));
    assert_eq!(m["t.u16"], GgufValue::U16(60000));
    assert_eq!(m["t.i16"], GgufValue::I16(-30000));
    assert_eq!(g.get_u32("t.u32").unwrap(), 4_000_000_000);
    assert_eq!(g.get_i64("t.i32").unwrap(), -2_000_000_000);
    assert_eq!(g.get_f32("t.f32").unwrap(), 1.5);
    assert!(g.get_bool("t.bool").unwrap());
    assert_eq!(g.get_str("t.str").unwrap(), "héllo ✓");
    assert_eq!(g.get_u64("t.u64").unwrap(), (1u64 << 63) + 5);
    assert_eq!(g.get_i64("t.i64").unwrap(), -(1i64 << 62));
    assert_eq!(g.get_f64("t.f64").unwrap(), -0.125);
    assert_eq!(g.get_i64_array("t.arr_i32").unwrap(), vec![1, -2, 3]);
    assert_eq!(g.get_str_array("t.arr_str").unwrap(), vec!["a", "", "ç"]);
    let nested = g.get_array("t.arr_nested").unwrap();
    assert_eq!(nested.len(), 2);
    assert_eq!(nested[1].as_array().unwrap(), &[GgufValue::I32(3)]);
    assert!(
        g.get_u32("t.u64")
            .unwrap_err()
            .to_string()
            .contains("\"t.u64\"")
    );
    let x = g.tensor("x").unwrap();
    assert_eq!((x.dims.clone(), x.ggml_type), (vec![4, 2], GgmlType::F32));
    assert_eq!(
        g.tensor_f32(x).unwrap(),
        (0..8).map(|v| v as f32).collect::<Vec<_>>()
    );
    let y = g.tensor("y").unwrap();
    assert_eq!(y.offset % 64, 0);
    assert_eq!(g.tensor_f32(y).unwrap(), vec![0.0, 1.0, 2.0]);
}

#[test]
fn tiny_llama_imports_bit_exactly() {
    let g = GgufFile::open(fixtures().join("llama-tiny.gguf")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hf");
    let report = import_llama(&g, &out).unwrap();
    assert!(!report.tied_embeddings);
    assert_eq!(
        report.tensor_types.keys().cloned().collect::<Vec<_>>(),
        ["F32", "Q4_1", "Q8_0"]
    );

    // Tensors: same names, shapes and f32 bits as the numpy reference.
    let got_bytes = std::fs::read(out.join("model.safetensors")).unwrap();
    let want_bytes = std::fs::read(fixtures().join("llama-tiny.expected.safetensors")).unwrap();
    let got = safetensors::SafeTensors::deserialize(&got_bytes).unwrap();
    let want = safetensors::SafeTensors::deserialize(&want_bytes).unwrap();
    let mut names: Vec<String> = got.names().into_iter().map(str::to_string).collect();
    let mut want_names: Vec<String> = want.names().into_iter().map(str::to_string).collect();
    names.sort();
    want_names.sort();
    assert_eq!(names, want_names);
    assert_eq!(names.len(), 2 * 9 + 3);
    let mut params = 0;
    for n in &names {
        let (a, b) = (got.tensor(n).unwrap(), want.tensor(n).unwrap());
        assert_eq!(a.dtype(), safetensors::Dtype::F32, "{n}");
        assert_eq!(a.shape(), b.shape(), "{n}");
        assert!(
            a.data() == b.data(),
            "{n}: values differ from the gguf reference"
        );
        params += a.shape().iter().product::<usize>() as u64;
    }
    assert_eq!(report.parameter_count, params);

    // config.json
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    let expect = serde_json::json!({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
        "intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 16, "rope_theta": 50000.0,
        "rope_parameters": {"rope_type": "default", "rope_theta": 50000.0},
        "rms_norm_eps": 1e-5, "max_position_embeddings": 128, "vocab_size": report.vocab_size,
        "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
        "hidden_act": "silu", "attention_bias": false, "mlp_bias": false, "dtype": "float32",
    });
    assert_eq!(cfg, expect);
    assert_eq!(
        cfg["vocab_size"],
        want.tensor("model.embed_tokens.weight").unwrap().shape()[0]
    );

    // tokenizer.json loads, encodes with the merges and the digit split, round-trips.
    let tok = tokenizers::Tokenizer::from_file(out.join("tokenizer.json")).unwrap();
    let text = "<|im_start|>Hello world 123 the hello é✓<|im_end|>";
    let enc = tok.encode(text, false).unwrap();
    let pieces: Vec<&str> = enc.get_tokens().iter().map(String::as_str).collect();
    assert_eq!(
        pieces[..12],
        [
            "<|im_start|>",
            "Hello",
            "Ġworld",
            "Ġ",
            "1",
            "2",
            "3",
            "Ġthe",
            "Ġ",
            "he",
            "llo",
            "Ġ"
        ]
    );
    // " é" and "✓" are 2 + 3 unmerged byte tokens, then the special token.
    assert_eq!(pieces.len(), 12 + 5 + 1);
    assert_eq!(pieces.last(), Some(&"<|im_end|>"));
    assert_eq!(enc.get_ids()[0], 1);
    assert_eq!(tok.decode(enc.get_ids(), false).unwrap(), text);
    assert_eq!(
        tok.decode(enc.get_ids(), true).unwrap(),
        "Hello world 123 the hello é✓"
    );

    let tc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("tokenizer_config.json")).unwrap())
            .unwrap();
    assert_eq!(tc["bos_token"], "<|im_start|>");
    assert_eq!(tc["eos_token"], "<|im_end|>");
    assert_eq!(tc["pad_token"], "<|endoftext|>");
    assert_eq!(tc["add_bos_token"], false);
    assert!(
        tc["chat_template"]
            .as_str()
            .unwrap()
            .contains("<|im_start|>")
    );
    let gc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("generation_config.json")).unwrap())
            .unwrap();
    assert_eq!(
        (gc["bos_token_id"].as_u64(), gc["eos_token_id"].as_u64()),
        (Some(1), Some(2))
    );
}

#[test]
fn sentencepiece_vocabulary_tokenizes_as_llama_cpp() {
    let g = GgufFile::open(fixtures().join("spm-vocab.gguf")).unwrap();
    let built = lowbit_gguf::import::tokenizer::build(&g).unwrap();
    assert!(built.add_bos);
    assert_eq!(built.unk.as_deref(), Some("<unk>"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    built.tokenizer.save(&path, false).unwrap();
    let tok = tokenizers::Tokenizer::from_file(&path).unwrap();
    let want: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("spm-vocab.expected.json")).unwrap(),
    )
    .unwrap();
    let texts = want["texts"].as_array().unwrap();
    for (text, ids) in texts.iter().zip(want["ids"].as_array().unwrap()) {
        let text = text.as_str().unwrap();
        let ids: Vec<u32> = ids
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(
            tok.encode(text, false).unwrap().get_ids(),
            &ids[..],
            "{text:?}"
        );
        let with_bos = tok.encode(text, true).unwrap();
        assert_eq!(with_bos.get_ids()[0], 1, "{text:?}");
        assert_eq!(
            tok.decode(with_bos.get_ids(), true).unwrap(),
            text,
            "{text:?}"
        );
    }
    // After a special token the space prefix is added again, as llama.cpp does.
    let a = tok.encode("</s>the", false).unwrap();
    let b = tok.encode("the", false).unwrap();
    assert_eq!(&a.get_ids()[1..], b.get_ids());
}
