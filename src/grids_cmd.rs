//! `lowbit grids learn|show`: learn a multi-grid family (MPO2, the PO2(NF4) partner) from a
//! checkpoint's real weights and activations, and inspect a grid file. The families and the
//! learning procedure are lowbit's definitions (shared/specs/grids-and-capacity.md), not the
//! Grid Games paper's unpublished ones.

use anyhow::{Context, Result, anyhow, bail, ensure};
use burn::tensor::Device;
use clap::{Args, Subcommand, ValueEnum};
use lowbit_data::Sampler;
use lowbit_formats::gmse::{GMSE_COLS, gaussian_samples, gmse_on};
use lowbit_formats::gridfile::BUILTIN_GRID_FILES;
use lowbit_formats::{Format, GridFile, GridFormat, GridRegistry, pack};
use lowbit_nn::hf::{LoadedModel, load_dir};
use lowbit_optim::grids::{
    CaptureConfig, Captured, Family, LearnConfig, TensorBlocks, capture, init, learn,
};
use lowbit_train::recipe::{load_recipe, parse_recipe_str};
use lowbit_train::trainer::{load_dataset, missing_corpora};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Formats every grid file is compared against (`split87` is PO2(Split87)).
const REFERENCES: [&str; 5] = ["nvfp4", "mxfp4", "nf4", "split87", "sfp4"];
/// Point colours of the level plot (readable on white).
const COLORS: [RGBColor; 6] = [
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];
/// Block length of real blocks in `show`: a multiple of every reference format's block.
const REAL_BLOCK: usize = 64;

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
        GridsCmd::Learn(l) => run_learn(l),
        GridsCmd::Show(s) => run_show(s),
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

fn run_learn(a: LearnArgs) -> Result<()> {
    let family: Family = a.family.parse()?;
    let name = a.name.clone().unwrap_or_else(|| family.name().to_string());
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("grids/{}-learned.toml", family.name())));
    let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned());
    if let Some(s) = stem.filter(|s| BUILTIN_GRID_FILES.iter().any(|(n, _)| n == s)) {
        ensure!(
            out.parent().and_then(|p| p.file_name()) != Some("grids".as_ref()),
            "--out {} would overwrite the source of the built-in `{s}` grid file; pick another \
             file name (the family name inside is set by --name)",
            out.display()
        );
    }
    let mut cfg = LearnConfig::family(family, a.grids);
    cfg.seed = a.src.seed;
    cfg.max_iters = a.max_iters;
    let (src, cap) = capture_from(&a.checkpoint, &a.src, 16)?;
    let (w, x) = match a.blocks {
        BlocksArg::Weights => (true, false),
        BlocksArg::Activations => (false, true),
        BlocksArg::Both => (true, true),
    };
    let set = cap.block_set(w, x, a.importance)?;
    let (nw, na) = cap.counts();
    let (nw, na) = (if w { nw } else { 0 }, if x { na } else { 0 });
    eprintln!(
        "learning {} ({} grids) from {nw} weight + {na} activation blocks of {} layers …",
        family.name(),
        a.grids,
        cap.layers()
    );
    let l = learn(&set, &cfg)?;
    let kinds = match a.blocks {
        BlocksArg::Weights => "weights",
        BlocksArg::Activations => "activations",
        BlocksArg::Both => "weights + activations",
    };
    let provenance = format!(
        "{} ({kinds}: {nw} weight + {na} activation blocks of 16 from {} layers, {} used; data \
         {}, {} validation batches; seed {}{}; {} Lloyd iterations{})",
        src.loaded.dir.display(),
        cap.layers(),
        l.blocks,
        src.data,
        cap.batches,
        a.src.seed,
        if a.importance {
            ", importance-weighted"
        } else {
            ""
        },
        l.iterations,
        if l.converged { ", converged" } else { "" },
    );
    let description = match family {
        Family::Mpo2 => format!(
            "MPO2 (lowbit's definition): {} grids learned jointly by Lloyd alternating \
             minimisation over NVFP4-normalised real blocks; grid 0 started at E2M1, the others at \
             k-means++ seeds on the worst-fit blocks; selector in the E4M3 scale bits",
            a.grids
        ),
        Family::Po2Nf4 => "PO2(NF4) (lowbit's definition): NF4*6 (frozen) | partner learned by \
                           Lloyd alternating minimisation over NVFP4-normalised real blocks, \
                           started at k-means++ seeds on the blocks NF4 fits worst"
            .to_string(),
    };
    let file = l.to_grid_file(&name, description, provenance)?;
    if let Some(dir) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    file.save(&out)?;
    let obj = &l.objective;
    println!(
        "learned {name}: {} iterations{}, objective {:.6e} -> {:.6e} ({} renormalised)",
        l.iterations,
        if l.converged { " (converged)" } else { "" },
        obj[0],
        obj[obj.len() - 1],
        l.renormalised
    );
    for (k, (g, s)) in l.grids.iter().zip(&l.grid_share).enumerate() {
        println!("grid {k} ({:.1}% of blocks): {}", 100.0 * s, levels_text(g));
    }
    println!("wrote {}", out.display());
    Ok(())
}

fn levels_text(v: &[f32]) -> String {
    let s: Vec<String> = v.iter().map(|x| format!("{x:.3}")).collect();
    format!("[{}]", s.join(", "))
}

/// Blocks per grid and values per (grid, code).
struct Occupancy {
    blocks: Vec<u64>,
    codes: Vec<Vec<u64>>,
}

impl Occupancy {
    fn new(g: &GridFormat) -> Self {
        let n = g.grids().len();
        let l = 1usize << g.grids()[0].code_bits();
        Self {
            blocks: vec![0; n],
            codes: vec![vec![0; l]; n],
        }
    }

    /// Adds `x` (rows of `cols`), skipping its first `skip` values (a sentinel row).
    fn add(&mut self, g: &GridFormat, x: &[f32], cols: usize, skip: usize) -> Result<()> {
        let e = g.encode(x, cols)?;
        let codes = pack::unpack(&e.codes, e.code_bits, e.len())?;
        let b = g.block();
        for (i, &k) in g.selectors(&e).iter().enumerate().skip(skip / b) {
            self.blocks[k] += 1;
            for &c in &codes[i * b..(i + 1) * b] {
                self.codes[k][c as usize] += 1;
            }
        }
        Ok(())
    }

    fn print(&self, g: &GridFormat, on: &str) {
        let total = self.blocks.iter().sum::<u64>().max(1) as f64;
        println!("occupancy on {on}:");
        for (k, grid) in g.grids().iter().enumerate() {
            let n = self.codes[k].iter().sum::<u64>().max(1) as f64;
            let mut lv: Vec<(f32, u64)> = (0..self.codes[k].len())
                .map(|c| (grid.decode(c as u8), self.codes[k][c]))
                .collect();
            lv.sort_by(|a, b| a.0.total_cmp(&b.0));
            let cells: Vec<String> = lv
                .iter()
                .map(|(v, c)| format!("{v:.2}:{:.1}%", 100.0 * *c as f64 / n))
                .collect();
            println!(
                "  grid {k} ({:.1}% of blocks): {}",
                100.0 * self.blocks[k] as f64 / total,
                cells.join(" ")
            );
        }
    }
}

/// A tensor's sampled blocks behind a sentinel row holding the tensor amax, so that a format's
/// tensor-level scale is the one the whole tensor had.
fn with_sentinel(t: &TensorBlocks) -> Vec<f32> {
    let mut x = vec![0f32; REAL_BLOCK];
    x[0] = t.tensor_amax;
    x.extend_from_slice(&t.blocks);
    x
}

/// Σ(x − Q(x))² / Σx² over the groups' blocks (sentinels excluded).
fn real_rel_mse(f: &Format, groups: &[TensorBlocks]) -> Result<f64> {
    let (mut se, mut ss) = (0.0f64, 0.0f64);
    for t in groups {
        let x = with_sentinel(t);
        let mut q = x.clone();
        f.fake_quant(&mut q, REAL_BLOCK)?;
        for (a, b) in x[REAL_BLOCK..].iter().zip(&q[REAL_BLOCK..]) {
            se += (*a as f64 - *b as f64).powi(2);
            ss += *a as f64 * *a as f64;
        }
    }
    Ok(if ss > 0.0 { se / ss } else { f64::NAN })
}

fn run_show(a: ShowArgs) -> Result<()> {
    let file = GridFile::load(&a.file)?;
    let gf = file.to_format()?;
    let this = Format::Grid(gf.clone());
    let cols = GMSE_COLS;
    ensure!(
        a.samples > 0 && a.samples % cols == 0,
        "--samples must be a positive multiple of {cols}"
    );
    println!(
        "grid file {}: `{}`, {} grids x {} levels, block {}, scale {}, {:.3} bits/value",
        a.file.display(),
        file.name,
        gf.grids().len(),
        1usize << file.element_bits,
        file.block_size,
        file.scale,
        gf.bits_per_value()
    );
    if let Some(p) = &file.learned_from {
        println!("learned from {p}");
    }
    if let (Some(first), Some(last)) = (file.objective.first(), file.objective.last()) {
        println!(
            "objective {} iterations: {first:.6e} -> {last:.6e}",
            file.objective.len() - 1
        );
    }
    for (k, g) in gf.grids().iter().enumerate() {
        println!("grid {k}: {}", levels_text(&g.sorted_levels()));
    }
    let x = gaussian_samples(a.samples, a.src.seed);
    let mut occ = Occupancy::new(&gf);
    occ.add(&gf, &x, cols, 0)?;
    occ.print(&gf, &format!("{} N(0,1) samples", a.samples));
    let real = match &a.real_blocks {
        Some(ck) => {
            let (_, cap) = capture_from(ck, &a.src, REAL_BLOCK)?;
            let mut occ = Occupancy::new(&gf);
            for t in cap.weights.iter().chain(&cap.activations) {
                occ.add(&gf, &with_sentinel(t), REAL_BLOCK, REAL_BLOCK)?;
            }
            let (nw, na) = cap.counts();
            occ.print(
                &gf,
                &format!(
                    "real blocks of {} ({nw} weight + {na} activation blocks of {REAL_BLOCK})",
                    ck.display()
                ),
            );
            Some(cap)
        }
        None => None,
    };
    let reg = GridRegistry::builtin();
    let mut rows = vec![(format!("{} (file)", file.name), this)];
    for n in REFERENCES {
        rows.push((n.to_string(), Format::parse_with(n, &reg)?));
    }
    if file.name == "po2-nf4" {
        rows.push(("po2-nf4 (built-in)".into(), Format::parse("po2-nf4")?));
    }
    println!(
        "GMSE on {} N(0,1) samples (seed {}, rows of {cols})",
        a.samples, a.src.seed
    );
    for (label, f) in &rows {
        let g = gmse_on(f, &x, cols).with_context(|| format!("format {label}"))?;
        let r = match &real {
            Some(cap) => format!(
                "  real_rel_mse weights {:.6} activations {:.6}",
                real_rel_mse(f, &cap.weights)?,
                real_rel_mse(f, &cap.activations)?
            ),
            None => String::new(),
        };
        println!(
            "gmse {label:<22} {:.6} ± {:.1e}  eff_bits {:.3}  bits/value {:.3}{r}",
            g.gmse,
            g.se,
            g.effective_bits(),
            f.bits_per_value()
        );
    }
    if let Some(prefix) = &a.plot {
        let mut series = vec![
            (
                "E2M1".to_string(),
                lowbit_formats::Grid::E2m1.sorted_levels(),
            ),
            ("NF4 x 6".to_string(), init::nf4_levels()),
        ];
        for (k, g) in gf.grids().iter().enumerate() {
            series.push((format!("{} grid {k}", file.name), g.sorted_levels()));
        }
        for p in plot_levels(prefix, &series)? {
            println!("wrote {}", p.display());
        }
    }
    Ok(())
}

fn register_fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // A failure only loses the labels.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// Writes PREFIX.png and PREFIX.svg: one row of points per grid.
fn plot_levels(prefix: &Path, series: &[(String, Vec<f32>)]) -> Result<Vec<PathBuf>> {
    register_fonts();
    let path = |ext: &str| {
        let mut p = prefix.as_os_str().to_owned();
        p.push(ext);
        PathBuf::from(p)
    };
    if let Some(dir) = prefix.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let size = (900, 120 + 60 * series.len() as u32);
    let (png, svg) = (path(".png"), path(".svg"));
    draw(BitMapBackend::new(&png, size).into_drawing_area(), series)?;
    draw(SVGBackend::new(&svg, size).into_drawing_area(), series)?;
    Ok(vec![png, svg])
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    series: &[(String, Vec<f32>)],
) -> Result<()> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("plot: {e:?}");
    root.fill(&WHITE).map_err(e)?;
    let n = series.len();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "grid levels (lowbit's definitions; grid max = 6)",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(170)
        .build_cartesian_2d(-6.6f64..6.6f64, -0.5f64..(n as f64 - 0.5))
        .map_err(e)?;
    let label = |y: &f64| {
        let i = y.round();
        if (y - i).abs() > 1e-6 || i < 0.0 || i as usize >= n {
            return String::new();
        }
        series[n - 1 - i as usize].0.clone()
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&label)
        .x_desc("level")
        .draw()
        .map_err(e)?;
    for (i, (_, levels)) in series.iter().enumerate() {
        let y = (n - 1 - i) as f64;
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                [(-6.0, y), (6.0, y)],
                RGBColor(210, 210, 210),
            ))
            .map_err(e)?;
        chart
            .draw_series(
                levels
                    .iter()
                    .map(|&v| Circle::new((v as f64, y), 5, color.filled())),
            )
            .map_err(e)?;
    }
    root.present().map_err(e)?;
    Ok(())
}
