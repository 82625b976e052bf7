//! `lowbit export --checkpoint DIR --format hf|compressed-tensors --out DIR [--dtype f32|bf16]`.
//!
//! DIR is a compressed checkpoint (`lowbit compress`), a run directory (its LATEST step) or a
//! step directory, as for `lowbit eval`.
//! - `hf`: every linear as the dense weight it computes with (decoded codes, or fake-quantized
//!   latent weights, taken out of any Hadamard basis) in a plain HF directory that stock
//!   `transformers` loads; `lowbit eval` gives it the compressed model's NLL up to float
//!   rounding. Online activation quantization has no HF equivalent: such a model is refused
//!   unless `--drop-input-quant`.
//! - `compressed-tensors`: see `export_ct`. A model that quantizes its inputs online with NVFP4
//!   exports as W4A4, whose static activation scales are calibrated on `--calib-text`
//!   (`export_calib`).

use crate::compress::DtypeArg;
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use lowbit_nn::hf::{SaveOptions, StoreDtype, load_dir, save_dir_with};
use std::path::{Path, PathBuf};

/// Export targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Dense HF safetensors (transformers' LlamaForCausalLM).
    Hf,
    /// compressed-tensors (vLLM): packed codes + quantization_config.
    CompressedTensors,
}

/// Arguments of `lowbit export`.
#[derive(Args)]
pub struct ExportArgs {
    /// Compressed checkpoint, run directory or step directory.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Target format.
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Element type of dense tensors.
    #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
    pub dtype: DtypeArg,
    /// Export a model that quantizes its activations online without that quantization
    /// (`hf` only; the export then computes differently from the checkpoint).
    #[arg(long)]
    pub drop_input_quant: bool,
    /// compressed-tensors W4A4 (a model with NVFP4 online input quantization): the text whose
    /// first windows calibrate each linear's static `input_global_scale`.
    #[command(flatten)]
    pub calib: crate::compress::calib::CalibArgs,
    /// Overwrite `--out` if it already holds a checkpoint.
    #[arg(long)]
    pub force: bool,
}

/// Files of the source directory copied beside the exported weights.
pub const SIDE_FILES: [&str; 5] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
];

/// Copies the tokenizer and generation files of `src` into `out`.
pub fn copy_side_files(src: &Path, out: &Path) -> Result<()> {
    for f in SIDE_FILES {
        let p = src.join(f);
        if p.is_file() {
            std::fs::copy(&p, out.join(f))
                .with_context(|| format!("cannot copy {}", p.display()))?;
        }
    }
    Ok(())
}

/// The store type of `--dtype`.
pub fn store_dtype(d: DtypeArg) -> StoreDtype {
    match d {
        DtypeArg::F32 => StoreDtype::F32,
        DtypeArg::Bf16 => StoreDtype::Bf16,
    }
}

/// Runs `lowbit export`.
pub fn run(a: ExportArgs) -> Result<()> {
    if a.out.join("config.json").is_file() && !a.force {
        bail!(
            "{} already holds a checkpoint; add --force to overwrite it",
            a.out.display()
        );
    }
    if a.format == ExportFormat::Hf && a.calib.calib_text.is_some() {
        bail!(
            "--calib-text calibrates the activation scales of a compressed-tensors W4A4 export; \
             --format hf stores no activation scales: drop --calib-text"
        );
    }
    let device = lowbit_train::device::parse_device("cpu")?;
    let loaded = load_dir(&a.checkpoint, &device)
        .with_context(|| format!("cannot load checkpoint {}", a.checkpoint.display()))?;
    match a.format {
        ExportFormat::Hf => {
            if !a.drop_input_quant
                && let Some(l) = loaded
                    .model
                    .linears()
                    .into_iter()
                    .find(|l| l.input_format.is_some())
            {
                bail!(
                    "{} quantizes its input online ({}); a dense HF model cannot; add \
                     --drop-input-quant to export the weights alone",
                    l.name,
                    l.input_format
                        .as_ref()
                        .map(|f| f.name())
                        .unwrap_or_default()
                );
            }
            let model = loaded.model.dequantized()?;
            let mut cfg = loaded.config.clone();
            cfg.compression = lowbit_nn::llama::CompressionPolicy::new();
            let opts = SaveOptions {
                dtype: store_dtype(a.dtype),
                special: loaded.special.clone(),
            };
            save_dir_with(&model, &cfg, &a.out, &opts)?;
        }
        ExportFormat::CompressedTensors => {
            let scales = match (
                &a.calib.calib_text,
                crate::export_ct::quantizes_inputs(&loaded),
            ) {
                (Some(text), true) => {
                    let Some(tk) = loaded.tokenizer.as_ref() else {
                        bail!(
                            "{} has no tokenizer.json; calibrating the W4A4 activation scales \
                             on --calib-text needs the model's tokenizer",
                            loaded.dir.display()
                        );
                    };
                    let tokenizer = tokenizers::Tokenizer::from_file(tk).map_err(|e| {
                        anyhow::anyhow!("cannot read tokenizer {}: {e}", tk.display())
                    })?;
                    let ids = crate::compress::calib::read_windows(
                        &tokenizer,
                        text,
                        a.calib.calib_samples,
                        a.calib.calib_seq_len,
                    )?;
                    Some(crate::export_calib::input_global_scales(
                        &loaded.model,
                        &ids,
                        a.calib.calib_seq_len,
                        &device,
                    )?)
                }
                (Some(_), false) => {
                    eprintln!(
                        "note: no linear quantizes its input online; --calib-text is not used \
                         (the export is weight-only)"
                    );
                    None
                }
                (None, _) => None,
            };
            crate::export_ct::export(&loaded, &a.out, store_dtype(a.dtype), scales.as_ref())?;
        }
    }
    copy_side_files(&loaded.dir, &a.out)?;
    println!(
        "exported {} as {:?} to {}",
        loaded.dir.display(),
        a.format,
        a.out.display()
    );
    Ok(())
}
