//! Features of mined mismatches (spec §6.2, official `src/calc_hiddens.py`): for each mismatch
//! at position p of the final response, sequence (a) has the draft token at p and (b) the
//! target token; both models read both, and the final hidden state (after the last RMSNorm) at
//! position p — the position whose *input* is the candidate token — is kept, with the hidden
//! state at p − 1 (the shared prefix). The default feature set "DD-DT" is
//! `[h_draft(a, p); h_target(a, p)]`, exactly what judge decoding sees for a drafted token.
//!
//! The causal models never look past p, so each model reads the response once, prefix by
//! prefix, and each candidate costs one cached token (fed, read, rolled back).

use crate::error::JudgeError;
use crate::lm::Lm;
use crate::mine::Mined;
use std::collections::HashMap;

/// The feature sets a head can be trained on, as (name, blocks of [`Features`] concatenated).
pub const FEATURE_SETS: [(&str, &[&str]); 5] = [
    ("dd-dt", &["draft_a", "target_a"]),
    ("dt", &["target_a"]),
    ("dd", &["draft_a"]),
    ("all", &["draft_a", "target_a", "draft_b", "target_b"]),
    ("prev", &["draft_prev", "target_prev"]),
];

/// Hidden-state blocks of the feature file, in the order they are stored.
pub const BLOCKS: [&str; 6] = [
    "draft_a",
    "target_a",
    "draft_b",
    "target_b",
    "draft_prev",
    "target_prev",
];

/// Per-mismatch features of many problems, row-major.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features {
    /// Width of the draft's hidden state.
    pub d_draft: usize,
    /// Width of the target's hidden state.
    pub d_target: usize,
    /// Blocks by name ([`BLOCKS`]): `rows × d_draft` or `rows × d_target` values.
    pub blocks: HashMap<String, Vec<f32>>,
    /// 1 = important.
    pub important: Vec<bool>,
    /// Index of the problem of each row into [`Features::problem_ids`].
    pub group: Vec<u64>,
    /// Position of each mismatch.
    pub position: Vec<u64>,
    /// Problem ids.
    pub problem_ids: Vec<String>,
}

fn width(name: &str, d_draft: usize, d_target: usize) -> usize {
    if name.starts_with("draft") {
        d_draft
    } else {
        d_target
    }
}

/// Hidden states of one model at every mismatch of `m`: per mismatch `[(a, p), (b, p), p − 1]`.
fn read_model(lm: &mut dyn Lm, m: &Mined) -> Result<Vec<[Vec<f32>; 3]>, JudgeError> {
    lm.truncate(0)?;
    let mut out = Vec::with_capacity(m.mismatches.len());
    for mm in &m.mismatches {
        let p = mm.position;
        if p == 0 || p > m.tokens.len() || lm.cached() >= p {
            return Err(JudgeError::Input(format!(
                "problem {}: mismatch position {p} is not after the previous one inside the {} tokens",
                m.id,
                m.tokens.len()
            )));
        }
        let prefix = lm.feed(&m.tokens[lm.cached()..p], 0, true)?;
        let prev = prefix.hidden.last().cloned().unwrap_or_default();
        let a = lm.feed(&[mm.draft_token], 0, true)?.hidden.remove(0);
        lm.truncate(p)?;
        let b = lm.feed(&[mm.target_token], 0, true)?.hidden.remove(0);
        lm.truncate(p)?;
        out.push([a, b, prev]);
    }
    Ok(out)
}

impl Features {
    /// Empty features for models of these widths.
    pub fn new(d_draft: usize, d_target: usize) -> Self {
        let blocks = BLOCKS.iter().map(|b| (b.to_string(), Vec::new())).collect();
        Self {
            d_draft,
            d_target,
            blocks,
            ..Self::default()
        }
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.important.len()
    }

    /// Appends the features of one mined problem.
    pub fn push(
        &mut self,
        target: &mut dyn Lm,
        draft: &mut dyn Lm,
        m: &Mined,
    ) -> Result<(), JudgeError> {
        if m.mismatches.is_empty() {
            return Ok(());
        }
        let hd = read_model(draft, m)?;
        let ht = read_model(target, m)?;
        let g = self.problem_ids.len() as u64;
        self.problem_ids.push(m.id.clone());
        for ((mm, d), t) in m.mismatches.iter().zip(&hd).zip(&ht) {
            let parts = [&d[0], &t[0], &d[1], &t[1], &d[2], &t[2]];
            for (name, v) in BLOCKS.iter().zip(parts) {
                if v.len() != width(name, self.d_draft, self.d_target) {
                    return Err(JudgeError::Input(format!(
                        "hidden state of width {} for {name}; the feature file has d_draft {} and d_target {}",
                        v.len(),
                        self.d_draft,
                        self.d_target
                    )));
                }
                self.blocks
                    .entry(name.to_string())
                    .or_default()
                    .extend_from_slice(v);
            }
            self.important.push(mm.important);
            self.group.push(g);
            self.position.push(mm.position as u64);
        }
        Ok(())
    }

    /// The row-major matrix of a feature set ([`FEATURE_SETS`]) and its width.
    pub fn matrix(&self, set: &str) -> Result<(Vec<f32>, usize), JudgeError> {
        let blocks = feature_blocks(set)?;
        let widths: Vec<usize> = blocks
            .iter()
            .map(|b| width(b, self.d_draft, self.d_target))
            .collect();
        let cols: usize = widths.iter().sum();
        let mut x = Vec::with_capacity(self.rows() * cols);
        for r in 0..self.rows() {
            for (b, &w) in blocks.iter().zip(&widths) {
                let v = self.blocks.get(*b).map(Vec::as_slice).unwrap_or(&[]);
                x.extend_from_slice(v.get(r * w..(r + 1) * w).unwrap_or(&[]));
            }
        }
        Ok((x, cols))
    }
}

/// The blocks of a feature set, or an error naming the sets there are.
pub fn feature_blocks(set: &str) -> Result<&'static [&'static str], JudgeError> {
    FEATURE_SETS
        .iter()
        .find(|(n, _)| *n == set)
        .map(|(_, b)| *b)
        .ok_or_else(|| {
            let names: Vec<&str> = FEATURE_SETS.iter().map(|(n, _)| *n).collect();
            JudgeError::Input(format!(
                "unknown feature set {set:?}; choose one of {}",
                names.join(", ")
            ))
        })
}
