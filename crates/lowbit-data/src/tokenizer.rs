//! Byte-level BPE (GPT-2 style; Radford et al. 2019) trained with HuggingFace `tokenizers`, or a
//! `tokenizer.json` loaded as is. Documents are joined with an end-of-text token.

use crate::{DataError, Document};
use std::path::Path;
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

/// The end-of-text token separating documents.
pub const EOT: &str = "<|endoftext|>";

/// How to train the tokenizer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TokenizerConfig {
    /// Vocabulary size including the 256 byte tokens and the end-of-text token.
    pub vocab_size: usize,
    /// Minimum pair frequency for a merge.
    pub min_frequency: u64,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        Self {
            vocab_size: 4096,
            min_frequency: 2,
        }
    }
}

/// A tokenizer with its end-of-text id.
pub struct TextTokenizer {
    inner: Tokenizer,
    eot: u32,
}

fn tk_err(e: impl std::fmt::Display) -> DataError {
    DataError::Tokenizer(e.to_string())
}

impl TextTokenizer {
    /// Trains a byte-level BPE on the documents (deterministic for the same input).
    pub fn train(docs: &[Document], cfg: &TokenizerConfig) -> Result<Self, DataError> {
        if cfg.vocab_size < 257 + 1 {
            return Err(DataError::Tokenizer(format!(
                "vocab_size {} is too small: a byte-level BPE needs at least 258 (256 bytes + end-of-text + one merge)",
                cfg.vocab_size
            )));
        }
        let trainer = BpeTrainerBuilder::new()
            .vocab_size(cfg.vocab_size)
            .min_frequency(cfg.min_frequency)
            .show_progress(false)
            .special_tokens(vec![AddedToken::from(EOT, true)])
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build();
        let mut trainer: TrainerWrapper = trainer.into();
        let mut tk = Tokenizer::new(BPE::default());
        tk.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
        tk.with_decoder(Some(ByteLevel::default()));
        let texts = docs.iter().map(|d| d.text.clone());
        tk.train(&mut trainer, texts).map_err(tk_err)?;
        Self::wrap(tk)
    }

    /// Loads a `tokenizer.json` (it must define `<|endoftext|>`).
    pub fn load(path: &Path) -> Result<Self, DataError> {
        let tk = Tokenizer::from_file(path)
            .map_err(|e| DataError::Tokenizer(format!("{}: {e}", path.display())))?;
        Self::wrap(tk)
    }

    fn wrap(inner: Tokenizer) -> Result<Self, DataError> {
        let eot = inner
            .token_to_id(EOT)
            .ok_or_else(|| DataError::Tokenizer(format!("the tokenizer has no `{EOT}` token")))?;
        Ok(Self { inner, eot })
    }

    /// Saves as `tokenizer.json`.
    pub fn save(&self, path: &Path) -> Result<(), DataError> {
        self.inner.save(path, false).map_err(tk_err)
    }

    /// Vocabulary size (with added tokens).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The end-of-text id.
    pub fn eot(&self) -> u32 {
        self.eot
    }

    /// Token ids of a text (no special tokens added).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, DataError> {
        Ok(self
            .inner
            .encode(text, false)
            .map_err(tk_err)?
            .get_ids()
            .to_vec())
    }

    /// Text of token ids.
    pub fn decode(&self, ids: &[u32]) -> Result<String, DataError> {
        self.inner.decode(ids, false).map_err(tk_err)
    }

    /// The documents as one stream: each document's tokens followed by end-of-text.
    pub fn encode_documents(&self, docs: &[&Document]) -> Result<Vec<u32>, DataError> {
        let mut out = Vec::new();
        for d in docs {
            out.extend(self.encode(&d.text)?);
            out.push(self.eot);
        }
        Ok(out)
    }
}
