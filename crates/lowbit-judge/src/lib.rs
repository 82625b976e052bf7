//! # lowbit-judge
//!
//! AutoJudge (Garipov et al., "AutoJudge: Judge Decoding Without Manual Annotation", NeurIPS
//! 2025; official code `garipovroma/autojudge`): speculative decoding that accepts draft/target
//! mismatches a classifier calls unimportant.
//!
//! - [`task`]: seeded multi-step arithmetic word problems with GSM8K-style worked answers;
//!   [`data`]: GSM8K-style jsonl in and out; [`answer`]: final-answer parsing.
//! - [`lm`]: the two model calls the algorithms need ([`lm::Lm`]), implemented for lowbit's
//!   [`lowbit_nn::llama::Llama`].
//! - [`mine`]: the semi-greedy search that labels each earliest mismatch important or not (§6.1).
//! - [`features`]: final-norm hidden states at the mined mismatches (§6.2).
//! - [`head`]: standardisation + L2 logistic regression, C by validation ROC-AUC (§6.3).
//! - [`specdec`]: greedy speculative decoding with window W in the modes `target`, `exact-sd`,
//!   `autojudge` and `topk` (§6.4).

#![deny(missing_docs)]

pub mod answer;
pub mod data;
pub mod error;
pub mod features;
mod features_io;
pub mod head;
pub mod lm;
pub mod mine;
pub mod specdec;
pub mod task;

pub use error::JudgeError;
