//! Greedy speculative decoding with window W (spec §6.4; official
//! `eval/generation_utils.py:run_spec_dec` and `run_spec_dec_top_k`).
//!
//! Each cycle the draft proposes W tokens greedily, the target reads the last context token and
//! the W drafted ones in *one* forward, and drafted token j is accepted while every token up to
//! it is ok: equal to the target's greedy token (`exact-sd`, lossless), or a mismatch the judge
//! head calls unimportant, P(important) < threshold (`autojudge`), or in the target's top-K
//! (`topk`). At the first token that is not ok the target's token replaces it (the correction);
//! when all W are accepted no bonus token is added, as in the official code. Both KV caches
//! are then rolled back to the kept context ([`Lm::truncate`]).
//!
//! Deviations that change no output token: the target keeps a KV cache across cycles (the
//! official code re-reads the whole context every cycle), drafting stops early at an
//! end-of-sequence token, and the head is only evaluated at mismatches (where it decides).

use crate::error::JudgeError;
use crate::head::JudgeHead;
use crate::lm::Lm;
use std::time::Instant;

/// How a drafted token that differs from the target's is treated.
pub enum Accept<'a> {
    /// Never accepted: lossless speculative decoding.
    Exact,
    /// Accepted iff the head's P(important) is below `threshold`.
    Judge {
        /// The trained head.
        head: &'a JudgeHead,
        /// Acceptance threshold on P(important); 0 accepts no mismatch.
        threshold: f64,
    },
    /// Accepted iff it is among the target's `k` most likely tokens.
    TopK(usize),
}

/// What one decoding produced and what it cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    /// New tokens (the prompt excluded), ending with an end-of-sequence id when one came.
    pub tokens: Vec<u32>,
    /// Verification cycles (target-only decoding: one per token).
    pub cycles: usize,
    /// Tokens kept per cycle (the correction token included).
    pub accepted: Vec<usize>,
    /// Mismatches accepted (judge or top-K).
    pub mismatches_accepted: usize,
    /// Target forward calls, prefill included.
    pub target_calls: usize,
    /// Draft forward calls, prefill included.
    pub draft_calls: usize,
    /// Wall-clock seconds.
    pub wall_s: f64,
}

impl Decoded {
    /// Mean tokens kept per verification cycle.
    pub fn accepted_per_cycle(&self) -> f64 {
        if self.accepted.is_empty() {
            0.0
        } else {
            self.accepted.iter().sum::<usize>() as f64 / self.accepted.len() as f64
        }
    }
}

fn check_prompt(lm: &dyn Lm, prompt: &[u32], who: &str) -> Result<(), JudgeError> {
    if prompt.is_empty() {
        return Err(JudgeError::Input("the prompt has no tokens".into()));
    }
    if prompt.len() >= lm.max_len() {
        return Err(JudgeError::Input(format!(
            "the prompt of {} tokens leaves no room in the {who}'s max_seq_len {}",
            prompt.len(),
            lm.max_len()
        )));
    }
    Ok(())
}

/// Target-only greedy decoding with the KV cache (the reference every mode is compared with).
pub fn target_greedy(
    target: &mut dyn Lm,
    prompt: &[u32],
    eos: &[u32],
    max_new: usize,
) -> Result<Decoded, JudgeError> {
    check_prompt(target, prompt, "target")?;
    let start = Instant::now();
    target.truncate(0)?;
    let mut out = Decoded::default();
    let mut next = *target.feed(prompt, 0, false)?.argmax.last().unwrap_or(&0);
    out.target_calls = 1;
    while out.tokens.len() < max_new {
        out.tokens.push(next);
        out.accepted.push(1);
        out.cycles += 1;
        if eos.contains(&next) || prompt.len() + out.tokens.len() >= target.max_len() {
            break;
        }
        next = *target.feed(&[next], 0, false)?.argmax.last().unwrap_or(&0);
        out.target_calls += 1;
    }
    out.wall_s = start.elapsed().as_secs_f64();
    Ok(out)
}

/// The head's input for one drafted token, from the draft's and the target's hidden states at
/// the position whose input is that token (spec §6.2's (a) configuration).
fn head_row(head: &JudgeHead, hd: &[f32], ht: &[f32]) -> Result<Vec<f32>, JudgeError> {
    let blocks = crate::features::feature_blocks(&head.feature_set)?;
    let mut row = Vec::with_capacity(head.dim);
    for b in blocks {
        match *b {
            "draft_a" => row.extend_from_slice(hd),
            "target_a" => row.extend_from_slice(ht),
            other => {
                return Err(JudgeError::Input(format!(
                    "feature set {:?} uses {other}, which judge decoding does not see; train the head on dd-dt, dt or dd",
                    head.feature_set
                )));
            }
        }
    }
    if row.len() != head.dim {
        return Err(JudgeError::Input(format!(
            "the head expects {} features ({}), the models give {}: it was trained on other models",
            head.dim,
            head.feature_set,
            row.len()
        )));
    }
    Ok(row)
}

/// Speculative decoding of `prompt` with window `window`, at most `max_new` new tokens.
pub fn speculative(
    target: &mut dyn Lm,
    draft: &mut dyn Lm,
    prompt: &[u32],
    eos: &[u32],
    max_new: usize,
    window: usize,
    accept: &Accept,
) -> Result<Decoded, JudgeError> {
    if window == 0 {
        return Err(JudgeError::Input("window must be at least 1".into()));
    }
    if target.vocab_size() != draft.vocab_size() {
        return Err(JudgeError::Input(format!(
            "target vocabulary {} differs from the draft's {}; the models must share a tokenizer",
            target.vocab_size(),
            draft.vocab_size()
        )));
    }
    check_prompt(target, prompt, "target")?;
    check_prompt(draft, prompt, "draft")?;
    let need_hidden = matches!(accept, Accept::Judge { .. });
    let top_k = match accept {
        Accept::TopK(k) => *k,
        _ => 0,
    };
    let start = Instant::now();
    let mut out = Decoded::default();
    let mut ctx = prompt.to_vec();
    target.truncate(0)?;
    draft.truncate(0)?;
    // Invariant: both caches hold every context token but the last.
    if ctx.len() > 1 {
        target.feed(&ctx[..ctx.len() - 1], 0, false)?;
        draft.feed(&ctx[..ctx.len() - 1], 0, false)?;
        out.target_calls += 1;
        out.draft_calls += 1;
    }
    let max_len = target.max_len().min(draft.max_len());
    loop {
        let done = ctx.len() - prompt.len();
        let w = window.min(max_new - done).min(max_len - ctx.len());
        if w == 0 {
            break;
        }
        let base = ctx.len();
        // Draft w tokens; the hidden state of drafted token j is read when it is fed.
        let mut drafted = Vec::with_capacity(w);
        let mut hd: Vec<Vec<f32>> = Vec::with_capacity(w);
        let mut last = ctx[base - 1];
        for j in 0..=w {
            let stop = j == w || (j > 0 && eos.contains(&last));
            if stop && !need_hidden {
                break;
            }
            let fed = draft.feed(&[last], 0, need_hidden && j > 0)?;
            out.draft_calls += 1;
            if j > 0 && need_hidden {
                hd.push(fed.hidden.into_iter().next().unwrap_or_default());
            }
            if stop {
                break;
            }
            last = fed.argmax[0];
            drafted.push(last);
        }
        let w = drafted.len();
        let mut verify = vec![ctx[base - 1]];
        verify.extend_from_slice(&drafted);
        let t = target.feed(&verify, top_k, need_hidden)?;
        out.target_calls += 1;
        let mut n = 0;
        while n < w {
            let (d, tt) = (drafted[n], t.argmax[n]);
            let ok = d == tt
                || match accept {
                    Accept::Exact => false,
                    Accept::TopK(_) => t.top[n].contains(&d),
                    Accept::Judge { head, threshold } => {
                        let ht = t.hidden.get(n + 1).map(Vec::as_slice).unwrap_or(&[]);
                        let hdn = hd.get(n).map(Vec::as_slice).unwrap_or(&[]);
                        head.prob_important(&head_row(head, hdn, ht)?) < *threshold
                    }
                };
            if !ok {
                break;
            }
            if d != tt {
                out.mismatches_accepted += 1;
            }
            n += 1;
        }
        let mut kept = drafted[..n].to_vec();
        if n < w {
            kept.push(t.argmax[n]);
        }
        out.cycles += 1;
        out.accepted.push(kept.len());
        ctx.extend_from_slice(&kept);
        if let Some(e) = ctx[base..].iter().position(|x| eos.contains(x)) {
            ctx.truncate(base + e + 1);
            break;
        }
        target.truncate(ctx.len() - 1)?;
        draft.truncate(ctx.len() - 1)?;
    }
    out.tokens = ctx[prompt.len()..].to_vec();
    out.wall_s = start.elapsed().as_secs_f64();
    Ok(out)
}
