//! The checkpoint store of one run directory.
//!
//! Save: write every file into `.tmp-step-%08d/` and fsync it, write `manifest.json`, fsync the
//! directory, rename it to `step-%08d/`, fsync the run directory, then replace `LATEST` through
//! `LATEST.tmp` + fsync + rename. Only then are checkpoints beyond `keep_last` deleted (oldest
//! first), so a crash at any point leaves the previous complete checkpoint intact.
//! Load: `LATEST` if it verifies; otherwise the newest `step-*` that verifies, with a warning.

use super::manifest::{FileEntry, Manifest, hash_file};
use super::{CheckpointError, io};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Saves and finds checkpoints of one run.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    run_dir: PathBuf,
    keep_last: usize,
}

/// The checkpoint a run resumes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Resumed {
    /// Its step.
    pub step: u64,
    /// Its directory.
    pub dir: PathBuf,
    /// Checkpoints that were skipped because they failed verification, with the reason.
    pub warnings: Vec<String>,
}

fn step_name(step: u64) -> String {
    format!("step-{step:08}")
}

fn fsync_dir(dir: &Path) -> Result<(), CheckpointError> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(io(dir))
}

fn check_name(fname: &str) -> Result<(), CheckpointError> {
    if fname.contains(['/', '\\'])
        || fname == "manifest.json"
        || fname.starts_with('.')
        || fname.is_empty()
    {
        return Err(CheckpointError::BadName(fname.to_string()));
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let mut f = File::create(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

impl CheckpointStore {
    /// A store in `run_dir` keeping the newest `keep_last` (≥ 1) checkpoints.
    pub fn new(run_dir: impl Into<PathBuf>, keep_last: usize) -> Self {
        Self {
            run_dir: run_dir.into(),
            keep_last: keep_last.max(1),
        }
    }

    /// Complete-looking checkpoint directories (`step-*` with a manifest), oldest first.
    pub fn list(&self) -> Vec<(u64, PathBuf)> {
        let Ok(entries) = std::fs::read_dir(&self.run_dir) else {
            return Vec::new();
        };
        let mut v: Vec<(u64, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let step = name.strip_prefix("step-")?.parse().ok()?;
                Some((step, e.path()))
            })
            .collect();
        v.sort();
        v
    }

    /// Writes checkpoint `step` from (file name, bytes) pairs and publishes it as `LATEST`.
    pub fn save(&self, step: u64, files: &[(&str, &[u8])]) -> Result<PathBuf, CheckpointError> {
        self.save_with(step, |tmp| {
            for (fname, bytes) in files {
                check_name(fname)?;
                write_synced(&tmp.join(fname), bytes)?;
            }
            Ok(())
        })
    }

    /// Writes checkpoint `step` through `write`, which creates plain files in the (temporary)
    /// directory it is given; then hashes and fsyncs them, writes the manifest, renames the
    /// directory to `step-%08d/` and publishes it as `LATEST`. An error from `write` leaves no
    /// trace but the temporary directory, which the next save removes.
    pub fn save_with(
        &self,
        step: u64,
        write: impl FnOnce(&Path) -> Result<(), CheckpointError>,
    ) -> Result<PathBuf, CheckpointError> {
        std::fs::create_dir_all(&self.run_dir).map_err(io(&self.run_dir))?;
        let name = step_name(step);
        let tmp = self.run_dir.join(format!(".tmp-{name}"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        std::fs::create_dir(&tmp).map_err(io(&tmp))?;
        write(&tmp)?;
        let mut entries = BTreeMap::new();
        for e in std::fs::read_dir(&tmp).map_err(io(&tmp))? {
            let e = e.map_err(io(&tmp))?;
            let fname = e.file_name().to_string_lossy().into_owned();
            check_name(&fname)?;
            let path = e.path();
            // fsync what the writer produced (it may not have), then hash it.
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io(&path))?;
            let (size, sha256) = hash_file(&path)?;
            entries.insert(fname, FileEntry { size, sha256 });
        }
        let manifest = Manifest {
            version: 1,
            step,
            files: entries,
        };
        let text =
            serde_json::to_string_pretty(&manifest).map_err(|e| CheckpointError::Corrupt {
                path: tmp.clone(),
                reason: e.to_string(),
            })?;
        write_synced(&tmp.join("manifest.json"), text.as_bytes())?;
        fsync_dir(&tmp)?;
        let dir = self.run_dir.join(&name);
        if dir.exists() {
            // Re-saving a step (e.g. the final checkpoint after a resume) replaces it.
            std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        }
        std::fs::rename(&tmp, &dir).map_err(io(&dir))?;
        fsync_dir(&self.run_dir)?;
        let latest_tmp = self.run_dir.join("LATEST.tmp");
        write_synced(&latest_tmp, format!("{name}\n").as_bytes())?;
        let latest = self.run_dir.join("LATEST");
        std::fs::rename(&latest_tmp, &latest).map_err(io(&latest))?;
        fsync_dir(&self.run_dir)?;
        self.prune(step)?;
        Ok(dir)
    }

    /// Deletes the oldest checkpoints beyond `keep_last`, never `keep` itself.
    fn prune(&self, keep: u64) -> Result<(), CheckpointError> {
        let all = self.list();
        if all.len() <= self.keep_last {
            return Ok(());
        }
        for (step, dir) in &all[..all.len() - self.keep_last] {
            if *step != keep {
                std::fs::remove_dir_all(dir).map_err(io(dir))?;
            }
        }
        Ok(())
    }

    /// The checkpoint to resume from: `LATEST` if it verifies, else the newest verifying
    /// `step-*`; `None` for a run without checkpoints; an error when checkpoints exist but none
    /// verifies (so a resume never silently restarts from scratch).
    pub fn resume_point(&self) -> Result<Option<Resumed>, CheckpointError> {
        let mut warnings = Vec::new();
        let latest = std::fs::read_to_string(self.run_dir.join("LATEST"))
            .ok()
            .map(|s| s.trim().to_string());
        let mut candidates: Vec<(u64, PathBuf)> = self.list();
        candidates.reverse();
        if let Some(l) = &latest {
            if let Some(pos) = candidates
                .iter()
                .position(|(_, d)| d.file_name().is_some_and(|n| n == l.as_str()))
            {
                let c = candidates.remove(pos);
                candidates.insert(0, c);
            } else {
                warnings.push(format!("LATEST names {l}, which does not exist"));
            }
        }
        for (step, dir) in candidates {
            match Manifest::verify(&dir) {
                Ok(m) if m.step == step => {
                    return Ok(Some(Resumed {
                        step,
                        dir,
                        warnings,
                    }));
                }
                Ok(m) => warnings.push(format!(
                    "{}: manifest says step {}, skipped",
                    dir.display(),
                    m.step
                )),
                Err(e) => warnings.push(format!("{e}; skipped")),
            }
        }
        if warnings.is_empty() {
            return Ok(None); // a fresh run
        }
        // Checkpoints exist but none is complete: refuse rather than silently start over.
        Err(CheckpointError::Corrupt {
            path: self.run_dir.clone(),
            reason: format!("no complete checkpoint: {}", warnings.join("; ")),
        })
    }

    /// Reads one file of a checkpoint.
    pub fn read(dir: &Path, name: &str) -> Result<Vec<u8>, CheckpointError> {
        let p = dir.join(name);
        std::fs::read(&p).map_err(io(&p))
    }
}
