//! Unit tests of the reader and importer on files built by [`crate::testutil::Builder`]:
//! every error names what it is about, and no corrupt input panics.

use crate::testutil::Builder;
use crate::{GgufError, GgufFile, GgufValue, ImportOptions, import_llama, import_llama_with};

fn small() -> Builder {
    Builder::new()
        .str("general.architecture", "lowbit-test")
        .u32("t.count", 7)
        .f32("t.eps", 1e-5)
        .str_array("t.names", &["a", "bc"])
        .f32_tensor("weight", &[4, 2])
        .f32_tensor("bias", &[3])
}

fn err(bytes: Vec<u8>) -> String {
    match GgufFile::from_bytes(bytes) {
        Ok(_) => panic!("parse unexpectedly succeeded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn parses_v2_and_v3() {
    for version in [2, 3] {
        let mut b = small();
        b.version = version;
        let g = GgufFile::from_bytes(b.build()).unwrap();
        assert_eq!(g.version(), version);
        assert_eq!(g.get_u64("t.count").unwrap(), 7);
        assert_eq!(g.get_f32("t.eps").unwrap(), 1e-5);
        assert_eq!(g.get_str_array("t.names").unwrap(), vec!["a", "bc"]);
        let w = g.tensor("weight").unwrap();
        assert_eq!(w.shape(), vec![2, 4]);
        assert_eq!(
            g.tensor_f32(w).unwrap(),
            (0..8).map(|x| x as f32).collect::<Vec<_>>()
        );
        assert_eq!(
            g.tensor_f32(g.tensor("bias").unwrap()).unwrap(),
            vec![0.0, 1.0, 2.0]
        );
        assert_eq!(g.data_start() % 32, 0);
    }
}

#[test]
fn bad_magic_and_version() {
    let mut b = small().build();
    b[0] = b'X';
    let e = err(b);
    assert!(
        e.contains("magic") && e.contains("58 47 55 46") || e.contains("58"),
        "{e}"
    );
    for v in [1u32, 4] {
        let mut b = small();
        b.version = v;
        let e = err(b.build());
        assert!(e.contains(&format!("version {v}")), "{e}");
    }
}

#[test]
fn every_truncation_is_an_error_naming_what() {
    let full = small().build();
    for cut in 0..full.len() {
        let e = err(full[..cut].to_vec());
        assert!(
            e.contains("truncated") || e.contains("outside the data section"),
            "cut {cut}: {e}"
        );
    }
    // A few cut points and what the message must name.
    let at = |needle: &[u8]| {
        full.windows(needle.len())
            .position(|w| w == needle)
            .unwrap()
    };
    let cases = [
        (2, "magic"),
        (6, "version"),
        (12, "tensor count"),
        (20, "metadata count"),
        (at(b"t.count") + 2, "key of metadata pair 1"),
        (at(b"t.count") + 9, "value of metadata key \"t.count\""),
        (at(b"weight") + 8, "tensor info of \"weight\""),
        (full.len() - 1, "\"bias\""),
    ];
    for (cut, needle) in cases {
        let e = err(full[..cut].to_vec());
        assert!(e.contains(needle), "cut {cut}: {e:?} lacks {needle:?}");
    }
}

#[test]
fn unknown_type_id_names_tensor_and_id() {
    let b = Builder::new()
        .tensor("blk.0.odd", &[32], 4, vec![0; 18])
        .build();
    let e = err(b);
    assert!(
        e.contains("\"blk.0.odd\"") && e.contains("type id 4"),
        "{e}"
    );
}

#[test]
fn absurd_sizes_are_rejected_before_allocation() {
    // A string claiming u64::MAX bytes.
    let mut b = Builder::new().str("k", "v").build();
    let at = b.windows(1).position(|w| w == b"k").unwrap() + 1 + 4;
    b[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(err(b).contains("truncated"));
    // An array of 2^60 u64s.
    let mut v = 10u32.to_le_bytes().to_vec();
    v.extend_from_slice(&(1u64 << 60).to_le_bytes());
    let e = err(Builder::new().raw("arr", 9, v).build());
    assert!(e.contains("\"arr\""), "{e}");
    // Element count overflow and too many dims.
    let e = err(Builder::new()
        .tensor("big", &[u64::MAX, 3], 0, vec![])
        .build());
    assert!(e.contains("\"big\"") && e.contains("overflow"), "{e}");
    let e = err(Builder::new()
        .tensor("five", &[1, 1, 1, 1, 1], 0, vec![0; 4])
        .build());
    assert!(e.contains("\"five\"") && e.contains("5 dimensions"), "{e}");
    // Counts that cannot fit.
    let mut b = small().build();
    b[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(err(b).contains("truncated"));
    // Deeply nested arrays.
    let mut v = Vec::new();
    for _ in 0..20 {
        v.extend_from_slice(&9u32.to_le_bytes());
        v.extend_from_slice(&1u64.to_le_bytes());
    }
    assert!(err(Builder::new().raw("deep", 9, v).build()).contains("nested"));
}

#[test]
fn out_of_bounds_and_misaligned_tensor_data() {
    let mut b = Builder::new().f32_tensor("w", &[8]).build();
    b.truncate(b.len() - 4);
    let e = err(b);
    assert!(
        e.contains("\"w\"") && e.contains("outside the data section"),
        "{e}"
    );
    let e = err(Builder::new().tensor("q", &[33], 8, vec![0; 34]).build());
    assert!(e.contains("\"q\"") && e.contains("block size 32"), "{e}");
}

#[test]
fn getters_name_the_key() {
    let g = GgufFile::from_bytes(small().build()).unwrap();
    let e = g.get_str("t.count").unwrap_err().to_string();
    assert!(
        e.contains("\"t.count\"") && e.contains("a string") && e.contains("u32 7"),
        "{e}"
    );
    let e = g.get_u64("nope").unwrap_err().to_string();
    assert!(e.contains("\"nope\"") && e.contains("missing"), "{e}");
    assert_eq!(g.optional("nope", GgufFile::get_u64).unwrap(), None);
    assert!(
        g.get_bool("t.eps")
            .unwrap_err()
            .to_string()
            .contains("\"t.eps\"")
    );
    assert!(matches!(g.get("t.names"), Some(GgufValue::Array(..))));
}

#[test]
fn alignment_key() {
    let mut b = small().u32("general.alignment", 64);
    b.alignment = 64;
    let g = GgufFile::from_bytes(b.build()).unwrap();
    assert_eq!(g.alignment(), 64);
    assert_eq!(g.data_start() % 64, 0);
    let e = err(small().u32("general.alignment", 3).build());
    assert!(e.contains("general.alignment"), "{e}");
}

/// A complete tiny llama (f32 tensors, 3-token gpt2 vocabulary) for the importer's errors.
fn llama(arch: &str, pre: &str) -> Builder {
    let (e, f, v) = (8u64, 16u64, 3u64);
    let mut b = Builder::new()
        .str("general.architecture", arch)
        .u32("llama.embedding_length", e as u32)
        .u32("llama.feed_forward_length", f as u32)
        .u32("llama.block_count", 1)
        .u32("llama.attention.head_count", 2)
        .u32("llama.attention.head_count_kv", 1)
        .f32("llama.attention.layer_norm_rms_epsilon", 1e-6)
        .u32("llama.context_length", 16)
        .str("tokenizer.ggml.model", "gpt2")
        .str("tokenizer.ggml.pre", pre)
        .str_array("tokenizer.ggml.tokens", &["a", "b", "ab"])
        .i32_array("tokenizer.ggml.token_type", &[1, 1, 1])
        .str_array("tokenizer.ggml.merges", &["a b"])
        .f32_tensor("token_embd.weight", &[e, v])
        .f32_tensor("output_norm.weight", &[e]);
    for (name, dims) in [
        ("attn_norm", vec![e]),
        ("ffn_norm", vec![e]),
        ("attn_q", vec![e, e]),
        ("attn_k", vec![e, 4]),
        ("attn_v", vec![e, 4]),
        ("attn_output", vec![e, e]),
        ("ffn_gate", vec![e, f]),
        ("ffn_up", vec![e, f]),
        ("ffn_down", vec![f, e]),
    ] {
        b = b.f32_tensor(&format!("blk.0.{name}.weight"), &dims);
    }
    b
}

fn import_err(b: Builder) -> String {
    let g = GgufFile::from_bytes(b.build()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let e = import_llama(&g, &out).unwrap_err().to_string();
    assert!(!out.exists(), "a failed import must not leave {out:?}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "staging directory left behind: {left:?}");
    e
}

#[test]
fn tiny_llama_imports() {
    let g = GgufFile::from_bytes(llama("llama", "gpt2").build()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    let r = import_llama(&g, &out).unwrap();
    assert!(r.tied_embeddings);
    assert_eq!(r.tensor_types.get("F32"), Some(&11));
    assert_eq!(r.files.len(), 5);
    for f in &r.files {
        assert!(f.is_file(), "{f:?}");
    }
    // Only the output directory itself is left in the parent (the staging dir is gone).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // Non-empty output: refused without force, replaced with it.
    let e = import_llama(&g, &out).unwrap_err();
    assert!(matches!(e, GgufError::OutputExists { .. }), "{e}");
    import_llama_with(&g, &out, &ImportOptions { force: true }).unwrap();
}

#[test]
fn import_errors_name_the_culprit() {
    let e = import_err(llama("gpt2", "gpt2"));
    assert!(e.contains("architecture \"gpt2\""), "{e}");
    let e = import_err(llama("llama", "klingon-bpe"));
    assert!(
        e.contains("\"klingon-bpe\"") && e.contains("tokenizer.ggml.pre"),
        "{e}"
    );
    let e = import_err(llama("llama", "gpt2").str("llama.rope.scaling.type", "linear"));
    assert!(
        e.contains("llama.rope.scaling.type") && e.contains("linear"),
        "{e}"
    );
    let e = import_err(llama("llama", "gpt2").f32_tensor("blk.0.attn_q_norm.weight", &[4]));
    assert!(e.contains("\"blk.0.attn_q_norm.weight\""), "{e}");
    let e = import_err(llama("llama", "gpt2").f32_tensor("blk.1.attn_norm.weight", &[8]));
    assert!(e.contains("\"blk.1.attn_norm.weight\""), "{e}");
    let e = import_err(llama("llama", "gpt2").u32("llama.block_count", 2));
    assert!(
        e.contains("\"blk.1.attn_norm.weight\"") && e.contains("missing"),
        "{e}"
    );
    let e = import_err(llama("llama", "gpt2").u32("llama.block_count", u32::MAX));
    assert!(
        e.contains("\"blk.1.attn_norm.weight\"") && e.contains("missing"),
        "{e}"
    );
    let e = import_err(llama("llama", "gpt2").str("tokenizer.ggml.model", "bert"));
    assert!(e.contains("tokenizer.ggml.model"), "{e}");
    let e = import_err(llama("llama", "gpt2").u32("llama.embedding_length", 6));
    assert!(
        e.contains("token_embd.weight") || e.contains("head_count"),
        "{e}"
    );
}

#[test]
fn add_bos_token_prepends_bos() {
    let b = llama("llama", "gpt2")
        .u32("tokenizer.ggml.bos_token_id", 0)
        .bool("tokenizer.ggml.add_bos_token", true);
    let g = GgufFile::from_bytes(b.build()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m");
    import_llama(&g, &out).unwrap();
    let tok = tokenizers::Tokenizer::from_file(out.join("tokenizer.json")).unwrap();
    assert_eq!(tok.encode("ab", true).unwrap().get_ids(), &[0, 2]);
    assert_eq!(tok.encode("ab", false).unwrap().get_ids(), &[2]);
    let cfg = std::fs::read_to_string(out.join("tokenizer_config.json")).unwrap();
    assert!(cfg.contains("\"add_bos_token\": true"), "{cfg}");
}
