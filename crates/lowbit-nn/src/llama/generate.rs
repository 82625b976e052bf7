//! Autoregressive generation with a per-layer key/value cache: prefill the prompt once, then
//! feed one token per step ([`Llama::forward_cached`]). Sampling is greedy (`temperature = 0`)
//! or temperature + nucleus (top-p, Holtzman et al. 2020) from a seeded ChaCha8 stream, so the
//! same seed gives the same tokens. [`generate_recompute`] is the slow, obviously correct twin
//! that reruns the whole sequence every step; tests hold the two token-identical.

use super::kv_cache::KvCache;
use super::model::Llama;
use crate::NnError;
use burn::config::Config;
use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How to continue a prompt.
#[derive(Config, Debug)]
pub struct GenerateConfig {
    /// Most tokens to generate (fewer if an end-of-sequence token comes first).
    #[config(default = 32)]
    pub max_new_tokens: usize,
    /// Softmax temperature; 0 is greedy (argmax, lowest id on ties).
    #[config(default = 0.0)]
    pub temperature: f64,
    /// Nucleus mass in (0, 1]: sample among the most likely tokens whose probabilities first
    /// reach `top_p`; 1 keeps the whole vocabulary.
    #[config(default = 1.0)]
    pub top_p: f64,
    /// Seed of the ChaCha8 sampling stream.
    #[config(default = 0)]
    pub seed: u64,
    /// Generation stops after emitting any of these ids (the id is kept in the output).
    #[config(default = "Vec::new()")]
    pub eos_token_ids: Vec<u32>,
}

impl GenerateConfig {
    fn validate(&self) -> Result<(), NnError> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(NnError::Config(format!(
                "temperature {} must be finite and >= 0 (0 = greedy)",
                self.temperature
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(NnError::Config(format!(
                "top_p {} must be in (0, 1]",
                self.top_p
            )));
        }
        Ok(())
    }
}

/// Indices of the nucleus of `probs`: the most likely tokens, in decreasing probability (lower id
/// first on ties), up to and including the first whose cumulative probability reaches `top_p`.
pub fn nucleus(probs: &[f64], top_p: f64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..probs.len()).collect();
    idx.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    let mut cum = 0.0;
    let mut keep = idx.len();
    for (n, &i) in idx.iter().enumerate() {
        cum += probs[i];
        if cum >= top_p {
            keep = n + 1;
            break;
        }
    }
    idx.truncate(keep.max(1));
    idx
}

/// Picks the next token from one position's logits (greedy when `temperature` is 0).
pub fn sample_next(logits: &[f32], cfg: &GenerateConfig, rng: &mut ChaCha8Rng) -> u32 {
    let argmax = || {
        let mut best = 0;
        for (i, &x) in logits.iter().enumerate() {
            if x > logits[best] || logits[best].is_nan() {
                best = i;
            }
        }
        best as u32
    };
    if cfg.temperature == 0.0 || logits.len() < 2 {
        return argmax();
    }
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let w: Vec<f64> = logits
        .iter()
        .map(|&x| ((x as f64 - max) / cfg.temperature).exp())
        .map(|e| if e.is_finite() { e } else { 0.0 })
        .collect();
    let total: f64 = w.iter().sum();
    if total.is_nan() || total <= 0.0 {
        return argmax();
    }
    let probs: Vec<f64> = w.iter().map(|x| x / total).collect();
    let keep = nucleus(&probs, cfg.top_p);
    let mass: f64 = keep.iter().map(|&i| probs[i]).sum();
    let mut u = rng.random::<f64>() * mass;
    for &i in &keep {
        u -= probs[i];
        if u < 0.0 {
            return i as u32;
        }
    }
    keep[keep.len() - 1] as u32
}

fn check_prompt(model: &Llama, prompt: &[u32], cfg: &GenerateConfig) -> Result<(), NnError> {
    cfg.validate()?;
    let vocab = model.embed_tokens.weight.dims()[0];
    if prompt.is_empty() {
        return Err(NnError::Input("the prompt has no tokens".into()));
    }
    if let Some(&bad) = prompt.iter().find(|&&id| id as usize >= vocab) {
        return Err(NnError::Input(format!(
            "prompt token id {bad} is outside the model's vocabulary of {vocab}"
        )));
    }
    let need = prompt.len() + cfg.max_new_tokens;
    if need > model.max_seq_len() {
        return Err(NnError::Input(format!(
            "prompt of {} tokens + max_new_tokens {} = {need} exceeds max_seq_len {}; shorten the prompt or lower max_new_tokens",
            prompt.len(),
            cfg.max_new_tokens,
            model.max_seq_len()
        )));
    }
    Ok(())
}

fn token_tensor(model: &Llama, ids: &[u32]) -> Tensor<2, Int> {
    let device = model.embed_tokens.weight.device();
    let v: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
    Tensor::<1, Int>::from_data(TensorData::new(v, [ids.len()]), &device).reshape([1, ids.len()])
}

/// The logits of the last position of `[1, seq, vocab]` logits, on the host.
fn last_logits(logits: Tensor<3>) -> Result<Vec<f32>, NnError> {
    let [_, t, v] = logits.dims();
    logits
        .slice([0..1, t - 1..t, 0..v])
        .into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| NnError::Input(format!("cannot read logits: {e:?}")))
}

fn run(
    model: &Llama,
    prompt: &[u32],
    cfg: &GenerateConfig,
    mut step: impl FnMut(&[u32]) -> Result<Vec<f32>, NnError>,
) -> Result<Vec<u32>, NnError> {
    check_prompt(model, prompt, cfg)?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut seq = prompt.to_vec();
    let mut out = Vec::with_capacity(cfg.max_new_tokens);
    for _ in 0..cfg.max_new_tokens {
        let logits = step(&seq)?;
        let next = sample_next(&logits, cfg, &mut rng);
        seq.push(next);
        out.push(next);
        if cfg.eos_token_ids.contains(&next) {
            break;
        }
    }
    Ok(out)
}

/// Continues `prompt` with the KV cache; returns the new tokens only.
///
/// # Errors
/// [`NnError::Config`] for a bad temperature or top-p; [`NnError::Input`] for an empty prompt,
/// an id outside the vocabulary, or `prompt + max_new_tokens` longer than `max_seq_len`.
pub fn generate(model: &Llama, prompt: &[u32], cfg: &GenerateConfig) -> Result<Vec<u32>, NnError> {
    let mut cache = KvCache::new();
    run(model, prompt, cfg, |seq| {
        // First step: the whole prompt; later steps: the one token not yet cached.
        let new = &seq[cache.len()..];
        last_logits(model.forward_cached(token_tensor(model, new), &mut cache)?)
    })
}

/// [`generate`] without a cache: each step reruns [`Llama::forward`] on the whole sequence.
pub fn generate_recompute(
    model: &Llama,
    prompt: &[u32],
    cfg: &GenerateConfig,
) -> Result<Vec<u32>, NnError> {
    run(model, prompt, cfg, |seq| {
        last_logits(model.forward(token_tensor(model, seq))?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llama::LlamaConfig;
    use burn::tensor::Device;

    fn model() -> Llama {
        // Odd sizes, GQA (4 heads share 2 KV heads), a large init so logits are far from uniform.
        LlamaConfig::new(61, 48, 2, 4, 2, 100)
            .with_max_seq_len(40)
            .with_rope_theta(5000.0)
            .with_init_std(0.3)
            .init(&Device::flex())
            .unwrap()
    }

    fn ids(b: usize, t: usize, salt: usize) -> Vec<u32> {
        (0..b * t)
            .map(|i| ((i * 17 + salt * 5 + 3) % 61) as u32)
            .collect()
    }

    fn tensor(v: &[u32], b: usize, t: usize) -> Tensor<2, Int> {
        let x: Vec<i64> = v.iter().map(|&i| i as i64).collect();
        Tensor::<1, Int>::from_data(TensorData::new(x, [b * t]), &Device::flex()).reshape([b, t])
    }

    fn host(x: Tensor<3>) -> Vec<f32> {
        x.into_data().try_into_vec_as::<f32>().unwrap()
    }

    #[test]
    fn cached_logits_equal_full_recompute() {
        let m = model();
        let (b, t) = (2, 13);
        let seq = ids(b, t, 1);
        let full = host(m.forward(tensor(&seq, b, t)).unwrap()); // [b, t, v]
        // Prefill 5, then 1, 1, 4 and 2 positions.
        let mut cache = KvCache::new();
        let mut got = vec![Vec::new(); b];
        let mut at = 0;
        for n in [5, 1, 1, 4, 2] {
            let chunk: Vec<u32> = (0..b)
                .flat_map(|r| seq[r * t + at..r * t + at + n].to_vec())
                .collect();
            let l = host(m.forward_cached(tensor(&chunk, b, n), &mut cache).unwrap());
            for (r, row) in got.iter_mut().enumerate() {
                row.extend_from_slice(&l[r * n * 61..(r + 1) * n * 61]);
            }
            at += n;
            assert_eq!(cache.len(), at);
        }
        let got: Vec<f32> = got.concat();
        let diff = full
            .iter()
            .zip(&got)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-4, "max abs diff {diff}");
        // Past max_seq_len and a different batch are errors, not panics.
        assert!(
            m.forward_cached(tensor(&ids(2, 28, 0), 2, 28), &mut cache)
                .is_err()
        );
        assert!(m.forward_cached(tensor(&[1], 1, 1), &mut cache).is_err());
    }

    #[test]
    fn greedy_with_cache_equals_recompute() {
        let m = model();
        let cfg = GenerateConfig::new().with_max_new_tokens(20);
        let prompt = ids(1, 7, 2);
        let fast = generate(&m, &prompt, &cfg).unwrap();
        let slow = generate_recompute(&m, &prompt, &cfg).unwrap();
        assert_eq!(fast.len(), 20);
        assert_eq!(fast, slow);
        // EOS stops generation and is kept.
        let eos = fast[3];
        let first = fast.iter().position(|&x| x == eos).unwrap();
        let stopped = generate(&m, &prompt, &cfg.clone().with_eos_token_ids(vec![eos])).unwrap();
        assert_eq!(stopped, fast[..=first].to_vec());
        // Too long a request is refused up front.
        let long = cfg.with_max_new_tokens(40);
        assert!(matches!(
            generate(&m, &prompt, &long),
            Err(NnError::Input(_))
        ));
    }

    #[test]
    fn seeded_sampling_repeats_and_differs() {
        let m = model();
        let prompt = ids(1, 4, 3);
        let cfg = GenerateConfig::new()
            .with_max_new_tokens(24)
            .with_temperature(1.5)
            .with_seed(7);
        let a = generate(&m, &prompt, &cfg).unwrap();
        assert_eq!(a, generate(&m, &prompt, &cfg).unwrap());
        assert_eq!(a, generate_recompute(&m, &prompt, &cfg).unwrap());
        assert_ne!(a, generate(&m, &prompt, &cfg.with_seed(8)).unwrap());
    }

    #[test]
    fn top_p_restricts_to_the_nucleus() {
        // Probabilities 0.5, 0.3, 0.15, 0.05 (ids shuffled): the 0.7 nucleus is the top two.
        let p = [0.15f64, 0.5, 0.05, 0.3];
        assert_eq!(nucleus(&p, 0.7), vec![1, 3]);
        assert_eq!(nucleus(&p, 0.4), vec![1]);
        assert_eq!(nucleus(&p, 1.0).len(), 4);
        let logits: Vec<f32> = p.iter().map(|x| x.ln() as f32).collect();
        let cfg = GenerateConfig::new().with_temperature(1.0).with_top_p(0.7);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut counts = [0usize; 4];
        for _ in 0..2000 {
            counts[sample_next(&logits, &cfg, &mut rng) as usize] += 1;
        }
        assert_eq!((counts[0], counts[2]), (0, 0), "{counts:?}");
        // Renormalised nucleus: 0.5/0.8 vs 0.3/0.8.
        let share = counts[1] as f64 / 2000.0;
        assert!((share - 0.625).abs() < 0.05, "{counts:?}");
        // Without top-p every token can come up.
        let all = cfg.with_top_p(1.0);
        let mut seen = [false; 4];
        for _ in 0..2000 {
            seen[sample_next(&logits, &all, &mut rng) as usize] = true;
        }
        assert_eq!(seen, [true; 4]);
        // Greedy ignores the stream.
        let greedy = GenerateConfig::new();
        assert_eq!(sample_next(&logits, &greedy, &mut rng), 1);
    }

    #[test]
    fn bad_settings_are_errors() {
        let m = model();
        let bad_t = GenerateConfig::new().with_temperature(-1.0);
        assert!(matches!(
            generate(&m, &[1], &bad_t),
            Err(NnError::Config(_))
        ));
        let bad_p = GenerateConfig::new().with_top_p(0.0);
        assert!(matches!(
            generate(&m, &[1], &bad_p),
            Err(NnError::Config(_))
        ));
        let ok = GenerateConfig::new().with_max_new_tokens(2);
        assert!(matches!(generate(&m, &[], &ok), Err(NnError::Input(_))));
        assert!(matches!(generate(&m, &[61], &ok), Err(NnError::Input(_))));
    }
}
