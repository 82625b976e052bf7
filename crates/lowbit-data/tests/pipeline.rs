//! Corpus → tokenizer → cached shards → sampler, on the tiny fixture corpus.

use lowbit_data::shards::read_shard;
use lowbit_data::split::split_documents;
use lowbit_data::{DataError, Sampler, TextTokenizer, TokenizerConfig, load_dir, prepare};
use std::path::PathBuf;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-corpus")
}

fn small() -> TokenizerConfig {
    TokenizerConfig {
        vocab_size: 400,
        min_frequency: 2,
    }
}

#[test]
fn tokenizer_round_trips_and_is_deterministic() {
    let docs = load_dir(&fixture()).unwrap();
    assert_eq!(docs.len(), 12);
    let a = TextTokenizer::train(&docs, &small()).unwrap();
    let b = TextTokenizer::train(&docs, &small()).unwrap();
    assert_eq!(a.vocab_size(), 400);
    let text = &docs[3].text;
    let ids = a.encode(text).unwrap();
    assert_eq!(ids, b.encode(text).unwrap(), "training is deterministic");
    assert!(
        ids.len() < text.len() / 2,
        "BPE compresses: {} ids for {} bytes",
        ids.len(),
        text.len()
    );
    assert_eq!(&a.decode(&ids).unwrap(), text, "byte-level BPE is lossless");
    let unseen = "Zebras quote Ω and 漢字 — bytes never fail.";
    assert_eq!(a.decode(&a.encode(unseen).unwrap()).unwrap(), unseen);
}

#[test]
fn shards_are_cached_by_content_and_verified() {
    let docs = load_dir(&fixture()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let d1 = prepare(&docs, &small(), None, cache.path()).unwrap();
    let d2 = prepare(&docs, &small(), None, cache.path()).unwrap();
    assert_eq!(d1.dir, d2.dir, "second call hits the cache");
    assert_eq!((d1.train.clone(), d1.val.clone()), (d2.train, d2.val));
    assert!(!d1.val.is_empty() && d1.train.len() > 5 * d1.val.len());
    let (h, t) = read_shard(&d1.dir, "train").unwrap();
    assert_eq!((h.dtype.as_str(), h.n_tokens), ("u16", t.len()));
    // A different tokenizer configuration is a different cache entry.
    let other = TokenizerConfig {
        vocab_size: 300,
        ..small()
    };
    assert_ne!(
        prepare(&docs, &other, None, cache.path()).unwrap().dir,
        d1.dir
    );
    // Truncated data is detected, with the fix in the message.
    let bin = d1.dir.join("train.bin");
    let bytes = std::fs::read(&bin).unwrap();
    std::fs::write(&bin, &bytes[..bytes.len() - 2]).unwrap();
    let e = read_shard(&d1.dir, "train").unwrap_err().to_string();
    assert!(
        e.contains("corrupt") && e.contains("delete the cache"),
        "{e}"
    );
}

#[test]
fn split_is_by_document_and_stable() {
    let docs = load_dir(&fixture()).unwrap();
    let (train, val) = split_documents(&docs, 0.02);
    assert!(!val.is_empty() && !train.is_empty());
    assert_eq!(train.len() + val.len(), docs.len());
    // Removing an unrelated training document does not move the others.
    let fewer: Vec<_> = docs
        .iter()
        .filter(|d| d.name != docs[train[0]].name)
        .cloned()
        .collect();
    let (_, val2) = split_documents(&fewer, 0.02);
    let names = |d: &[lowbit_data::Document], idx: &[usize]| {
        idx.iter().map(|&i| d[i].name.clone()).collect::<Vec<_>>()
    };
    assert_eq!(names(&docs, &val), names(&fewer, &val2));
}

#[test]
fn sampler_is_a_pure_function_of_seed_and_step() {
    let tokens: Vec<u32> = (0..1000).collect();
    let s = Sampler {
        seed: 42,
        batch: 4,
        seq_len: 16,
    };
    let b7 = s.batch(&tokens, 7, "train").unwrap();
    // Same (seed, step) → same batch, whatever was sampled before.
    let _ = s.batch(&tokens, 3, "train").unwrap();
    assert_eq!(s.batch(&tokens, 7, "train").unwrap(), b7);
    assert_ne!(s.batch(&tokens, 8, "train").unwrap(), b7);
    assert_ne!(
        Sampler { seed: 43, ..s }
            .batch(&tokens, 7, "train")
            .unwrap(),
        b7
    );
    assert_eq!(b7.inputs.len(), 64);
    for (x, y) in b7.inputs.iter().zip(&b7.targets) {
        assert_eq!(x + 1, *y, "targets are the next tokens");
    }
    let v0 = s.val_batch(&tokens, 0).unwrap();
    assert_eq!(&v0.inputs[..16], &tokens[..16]);
    let e = s.batch(&tokens[..10], 0, "val").unwrap_err();
    assert!(matches!(e, DataError::TooFewTokens { .. }));
}

#[test]
fn empty_corpus_says_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    let e = load_dir(dir.path()).unwrap_err().to_string();
    assert!(e.contains("datasets/prepare.sh"), "{e}");
}
