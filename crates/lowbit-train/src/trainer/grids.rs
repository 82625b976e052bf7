//! The grid files a run carries: on resume, the checkpoint's copies win over the files the
//! recipe names on disk, so `grids/` changing between two invocations cannot change the model
//! mid-run; a same-named file that differs is reported in the run's warnings.
//!
//! The copies live in the checkpoint's `config.json` (`lowbit_compression.grids`, written from
//! [`LlamaConfig::compression`]); `state.json`'s `grids` records the same texts by family name.

use super::options::Resume;
use crate::checkpoint::CheckpointStore;
use lowbit_formats::gridfile::conflicts;
use lowbit_nn::hf::{CONFIG_FILE, read_config_json, resolve_dir};
use lowbit_nn::llama::LlamaConfig;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The checkpoint a resume will start from, found without verifying it (the resume verifies
/// it next): the named directory, or the run's `LATEST` step, else its newest step. Every
/// checkpoint of a run carries the same grids, so a fallback to an older step agrees.
fn resume_dir(resume: &Resume, run_dir: &Path, store: &CheckpointStore) -> Option<PathBuf> {
    match resume {
        Resume::Never => None,
        Resume::From(dir) => Some(dir.clone()),
        Resume::Auto => resolve_dir(run_dir)
            .ok()
            .or_else(|| store.list().pop().map(|(_, d)| d)),
    }
}

/// `cfg` (built from the recipe) with the grids of the checkpoint `resume` starts from: the
/// checkpoint's copies first, then any family only the recipe uses (a recipe change allowed on
/// resume). A fresh run, an unreadable checkpoint (the resume reports it) or one written before
/// grids were carried (it records `grid_files` paths: they are read from disk, as before) keeps
/// `cfg`. Each recipe grid that shares a name with a carried one but has other levels adds a
/// warning naming both.
pub fn resumed_config(
    mut cfg: LlamaConfig,
    resume: &Resume,
    run_dir: &Path,
    store: &CheckpointStore,
    warnings: &mut Vec<String>,
) -> LlamaConfig {
    let Some(dir) = resume_dir(resume, run_dir, store) else {
        return cfg;
    };
    let Ok((stored, _)) = read_config_json(&dir.join(CONFIG_FILE)) else {
        return cfg;
    };
    let carried = stored.compression;
    if !carried.grid_files.is_empty() {
        return cfg;
    }
    for c in conflicts(&carried.grids, &cfg.compression.grids) {
        warnings.push(format!("resuming from {}: {c}", dir.display()));
    }
    let names: Vec<String> = carried
        .grids
        .iter()
        .filter_map(|g| g.parse().ok().map(|f| f.name))
        .collect();
    let mut grids = carried.grids;
    for g in std::mem::take(&mut cfg.compression.grids) {
        if g.parse().is_ok_and(|f| !names.contains(&f.name)) {
            grids.push(g);
        }
    }
    cfg.compression.grids = grids;
    cfg
}

/// `state.json`'s record of the grids `cfg` carries: family name → TOML text.
pub fn state_grids(cfg: &LlamaConfig) -> BTreeMap<String, String> {
    cfg.compression
        .grids
        .iter()
        .filter_map(|g| Some((g.parse().ok()?.name, g.toml.clone())))
        .collect()
}
