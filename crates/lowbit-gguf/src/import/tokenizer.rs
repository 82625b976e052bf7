//! `tokenizer.json` from a GGUF vocabulary, built with the `tokenizers` crate.
//!
//! Supported: `tokenizer.ggml.model = "gpt2"` (byte-level BPE: `tokens`, `merges`,
//! `token_type`) and `"llama"` (SentencePiece BPE with `scores` and byte tokens, see
//! [`super::spm`]). Control and unknown tokens (types 3, 2) become special added tokens and
//! user-defined ones (type 4) plain added tokens, matched verbatim, as llama.cpp's
//! `tokenizer_st_partition` matches them before tokenizing the text between them. The pre-tokenizer reproduces what llama.cpp's
//! `llm_tokenizer_bpe` (src/llama-vocab.cpp) does for `tokenizer.ggml.pre`.

use crate::{GgufError, GgufFile};
use tokenizers::decoders::DecoderWrapper;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::processors::PostProcessorWrapper;
use tokenizers::processors::sequence::Sequence as ProcessorSequence;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

/// GGUF token types (`llama_token_type` / gguf-py `TokenType`) the importer distinguishes.
const TOKEN_UNKNOWN: i64 = 2;
const TOKEN_CONTROL: i64 = 3;
const TOKEN_USER_DEFINED: i64 = 4;

/// GPT-2's split regex (llama.cpp's `LLAMA_VOCAB_PRE_TYPE_GPT2` regex; ByteLevel's built-in).
const GPT2_REGEX: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
/// Llama 3's split regex as in its tokenizer.json (llama.cpp uses a case-expanded equivalent).
const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The tokenizer and the strings of its special tokens.
pub struct BuiltTokenizer {
    /// The tokenizer.
    pub tokenizer: Tokenizer,
    /// Number of tokens in the vocabulary.
    pub vocab_size: u64,
    /// Token strings of `tokenizer.ggml.{bos,eos,padding,unknown}_token_id`, if set.
    pub bos: Option<String>,
    /// See `bos`.
    pub eos: Option<String>,
    /// See `bos`.
    pub pad: Option<String>,
    /// See `bos`.
    pub unk: Option<String>,
    /// `tokenizer.ggml.add_bos_token` (llama.cpp's default for BPE vocabularies: false).
    pub add_bos: bool,
}

pub(super) fn tok_err(e: impl std::fmt::Display) -> GgufError {
    GgufError::Tokenizer(e.to_string())
}

fn split(regex: &str) -> Result<PreTokenizerWrapper, GgufError> {
    Split::new(
        SplitPattern::Regex(regex.to_string()),
        SplitDelimiterBehavior::Isolated,
        false,
    )
    .map(PreTokenizerWrapper::Split)
    .map_err(tok_err)
}

/// The HF pre-tokenizer equivalent to llama.cpp's regex list for `pre`.
///
/// llama.cpp applies its regexes one after the other, each splitting the pieces of the
/// previous one and keeping the unmatched text as pieces too, which is HF's `Split` with
/// `Isolated`; the byte-level mapping follows.
fn pre_tokenizer(pre: &str) -> Result<PreTokenizerWrapper, GgufError> {
    let byte_level =
        |use_regex| PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, use_regex));
    Ok(match pre {
        // LLAMA_VOCAB_PRE_TYPE_GPT2: the GPT-2 regex alone, i.e. ByteLevel with its regex.
        "gpt2" | "gpt-2" => byte_level(true),
        // LLAMA_VOCAB_PRE_TYPE_SMOLLM (shared with STARCODER, REFACT, COMMAND_R, CODESHELL,
        // EXAONE): "\p{N}" then the GPT-2 regex. SmolLM2's own tokenizer.json spells this as
        // Digits(individual_digits) + ByteLevel(use_regex).
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" => {
            PreTokenizerWrapper::Sequence(Sequence::new(vec![
                PreTokenizerWrapper::Digits(Digits::new(true)),
                byte_level(true),
            ]))
        }
        // LLAMA_VOCAB_PRE_TYPE_LLAMA3.
        "llama-bpe" | "llama3" | "llama-v3" => PreTokenizerWrapper::Sequence(Sequence::new(vec![
            split(LLAMA3_REGEX)?,
            byte_level(false),
        ])),
        // LLAMA_VOCAB_PRE_TYPE_DEFAULT (also what an absent key means).
        "default" | "" => PreTokenizerWrapper::Sequence(Sequence::new(vec![
            split(r"[\p{P}\$\+<=>\^~\|]+")?,
            split(GPT2_REGEX)?,
            split(r"\p{N}+")?,
            split(r"[0-9][0-9][0-9]")?,
            byte_level(false),
        ])),
        other => {
            return Err(GgufError::UnknownPreTokenizer {
                pre: other.to_string(),
            });
        }
    })
}

/// The byte-level BPE model of a `gpt2` vocabulary, with pre-tokenizer and decoder.
fn byte_level_bpe(g: &GgufFile, tokens: &[&str]) -> Result<Tokenizer, GgufError> {
    let pre = g
        .optional("tokenizer.ggml.pre", GgufFile::get_str)?
        .unwrap_or("default");
    let pre = pre_tokenizer(pre)?;
    let merges_raw = g.get_str_array("tokenizer.ggml.merges")?;
    let mut vocab = Vocab::default();
    for (i, t) in tokens.iter().enumerate() {
        let id = u32::try_from(i).map_err(tok_err)?;
        if vocab.insert(t.to_string(), id).is_some() {
            return Err(GgufError::Tokenizer(format!(
                "token {t:?} appears twice in tokenizer.ggml.tokens"
            )));
        }
    }
    let mut merges = Vec::with_capacity(merges_raw.len());
    for m in &merges_raw {
        let (a, b) = m
            .split_once(' ')
            .filter(|(a, b)| !a.is_empty() && !b.is_empty() && !b.contains(' '))
            .ok_or_else(|| {
                GgufError::Tokenizer(format!("merge {m:?} is not two space-separated tokens"))
            })?;
        merges.push((a.to_string(), b.to_string()));
    }
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(tok_err)?;
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(pre));
    tokenizer.with_decoder(Some(DecoderWrapper::ByteLevel(ByteLevelDecoder::default())));
    Ok(tokenizer)
}

/// Builds the tokenizer of `g`.
///
/// # Errors
/// [`GgufError::Unsupported`] for a tokenizer model other than `gpt2` and `llama`,
/// [`GgufError::UnknownPreTokenizer`], key errors naming the `tokenizer.ggml.*` key, and
/// [`GgufError::Tokenizer`] if the vocabulary is inconsistent (duplicate tokens, a merge that
/// is not two tokens, a special id out of range).
pub fn build(g: &GgufFile) -> Result<BuiltTokenizer, GgufError> {
    let model = g.get_str("tokenizer.ggml.model")?;
    if model != "gpt2" && model != "llama" {
        return Err(GgufError::Unsupported {
            what: "tokenizer.ggml.model".to_string(),
            message: format!(
                "{model:?}; only \"gpt2\" (byte-level BPE) and \"llama\" (SentencePiece BPE) \
                 vocabularies can be imported"
            ),
        });
    }
    let tokens = g.get_str_array("tokenizer.ggml.tokens")?;
    let types = match g.optional("tokenizer.ggml.token_type", GgufFile::get_i64_array)? {
        Some(t) if t.len() != tokens.len() => {
            return Err(GgufError::WrongType {
                key: "tokenizer.ggml.token_type".to_string(),
                expected: "one type per token",
                found: format!("{} types for {} tokens", t.len(), tokens.len()),
            });
        }
        Some(t) => t,
        None => vec![1; tokens.len()],
    };
    let name = |key: &str| -> Result<Option<String>, GgufError> {
        match g.optional(key, GgufFile::get_u32)? {
            None => Ok(None),
            Some(id) => tokens
                .get(id as usize)
                .map(|s| Some(s.to_string()))
                .ok_or_else(|| GgufError::WrongType {
                    key: key.to_string(),
                    expected: "a token id inside the vocabulary",
                    found: format!("{id} (vocabulary has {} tokens)", tokens.len()),
                }),
        }
    };
    let bos = name("tokenizer.ggml.bos_token_id")?;
    let eos = name("tokenizer.ggml.eos_token_id")?;
    let pad = name("tokenizer.ggml.padding_token_id")?;
    let unk = name("tokenizer.ggml.unknown_token_id")?;
    let spm = model == "llama";
    let mut tokenizer = if spm {
        super::spm::build(g, &tokens, unk.as_deref())?
    } else {
        byte_level_bpe(g, &tokens)?
    };
    // llama.cpp's defaults when the key is absent: BOS for SentencePiece, none for BPE.
    let add_bos = g
        .optional("tokenizer.ggml.add_bos_token", GgufFile::get_bool)?
        .unwrap_or(spm);

    let mut added = Vec::new();
    for (t, ty) in tokens.iter().zip(&types) {
        match *ty {
            TOKEN_CONTROL | TOKEN_UNKNOWN => added.push(AddedToken::from(t.to_string(), true)),
            TOKEN_USER_DEFINED => {
                added.push(AddedToken::from(t.to_string(), false).normalized(false))
            }
            _ => {}
        }
    }
    tokenizer.add_special_tokens(&added);

    let template = match (&bos, add_bos) {
        (Some(b), true) => {
            let id = g.get_u32("tokenizer.ggml.bos_token_id")?;
            let t = TemplateProcessing::builder()
                .try_single(format!("{b} $A"))
                .map_err(tok_err)?
                .try_pair(format!("{b} $A:0 {b}:1 $B:1"))
                .map_err(tok_err)?
                .special_tokens(vec![(b.clone(), id)])
                .build()
                .map_err(tok_err)?;
            Some(PostProcessorWrapper::Template(t))
        }
        (None, true) => {
            return Err(GgufError::MissingKey {
                key: "tokenizer.ggml.bos_token_id".to_string(),
            });
        }
        _ => None,
    };
    // Byte-level vocabularies: ByteLevel post-processing (it only trims offsets), then BOS.
    let post = match (spm, template) {
        (true, t) => t,
        (false, None) => Some(PostProcessorWrapper::ByteLevel(ByteLevel::new(
            false, true, true,
        ))),
        (false, Some(t)) => Some(PostProcessorWrapper::Sequence(ProcessorSequence::new(
            vec![
                PostProcessorWrapper::ByteLevel(ByteLevel::new(false, true, true)),
                t,
            ],
        ))),
    };
    tokenizer.with_post_processor(post);
    Ok(BuiltTokenizer {
        tokenizer,
        vocab_size: tokens.len() as u64,
        bos,
        eos,
        pad,
        unk,
        add_bos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::{OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer};

    fn pieces(pre: &str, text: &str) -> Vec<String> {
        let p = pre_tokenizer(pre).unwrap();
        let mut s = PreTokenizedString::from(text);
        p.pre_tokenize(&mut s).unwrap();
        s.get_splits(OffsetReferential::Original, OffsetType::Byte)
            .into_iter()
            .map(|(piece, _, _)| piece.to_string())
            .collect()
    }

    #[test]
    fn pre_tokenizers_split_as_llama_cpp() {
        let text = "Hello world 1234!";
        assert_eq!(pieces("gpt2", text), ["Hello", "Ġworld", "Ġ1234", "!"]);
        assert_eq!(
            pieces("smollm", text),
            ["Hello", "Ġworld", "Ġ", "1", "2", "3", "4", "!"]
        );
        assert_eq!(
            pieces("llama-bpe", text),
            ["Hello", "Ġworld", "Ġ", "123", "4", "!"]
        );
        // default: punctuation runs, then GPT-2, then digit runs, then runs of three digits.
        assert_eq!(
            pieces("default", text),
            ["Hello", "Ġworld", "Ġ", "123", "4", "!"]
        );
        assert!(matches!(
            pre_tokenizer("qwen2"),
            Err(GgufError::UnknownPreTokenizer { .. })
        ));
    }
}
