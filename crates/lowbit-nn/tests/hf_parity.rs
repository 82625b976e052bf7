//! Parity with HuggingFace `transformers`' LlamaForCausalLM on the fixtures written by
//! `tools/gen_hf_fixtures.py` (tests/fixtures/hf/): logits, mean NLL, greedy generation and the
//! KV cache against full recomputation.

use burn::tensor::{Device, Int, Tensor, TensorData};
use lowbit_nn::hf::{LoadedModel, load_dir};
use lowbit_nn::llama::{GenerateConfig, KvCache, Llama, generate, generate_recompute};
use serde_json::Value;
use std::path::PathBuf;

const FIXTURES: [&str; 2] = ["gqa-untied", "mha-tied"];

fn fixture(name: &str) -> (LoadedModel, Value) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/hf")
        .join(name);
    let loaded = load_dir(&dir, &Device::flex()).unwrap();
    let text = std::fs::read_to_string(dir.join("reference.json")).unwrap();
    (loaded, serde_json::from_str(&text).unwrap())
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn tokens(ids: &[u32]) -> Tensor<2, Int> {
    let v: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
    Tensor::<1, Int>::from_data(TensorData::new(v, [ids.len()]), &Device::flex())
        .reshape([1, ids.len()])
}

fn host(x: Tensor<3>) -> Vec<f32> {
    x.into_data().try_into_vec_as::<f32>().unwrap()
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}

/// Sum of next-token NLLs (f64) of `logits` `[t, vocab]` for targets `ids[1..]`.
fn nll_sum(logits: &[f32], ids: &[u32], vocab: usize) -> f64 {
    (0..ids.len() - 1)
        .map(|p| {
            let row = &logits[p * vocab..(p + 1) * vocab];
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let lse = max
                + row
                    .iter()
                    .map(|&x| (x as f64 - max).exp())
                    .sum::<f64>()
                    .ln();
            lse - row[ids[p + 1] as usize] as f64
        })
        .sum()
}

fn logits_match(model: &Llama, reference: &Value, vocab: usize) -> (f32, f64) {
    let (mut worst, mut total, mut count) = (0f32, 0f64, 0usize);
    for seq in reference["sequences"].as_array().unwrap() {
        let input = ids(&seq["input_ids"]);
        let want: Vec<f32> = seq["logits"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().iter())
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        let got = host(model.forward(tokens(&input)).unwrap());
        worst = worst.max(max_abs(&got, &want));
        total += nll_sum(&got, &input, vocab);
        count += input.len() - 1;
    }
    (worst, total / count as f64)
}

#[test]
fn logits_and_nll_match_transformers() {
    for name in FIXTURES {
        let (m, r) = fixture(name);
        let vocab = r["vocab_size"].as_u64().unwrap() as usize;
        assert_eq!(m.config.vocab_size, vocab);
        let (diff, nll) = logits_match(&m.model, &r, vocab);
        let want = r["mean_nll"].as_f64().unwrap();
        println!("{name}: max abs logit diff {diff:e}, mean NLL {nll:.6} (HF {want:.6})");
        assert!(diff < 1e-4, "{name}: max abs logit diff {diff}");
        assert!((nll - want).abs() < 1e-5, "{name}: NLL {nll} vs {want}");
    }
}

#[test]
fn tied_and_gqa_configs_are_read() {
    let (gqa, _) = fixture("gqa-untied");
    assert_eq!((gqa.config.n_heads, gqa.config.n_kv_heads), (4, 2));
    assert!(!gqa.config.tie_embeddings && gqa.model.lm_head.is_some());
    assert_eq!(gqa.config.rope_theta, 5000.0);
    assert_eq!(gqa.special.eos_token_ids, vec![0]);
    assert!(gqa.tokenizer.is_some());
    let (mha, _) = fixture("mha-tied");
    assert_eq!((mha.config.n_heads, mha.config.n_kv_heads), (5, 5));
    assert!(mha.config.tie_embeddings && mha.model.lm_head.is_none());
    assert_eq!(mha.config.rope_theta, 20000.0);
}

#[test]
fn greedy_generation_matches_transformers() {
    for name in FIXTURES {
        let (m, r) = fixture(name);
        let g = &r["generate"];
        let prompt = ids(&g["prompt_ids"]);
        let want = ids(&g["new_tokens"]);
        let cfg = GenerateConfig::new()
            .with_max_new_tokens(g["max_new_tokens"].as_u64().unwrap() as usize)
            .with_eos_token_ids(m.special.eos_token_ids.clone());
        let fast = generate(&m.model, &prompt, &cfg).unwrap();
        assert_eq!(fast, want, "{name}: KV-cache greedy tokens");
        assert_eq!(
            generate_recompute(&m.model, &prompt, &cfg).unwrap(),
            want,
            "{name}: recomputed greedy tokens"
        );
    }
}

#[test]
fn cached_logits_match_full_recompute() {
    for name in FIXTURES {
        let (m, r) = fixture(name);
        let vocab = m.config.vocab_size;
        let seq = ids(&r["sequences"][0]["input_ids"]);
        let full = host(m.model.forward(tokens(&seq)).unwrap());
        // Prefill 7 positions, then one at a time.
        let mut cache = KvCache::new();
        let mut got = host(
            m.model
                .forward_cached(tokens(&seq[..7]), &mut cache)
                .unwrap(),
        );
        for &id in &seq[7..] {
            got.extend(host(
                m.model.forward_cached(tokens(&[id]), &mut cache).unwrap(),
            ));
        }
        assert_eq!(got.len(), seq.len() * vocab);
        let diff = max_abs(&full, &got);
        println!("{name}: cached vs full max abs diff {diff:e}");
        assert!(diff < 1e-4, "{name}: cached vs full {diff}");
    }
}
