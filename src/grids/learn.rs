//! `lowbit grids learn`: capture a checkpoint's blocks and learn a grid family from them.

use super::{BlocksArg, LearnArgs, capture_from, levels_text};
use anyhow::{Context, Result, ensure};
use lowbit_formats::gridfile::BUILTIN_GRID_FILES;
use lowbit_optim::grids::{Family, LearnConfig, learn};
use std::path::PathBuf;

pub(super) fn run_learn(a: LearnArgs) -> Result<()> {
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
