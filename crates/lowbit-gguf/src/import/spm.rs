//! The SentencePiece (`tokenizer.ggml.model = "llama"`) vocabulary as an HF BPE model.
//!
//! llama.cpp's `llm_tokenizer_spm` (src/llama-vocab.cpp) prefixes a space (when
//! `tokenizer.ggml.add_space_prefix`, default true, at the start and after every special
//! token), writes spaces as U+2581, starts from the characters and repeatedly merges the
//! adjacent pair whose concatenation is a token with the highest score; characters left
//! unmerged and missing from the vocabulary become their UTF-8 byte tokens (`<0xXX>`).
//!
//! The HF equivalent (what transformers' Llama converter builds): normalizer
//! Prepend("▁") + Replace(" ", "▁") — HF normalizes each text segment between added tokens,
//! which gives the prefix after special tokens too — no pre-tokenizer, and a BPE model with
//! byte fallback whose merges are every split of every token into two tokens, ranked by the
//! score of the token they form (highest first). Known difference: llama.cpp lets a character
//! missing from the vocabulary merge with a neighbour when the pair is a token, HF falls back
//! to bytes for it at once; real vocabularies contain every character of their tokens.

use super::tokenizer::tok_err;
use crate::{GgufError, GgufFile};
use std::cmp::Ordering;
use std::collections::HashMap;
use tokenizers::Tokenizer;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::normalizers::{NormalizerWrapper, Prepend, Replace, Sequence};

/// SentencePiece's whitespace marker.
const SPACE: &str = "\u{2581}";

/// Every (left, right) split of a token into two tokens, ordered as llama.cpp prefers them:
/// higher score of the merged token first; ties by merged-token id, then split position.
fn merges(tokens: &[&str], scores: &[f32], ids: &HashMap<&str, u32>) -> Vec<(String, String)> {
    let mut found: Vec<(f32, usize, usize, &str, &str)> = Vec::new();
    for (id, (tok, &score)) in tokens.iter().zip(scores).enumerate() {
        for (at, _) in tok.char_indices().skip(1) {
            let (l, r) = tok.split_at(at);
            if ids.contains_key(l) && ids.contains_key(r) {
                found.push((score, id, at, l, r));
            }
        }
    }
    found.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
            .then(Ordering::Equal)
    });
    found
        .into_iter()
        .map(|(_, _, _, l, r)| (l.to_string(), r.to_string()))
        .collect()
}

/// The SPM tokenizer without added tokens and post-processor (the caller adds those).
///
/// # Errors
/// Key errors naming `tokenizer.ggml.scores` (missing, or not one score per token) or
/// `tokenizer.ggml.add_space_prefix`; [`GgufError::Tokenizer`] for duplicate tokens.
pub fn build(g: &GgufFile, tokens: &[&str], unk: Option<&str>) -> Result<Tokenizer, GgufError> {
    let key = "tokenizer.ggml.scores";
    let scores = g.get_f32_array(key)?;
    if scores.len() != tokens.len() {
        return Err(GgufError::WrongType {
            key: key.to_string(),
            expected: "one score per token",
            found: format!("{} scores for {} tokens", scores.len(), tokens.len()),
        });
    }
    let add_prefix = g
        .optional("tokenizer.ggml.add_space_prefix", GgufFile::get_bool)?
        .unwrap_or(true);
    let mut ids = HashMap::with_capacity(tokens.len());
    let mut vocab = Vocab::default();
    for (i, t) in tokens.iter().enumerate() {
        let id = u32::try_from(i).map_err(tok_err)?;
        if ids.insert(*t, id).is_some() {
            return Err(GgufError::Tokenizer(format!(
                "token {t:?} appears twice in tokenizer.ggml.tokens"
            )));
        }
        vocab.insert(t.to_string(), id);
    }
    let merges = merges(tokens, &scores, &ids);
    let mut bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .byte_fallback(true)
        .fuse_unk(true);
    if let Some(u) = unk {
        bpe = bpe.unk_token(u.to_string());
    }
    let mut tokenizer = Tokenizer::new(bpe.build().map_err(tok_err)?);

    let replace = Replace::new(" ", SPACE).map_err(tok_err)?;
    let mut norm = Vec::new();
    if add_prefix {
        norm.push(NormalizerWrapper::Prepend(Prepend::new(SPACE.to_string())));
    }
    norm.push(NormalizerWrapper::Replace(replace));
    tokenizer.with_normalizer(Some(NormalizerWrapper::Sequence(Sequence::new(norm))));

    let mut dec = vec![
        DecoderWrapper::Replace(Replace::new(SPACE, " ").map_err(tok_err)?),
        DecoderWrapper::ByteFallback(ByteFallback::new()),
        DecoderWrapper::Fuse(Fuse::new()),
    ];
    if add_prefix {
        dec.push(DecoderWrapper::Strip(Strip::new(' ', 1, 0)));
    }
    tokenizer.with_decoder(Some(DecoderWrapper::Sequence(DecoderSequence::new(dec))));
    Ok(tokenizer)
}
