//! Mining important mismatches: AutoJudge's semi-greedy search (Garipov et al. 2025, §3;
//! official `src/find_important_tokens.py`, spec §6.1).
//!
//! The target's greedy answer is the reference. The draft reads the current response with
//! teacher forcing; at the earliest position (after the last one examined) where its greedy
//! token differs from the response, the draft token is swapped in and the target continues
//! greedily from there. The mismatch is *unimportant* iff the final answer is unchanged; then
//! the search continues from that alternative response, otherwise from the unchanged one.
//!
//! Deviations from the official script, all about inputs it never meets: a target response with
//! no parseable final answer gives no labels (the official parser's fallback is not public), a
//! per-problem time budget ends the search early (`complete = false`), and generation also
//! stops at the model's length limit.

use crate::answer::parse_answer;
use crate::error::JudgeError;
use crate::lm::{Lm, argmax_all, greedy};
use burn::config::Config;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Limits of the search.
#[derive(Config, Debug)]
pub struct MineConfig {
    /// Most tokens the target generates after the prompt (the official default is 2048; the
    /// judge models' answers are far shorter).
    #[config(default = 256)]
    pub max_new_tokens: usize,
    /// Seconds per problem after which the search stops with the labels found so far.
    #[config(default = 600.0)]
    pub time_budget_s: f64,
}

/// One labelled mismatch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    /// Position in [`Mined::tokens`] (prompt included).
    pub position: usize,
    /// Whether swapping in the draft token changed the final answer.
    pub important: bool,
    /// The response's token at `position` before the swap.
    pub target_token: u32,
    /// The draft's greedy token at `position`.
    pub draft_token: u32,
}

/// The labels of one problem, one jsonl line of `labels.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mined {
    /// Problem id.
    pub id: String,
    /// Tokens of the prompt (the first `prompt_len` of `tokens`).
    pub prompt_len: usize,
    /// The final response, prompt included: every unimportant swap applied. Each mismatch's
    /// prefix `tokens[..position]` is the one it was labelled on.
    pub tokens: Vec<u32>,
    /// The target's own greedy final answer (normalised), the reference of every label.
    pub target_answer: Option<String>,
    /// The labelled mismatches, by increasing position.
    pub mismatches: Vec<Mismatch>,
    /// False when the time budget stopped the search early.
    pub complete: bool,
    /// Target generations run (the reference plus one per mismatch).
    pub target_generations: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Runs the semi-greedy search on one prompt. `decode` turns response tokens (after the
/// prompt) into text for [`parse_answer`]; `eos` are the end-of-sequence ids.
pub fn mine(
    id: &str,
    target: &mut dyn Lm,
    draft: &mut dyn Lm,
    prompt: &[u32],
    eos: &[u32],
    decode: &dyn Fn(&[u32]) -> Result<String, JudgeError>,
    cfg: &MineConfig,
) -> Result<Mined, JudgeError> {
    let start = Instant::now();
    let n_in = prompt.len();
    let mut cur = prompt.to_vec();
    cur.extend(greedy(target, prompt, cfg.max_new_tokens, eos)?);
    let reference = parse_answer(&decode(&cur[n_in..])?);
    let mut out = Mined {
        id: id.to_string(),
        prompt_len: n_in,
        tokens: Vec::new(),
        target_answer: reference.clone(),
        mismatches: Vec::new(),
        complete: true,
        target_generations: 1,
        seconds: 0.0,
    };
    let mut left = n_in;
    while reference.is_some() {
        if start.elapsed().as_secs_f64() > cfg.time_budget_s {
            out.complete = false;
            break;
        }
        // d[p] = the draft's greedy token for position p, read off position p - 1.
        let pred = argmax_all(draft, &cur)?;
        let Some(p) = (left.max(1)..cur.len()).find(|&p| pred[p - 1] != cur[p]) else {
            break;
        };
        let draft_token = pred[p - 1];
        let mut alt = cur[..p].to_vec();
        alt.push(draft_token);
        let budget = cfg.max_new_tokens.saturating_sub(p + 1 - n_in).max(1);
        if alt.len() < target.max_len() {
            alt.extend(greedy(target, &alt.clone(), budget, eos)?);
            out.target_generations += 1;
        }
        // An end of sequence inside the prefix region ends the alternative there.
        let eos_in_prefix = (n_in..=p).rev().find(|&i| eos.contains(&alt[i]));
        if let Some(e) = eos_in_prefix {
            alt.truncate(e + 1);
        }
        let same = parse_answer(&decode(&alt[n_in..])?) == reference;
        out.mismatches.push(Mismatch {
            position: p,
            important: !same,
            target_token: cur[p],
            draft_token,
        });
        if same {
            cur = alt;
        }
        left = p + 1;
        if eos_in_prefix.is_some() {
            break;
        }
    }
    out.tokens = cur;
    out.seconds = start.elapsed().as_secs_f64();
    Ok(out)
}
