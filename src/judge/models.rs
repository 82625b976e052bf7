//! Loading a target/draft pair for `lowbit judge` (run, step or HF directories, compressed
//! checkpoints included) and the progress display the subcommands share.

use crate::eval_cmd::{encode, load_checkpoint};
use crate::train_cmd::ProgressArg;
use anyhow::{Result, bail};
use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lowbit_judge::lm::LlamaLm;
use std::io::IsTerminal;
use std::path::Path;
use tokenizers::Tokenizer;

/// A target, its draft, the tokenizer they share and the end-of-sequence ids.
pub struct Pair {
    /// The target model.
    pub target: LlamaLm,
    /// The draft model.
    pub draft: LlamaLm,
    /// The target's tokenizer (the draft's is checked equal).
    pub tokenizer: Tokenizer,
    /// End-of-sequence ids (the target's `eos_token_id`, else `<|endoftext|>`).
    pub eos: Vec<u32>,
}

impl Pair {
    /// Tokens of `text`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        encode(&self.tokenizer, text)
    }

    /// Text of `ids` (special tokens dropped).
    pub fn decode(&self, ids: &[u32]) -> Result<String, lowbit_judge::JudgeError> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|e| lowbit_judge::JudgeError::Input(format!("cannot decode: {e}")))
    }
}

/// The options every model-running `lowbit judge` command takes.
#[derive(clap::Args)]
pub struct RunArgs {
    /// `cpu`, `cuda[:N]` or `wgpu`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Progress display.
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: ProgressArg,
}

/// Loads `target` and `draft`; they must share a vocabulary.
pub fn load_pair(target: &Path, draft: &Path, device: &Device) -> Result<Pair> {
    let t = load_checkpoint(target, device)?;
    let d = load_checkpoint(draft, device)?;
    let (vt, vd) = (t.tokenizer.get_vocab(true), d.tokenizer.get_vocab(true));
    if vt != vd || t.loaded.config.vocab_size != d.loaded.config.vocab_size {
        let differs = vt
            .iter()
            .filter(|(tok, id)| vd.get(*tok) != Some(id))
            .map(|(tok, _)| tok.clone())
            .min();
        bail!(
            "target {} and draft {} do not share a vocabulary (tokenizers of {} and {} tokens, models of {} and {}{}): AutoJudge compares their tokens, so give a draft trained with the target's tokenizer",
            target.display(),
            draft.display(),
            vt.len(),
            vd.len(),
            t.loaded.config.vocab_size,
            d.loaded.config.vocab_size,
            differs
                .map(|s| format!("; first differing token {s:?}"))
                .unwrap_or_default()
        );
    }
    let mut eos = t.loaded.special.eos_token_ids.clone();
    if eos.is_empty() {
        eos.extend(t.tokenizer.token_to_id("<|endoftext|>"));
    }
    Ok(Pair {
        target: LlamaLm::new(t.loaded.model),
        draft: LlamaLm::new(d.loaded.model),
        tokenizer: t.tokenizer,
        eos,
    })
}

/// A bar on a terminal (auto), nothing otherwise; `lines` says whether to print a line per item.
pub fn progress(mode: ProgressArg, total: u64, what: &str) -> (ProgressBar, bool) {
    let terminal = std::io::stderr().is_terminal();
    if mode == ProgressArg::Auto && terminal {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(&format!(
            "{{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}} {what}, ETA {{eta_precise}} {{msg}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        (bar, false)
    } else {
        (ProgressBar::hidden(), mode != ProgressArg::Quiet)
    }
}
