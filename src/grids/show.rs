//! `lowbit grids show`: a grid file's grids, occupancy and GMSE against the reference formats,
//! optionally on a checkpoint's real blocks and as a level plot.

use super::plot::plot_levels;
use super::stats::{Occupancy, REAL_BLOCK, real_rel_mse, with_sentinel};
use super::{ShowArgs, capture_from, levels_text};
use anyhow::{Context, Result, ensure};
use lowbit_formats::gmse::{GMSE_COLS, gaussian_samples, gmse_on};
use lowbit_formats::{Format, GridFile, GridRegistry};
use lowbit_optim::grids::init;

/// Formats every grid file is compared against (`split87` is PO2(Split87)).
const REFERENCES: [&str; 5] = ["nvfp4", "mxfp4", "nf4", "split87", "sfp4"];

pub(super) fn run_show(a: ShowArgs) -> Result<()> {
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
