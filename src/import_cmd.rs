//! `lowbit import gguf FILE --out DIR [--force]`: a llama GGUF (llama.cpp's format) → an HF
//! `LlamaForCausalLM` directory (`config.json`, f32 `model.safetensors`, `tokenizer.json`, …)
//! that `lowbit eval`, `generate`, `compress` and `train` read.
//!
//! The conversion itself is `lowbit-gguf` (ggml's dequantizers bit for bit, llama.cpp's Q/K
//! rotary permutation undone, the tokenizer rebuilt from the GGUF vocabulary). This command
//! then loads the directory with lowbit's own HF loader, so an import that lowbit could not
//! run fails here, naming what is wrong, rather than at the first `eval`.

use anyhow::{Context, Result};
use burn::tensor::Device;
use clap::{Args, Subcommand};
use lowbit_gguf::{GgufFile, ImportOptions, import_llama_with};
use std::path::{Path, PathBuf};

/// Arguments of `lowbit import`.
#[derive(Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    cmd: ImportCmd,
}

#[derive(Subcommand)]
enum ImportCmd {
    /// A llama GGUF file (v2/v3; F32, F16, BF16, Q4_0…Q8_0, Q2_K…Q6_K tensors) → HF directory.
    Gguf(GgufArgs),
}

#[derive(Args)]
struct GgufArgs {
    /// The `.gguf` file.
    file: PathBuf,
    /// Output HF directory (must not exist or be empty, unless --force).
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing output directory.
    #[arg(long)]
    force: bool,
}

/// Runs `lowbit import`.
pub fn run(a: ImportArgs) -> Result<()> {
    match a.cmd {
        ImportCmd::Gguf(g) => import_gguf(&g.file, &g.out, g.force),
    }
}

/// Imports `file` into `out`, prints what was converted, and checks that lowbit loads it.
pub fn import_gguf(file: &Path, out: &Path, force: bool) -> Result<()> {
    let g = GgufFile::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let report = import_llama_with(&g, out, &ImportOptions { force })
        .with_context(|| format!("cannot import {}", file.display()))?;
    let types: Vec<String> = report
        .tensor_types
        .iter()
        .map(|(t, n)| format!("{t} ×{n}"))
        .collect();
    println!(
        "{}: GGUF v{}, {} tensors ({}), {} parameters, vocab {}, tied embeddings {}",
        file.display(),
        g.version(),
        g.tensors().len(),
        types.join(", "),
        report.parameter_count,
        report.vocab_size,
        report.tied_embeddings
    );
    let loaded = lowbit_nn::hf::load_dir(out, &Device::flex()).with_context(|| {
        format!(
            "{} was written but lowbit cannot load it; please report this with the GGUF's metadata",
            out.display()
        )
    })?;
    let c = &loaded.config;
    println!(
        "wrote {}: {} layers, d_model {}, {} heads / {} kv heads, d_ff {}, max_seq_len {}",
        out.display(),
        c.n_layers,
        c.d_model,
        c.n_heads,
        c.n_kv_heads,
        c.d_ff,
        c.max_seq_len
    );
    Ok(())
}
