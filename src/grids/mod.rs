//! `lowbit grids learn|show`: learn a multi-grid family (MPO2, the PO2(NF4) partner) from a
//! checkpoint's real weights and activations, and inspect a grid file. The families and the
//! learning procedure are lowbit's definitions (shared/specs/grids-and-capacity.md), not the
//! Grid Games paper's unpublished ones.
//!
//! This file is the command line (arguments, dispatch, the checkpoint + calibration data both
//! subcommands read); `learn.rs` and `show.rs` run the subcommands, `stats.rs` holds the
//! occupancy and real-block error statistics, `plot.rs` the level plot (through `lowbit-plot`).

mod learn;
mod plot;
mod show;
mod stats;

use anyhow::{Context, Result, anyhow, bail, ensure};
use burn::tensor::Device;
use clap::{Args, Subcommand, ValueEnum};
use lowbit_data::Sampler;
use lowbit_nn::hf::{LoadedModel, load_dir};
use lowbit_optim::grids::{CaptureConfig, Captured, capture};
use lowbit_train::recipe::{load_recipe, parse_recipe_str};
use lowbit_train::trainer::{load_dataset, missing_corpora};
use std::path::{Path, PathBuf};

/// Arguments of `lowbit grids`.
#[derive(Args)]
pub struct GridsArgs {
    #[command(subcommand)]
    cmd: GridsCmd,
}

#[derive(Subcommand)]
enum GridsCmd {
    /// Learn grids by Lloyd alternating minimisation over a checkpoint's weight and activation
    /// blocks (lowbit's definition of MPO2 and of the PO2(NF4) partner).
    Learn(LearnArgs),
    /// Print a grid file's grids, level occupancy and GMSE against nvfp4, mxfp4, nf4, split87
    /// and sfp4 (and real-block error with --real-blocks); optionally plot the levels.
    Show(ShowArgs),
}

/// Which blocks to learn from.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BlocksArg {
    Weights,
    Activations,
    Both,
}

/// Checkpoint and calibration data.
#[derive(Args)]
struct SourceArgs {
    /// Calibration data: a recipe name/path (its data section) or a corpus (name or directory
    /// of *.txt). Default: the checkpoint's own recipe data. Tokenized with the checkpoint's
    /// tokenizer.
    #[arg(long)]
    data: Option<String>,
    /// Validation batches to capture activations on.
    #[arg(long, default_value_t = 8)]
    batches: usize,
    /// Most blocks per layer and kind (weights; activations over all batches).
    #[arg(long, default_value_t = 4096)]
    max_blocks: usize,
    /// Seed of block sampling and of k-means++.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
struct LearnArgs {
    /// Checkpoint: a step directory, or a run directory (its LATEST step).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Family: `mpo2` (all grids learned, grid 0 from E2M1) or `po2-nf4` (NF4·6 frozen,
    /// partner learned).
    #[arg(long)]
    family: String,
    #[command(flatten)]
    src: SourceArgs,
    /// Blocks to learn from.
    #[arg(long, value_enum, default_value_t = BlocksArg::Both)]
    blocks: BlocksArg,
    /// Number of grids K (2 = selector in the E4M3 sign bit; 3–4 also use the mantissa LSB).
    #[arg(long, default_value_t = 2)]
    grids: usize,
    /// Lloyd iteration budget (stops earlier when the relative decrease is below 1e-4).
    #[arg(long, default_value_t = 100)]
    max_iters: usize,
    /// Weigh each weight value by the mean square of its input channel's activations.
    #[arg(long)]
    importance: bool,
    /// Family name written to the file (default: the family; a file named `po2-nf4` in grids/
    /// replaces the built-in placeholder partner).
    #[arg(long)]
    name: Option<String>,
    /// Output grid file (default grids/<family>-learned.toml).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct ShowArgs {
    /// The grid file.
    file: PathBuf,
    /// Also measure occupancy and relative MSE on real blocks of this checkpoint.
    #[arg(long)]
    real_blocks: Option<PathBuf>,
    #[command(flatten)]
    src: SourceArgs,
    /// Gaussian samples for GMSE and occupancy (a multiple of 4096).
    #[arg(long, default_value_t = 1 << 20)]
    samples: usize,
    /// Write PREFIX.png and PREFIX.svg: the grids' levels against E2M1 and NF4.
    #[arg(long)]
    plot: Option<PathBuf>,
}

/// Runs `lowbit grids`.
pub fn run(a: GridsArgs) -> Result<()> {
    match a.cmd {
        GridsCmd::Learn(l) => learn::run_learn(l),
        GridsCmd::Show(s) => show::run_show(s),
    }
}

/// A loaded checkpoint with its calibration batches.
struct Source {
    loaded: LoadedModel,
    batches: Vec<Vec<u32>>,
    seq_len: usize,
    data: String,
}

fn load_source(checkpoint: &Path, a: &SourceArgs, device: &Device) -> Result<Source> {
    ensure!(a.batches > 0, "--batches must be at least 1");
    let loaded = load_dir(checkpoint, device)
        .with_context(|| format!("loading checkpoint {}", checkpoint.display()))?;
    crate::eval_cmd::report_grid_conflicts(&loaded);
    let candidates = [
        loaded.dir.join("recipe.resolved.toml"),
        loaded.dir.join("../recipe.resolved.toml"),
    ];
    let rpath = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
        anyhow!(
            "{} has no recipe.resolved.toml (needed for seq_len, batch size and data); is it a \
             lowbit checkpoint?",
            loaded.dir.display()
        )
    })?;
    let text =
        std::fs::read_to_string(rpath).with_context(|| format!("reading {}", rpath.display()))?;
    let recipe = parse_recipe_str(&text, &rpath.display().to_string())?;
    let mut data = recipe.data.clone();
    if let Some(d) = &a.data {
        let named = Path::new("recipes").join(format!("{d}.toml"));
        if named.is_file() || (d.ends_with(".toml") && Path::new(d).is_file()) {
            data = load_recipe(d, Path::new("recipes"), &[])?.data;
        } else {
            data.corpus = d.clone();
        }
    }
    if let Some(tk) = &loaded.tokenizer {
        data.tokenizer = Some(std::path::absolute(tk)?.display().to_string());
    }
    if let Some((name, path)) = missing_corpora(&data.corpus, Path::new(".")).first() {
        bail!(
            "calibration corpus `{name}`: {} does not exist; run `lowbit data prepare {name}` or \
             pass --data with a recipe or a directory of *.txt files",
            path.display()
        );
    }
    let ds = load_dataset(&data, Path::new("."))?;
    ensure!(
        ds.tokenizer.vocab_size() <= loaded.config.vocab_size,
        "the data's tokenizer has {} tokens, the model only {}",
        ds.tokenizer.vocab_size(),
        loaded.config.vocab_size
    );
    let t = &recipe.train;
    let sampler = Sampler {
        seed: t.seed,
        batch: t.batch_size,
        seq_len: t.seq_len,
    };
    let batches = (0..a.batches)
        .map(|i| sampler.val_batch(&ds.val, i).map(|b| b.inputs))
        .collect::<Result<_, _>>()?;
    Ok(Source {
        loaded,
        batches,
        seq_len: t.seq_len,
        data: data.corpus,
    })
}

fn capture_from(checkpoint: &Path, a: &SourceArgs, block: usize) -> Result<(Source, Captured)> {
    let device = Device::flex();
    let src = load_source(checkpoint, a, &device)?;
    let cfg = CaptureConfig {
        block,
        max_blocks: a.max_blocks,
        seed: a.seed,
    };
    let cap = capture(&src.loaded.model, &src.batches, src.seq_len, &device, &cfg)?;
    Ok((src, cap))
}

fn levels_text(v: &[f32]) -> String {
    let s: Vec<String> = v.iter().map(|x| format!("{x:.3}")).collect();
    format!("[{}]", s.join(", "))
}
