//! The model calls AutoJudge needs, behind one trait so the algorithms ([`crate::mine`],
//! [`crate::features`], [`crate::specdec`]) run unchanged on lowbit's Llama ([`LlamaLm`]) and
//! on small rule-based models in tests.
//!
//! An [`Lm`] is a causal model with a key/value cache: [`Lm::feed`] appends tokens at the
//! cached positions and returns, per fed position, the greedy next token (argmax, lowest id on
//! ties, as `lowbit generate`), optionally the top-k ids and the final hidden state (after the
//! final RMSNorm, spec §6.2); [`Lm::truncate`] rolls the cache back (speculative decoding's
//! rejection).

use crate::error::JudgeError;
use burn::tensor::{Device, Int, Tensor, TensorData};
use lowbit_nn::llama::{KvCache, Llama};

/// What [`Lm::feed`] returns for each fed position.
#[derive(Debug, Clone, Default)]
pub struct Fed {
    /// Greedy next token after each fed position.
    pub argmax: Vec<u32>,
    /// The `top_k` most likely next tokens after each fed position (most likely first), when
    /// asked for.
    pub top: Vec<Vec<u32>>,
    /// Final hidden state of each fed position, when asked for.
    pub hidden: Vec<Vec<f32>>,
}

/// A causal language model with a key/value cache.
pub trait Lm {
    /// Vocabulary size (ids are `0..vocab_size`).
    fn vocab_size(&self) -> usize;
    /// Width of the final hidden state.
    fn hidden_size(&self) -> usize;
    /// Longest sequence the model takes.
    fn max_len(&self) -> usize;
    /// Cached positions.
    fn cached(&self) -> usize;
    /// Forgets every cached position after the first `len`.
    fn truncate(&mut self, len: usize) -> Result<(), JudgeError>;
    /// Feeds `tokens` at positions `cached()..`; `top_k > 0` fills [`Fed::top`], `hidden`
    /// fills [`Fed::hidden`].
    fn feed(&mut self, tokens: &[u32], top_k: usize, hidden: bool) -> Result<Fed, JudgeError>;
}

/// Greedy continuation of `prefix` by at most `max_new` tokens, stopping after any of `eos`
/// (kept) or at the model's length limit; returns the new tokens. Starts from an empty cache.
pub fn greedy(
    lm: &mut dyn Lm,
    prefix: &[u32],
    max_new: usize,
    eos: &[u32],
) -> Result<Vec<u32>, JudgeError> {
    if prefix.is_empty() {
        return Err(JudgeError::Input(
            "greedy decoding needs a non-empty prefix".into(),
        ));
    }
    lm.truncate(0)?;
    let mut out = Vec::new();
    let mut next = *lm.feed(prefix, 0, false)?.argmax.last().unwrap_or(&0);
    while out.len() < max_new {
        out.push(next);
        if eos.contains(&next) || prefix.len() + out.len() >= lm.max_len() {
            break;
        }
        next = *lm.feed(&[next], 0, false)?.argmax.last().unwrap_or(&0);
    }
    Ok(out)
}

/// Teacher-forced greedy predictions: `out[i]` is the model's argmax after `tokens[..=i]`.
pub fn argmax_all(lm: &mut dyn Lm, tokens: &[u32]) -> Result<Vec<u32>, JudgeError> {
    lm.truncate(0)?;
    Ok(lm.feed(tokens, 0, false)?.argmax)
}

/// lowbit's Llama (any weight representation: dense, fake-quantized or coded) as an [`Lm`],
/// batch 1, on the model's device.
pub struct LlamaLm {
    model: Llama,
    cache: KvCache,
    device: Device,
}

impl LlamaLm {
    /// Wraps a model (in inference mode).
    pub fn new(model: Llama) -> Self {
        let device = model.embed_tokens.weight.device();
        Self {
            model,
            cache: KvCache::new(),
            device,
        }
    }

    /// The wrapped model.
    pub fn model(&self) -> &Llama {
        &self.model
    }
}

fn host(t: Tensor<3>, what: &str) -> Result<Vec<f32>, JudgeError> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| JudgeError::Input(format!("cannot read {what}: {e:?}")))
}

/// Greedy argmax of one row (lowest id on ties; a NaN never wins over a number).
pub fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in row.iter().enumerate() {
        if x > row[best] || row[best].is_nan() {
            best = i;
        }
    }
    best as u32
}

/// The `k` largest entries of one row, largest first (lower id first on ties).
pub fn top_k(row: &[f32], k: usize) -> Vec<u32> {
    let mut idx: Vec<u32> = (0..row.len() as u32).collect();
    let key = |i: &u32| {
        let x = row[*i as usize];
        if x.is_nan() { f32::NEG_INFINITY } else { x }
    };
    let k = k.min(idx.len());
    if k == 0 {
        return Vec::new();
    }
    let cmp = |a: &u32, b: &u32| key(b).total_cmp(&key(a)).then(a.cmp(b));
    idx.select_nth_unstable_by(k - 1, cmp);
    idx.truncate(k);
    idx.sort_by(cmp);
    idx
}

impl Lm for LlamaLm {
    fn vocab_size(&self) -> usize {
        self.model.embed_tokens.weight.dims()[0]
    }

    fn hidden_size(&self) -> usize {
        self.model.embed_tokens.weight.dims()[1]
    }

    fn max_len(&self) -> usize {
        self.model.max_seq_len()
    }

    fn cached(&self) -> usize {
        self.cache.len()
    }

    fn truncate(&mut self, len: usize) -> Result<(), JudgeError> {
        Ok(self.cache.truncate(len)?)
    }

    fn feed(&mut self, tokens: &[u32], top_k_n: usize, hidden: bool) -> Result<Fed, JudgeError> {
        let vocab = self.vocab_size();
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= vocab) {
            return Err(JudgeError::Input(format!(
                "token id {bad} is outside the model's vocabulary of {vocab}"
            )));
        }
        if tokens.is_empty() {
            return Ok(Fed::default());
        }
        let ids: Vec<i64> = tokens.iter().map(|&t| i64::from(t)).collect();
        let n = ids.len();
        let x =
            Tensor::<1, Int>::from_data(TensorData::new(ids, [n]), &self.device).reshape([1, n]);
        let (logits, h) = self.model.forward_cached_hidden(x, &mut self.cache)?;
        let logits = host(logits, "logits")?;
        let mut fed = Fed::default();
        for row in logits.chunks(vocab) {
            fed.argmax.push(argmax(row));
            if top_k_n > 0 {
                fed.top.push(top_k(row, top_k_n));
            }
        }
        if hidden {
            let d = self.hidden_size();
            fed.hidden = host(h, "hidden states")?
                .chunks(d)
                .map(<[f32]>::to_vec)
                .collect();
        }
        Ok(fed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_and_argmax_break_ties_by_lower_id() {
        let row = [0.5, 2.0, f32::NAN, 2.0, -1.0];
        assert_eq!(argmax(&row), 1);
        assert_eq!(top_k(&row, 3), vec![1, 3, 0]);
        assert_eq!(top_k(&row, 9).len(), 5);
        assert!(top_k(&row, 0).is_empty());
    }
}
