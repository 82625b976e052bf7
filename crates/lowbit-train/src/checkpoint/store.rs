//! The checkpoint store of one run directory.
//!
//! Save: write every file into `.tmp-step-%08d/` and fsync it, write `manifest.json`, fsync the
//! directory, rename it to `step-%08d/`, fsync the run directory, then replace `LATEST` through
//! `LATEST.tmp` + fsync + rename. Only then are checkpoints beyond `keep_last` deleted (oldest
//! first), so a crash at any point leaves the previous complete checkpoint intact.
//!
//! Re-saving a step that already has a directory (the stop checkpoint after a periodic one, a
//! resumed run's final step) never leaves an instant without a complete checkpoint of that step:
//! on Linux the new directory and the old one are swapped in one `renameat2(RENAME_EXCHANGE)`
//! (the old one, now under the temporary name, is deleted after the swap is fsynced). Where the
//! exchange is not available (another OS, a file system without it), the old directory is first
//! renamed aside to `.old-step-%08d/`, the new one renamed in, and the old one deleted; a crash
//! between the two renames leaves the old one aside, which [`CheckpointStore::resume_point`]
//! considers like `step-%08d/` and the next save renames back (or deletes, once the step exists).
//!
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

/// Swaps two directory entries atomically (`renameat2(RENAME_EXCHANGE)`, Linux ≥ 3.15 on file
/// systems that support it).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    Ok(renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE)?)
}

/// No atomic exchange here: the caller renames aside instead.
#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
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

    /// Committed checkpoint directories (`step-%08d/`, by name), oldest first. Nothing is
    /// verified: a directory listed here may have been damaged or copied half since it was
    /// committed, so a caller that loads one verifies it first ([`Manifest::verify`], as
    /// [`CheckpointStore::resume_point`] does). A directory renamed aside by an interrupted
    /// re-save (`.old-step-%08d/`) is not listed.
    pub fn list(&self) -> Vec<(u64, PathBuf)> {
        self.dirs_with_prefix("step-")
    }

    /// Whether the run directory holds any checkpoint, committed or renamed aside by an
    /// interrupted re-save (a fresh run must not start over it).
    pub fn has_checkpoints(&self) -> bool {
        !self.list().is_empty() || !self.dirs_with_prefix(".old-step-").is_empty()
    }

    /// `run_dir/PREFIX<step>` directories, oldest first.
    fn dirs_with_prefix(&self, prefix: &str) -> Vec<(u64, PathBuf)> {
        let Ok(entries) = std::fs::read_dir(&self.run_dir) else {
            return Vec::new();
        };
        let mut v: Vec<(u64, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let step = name.strip_prefix(prefix)?.parse().ok()?;
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
        self.recover()?;
        let name = step_name(step);
        let tmp = self.run_dir.join(format!(".tmp-{name}"));
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
            self.replace_dir(&tmp, &dir, &name)?;
        } else {
            std::fs::rename(&tmp, &dir).map_err(io(&dir))?;
            fsync_dir(&self.run_dir)?;
        }
        let latest_tmp = self.run_dir.join("LATEST.tmp");
        write_synced(&latest_tmp, format!("{name}\n").as_bytes())?;
        let latest = self.run_dir.join("LATEST");
        std::fs::rename(&latest_tmp, &latest).map_err(io(&latest))?;
        fsync_dir(&self.run_dir)?;
        self.prune(step)?;
        Ok(dir)
    }

    /// Replaces the complete checkpoint `dir` by the complete `tmp` so that a complete `dir`
    /// exists at every instant (see the module doc), then deletes the old contents.
    fn replace_dir(&self, tmp: &Path, dir: &Path, name: &str) -> Result<(), CheckpointError> {
        if exchange(tmp, dir).is_ok() {
            fsync_dir(&self.run_dir)?;
            return std::fs::remove_dir_all(tmp).map_err(io(tmp)); // the old contents
        }
        let aside = self.run_dir.join(format!(".old-{name}"));
        if aside.exists() {
            std::fs::remove_dir_all(&aside).map_err(io(&aside))?;
        }
        std::fs::rename(dir, &aside).map_err(io(&aside))?;
        fsync_dir(&self.run_dir)?;
        std::fs::rename(tmp, dir).map_err(io(dir))?;
        fsync_dir(&self.run_dir)?;
        std::fs::remove_dir_all(&aside).map_err(io(&aside))
    }

    /// Cleans up after a save that was interrupted: temporary directories are deleted (they
    /// were never committed, or hold the old contents of an exchange), and a directory renamed
    /// aside is deleted when its step exists again or renamed back when it does not.
    fn recover(&self) -> Result<(), CheckpointError> {
        for (_, tmp) in self.dirs_with_prefix(".tmp-step-") {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        for (step, aside) in self.dirs_with_prefix(".old-step-") {
            let dir = self.run_dir.join(step_name(step));
            if dir.exists() {
                std::fs::remove_dir_all(&aside).map_err(io(&aside))?;
            } else {
                std::fs::rename(&aside, &dir).map_err(io(&dir))?;
                fsync_dir(&self.run_dir)?;
            }
        }
        Ok(())
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
        // A directory an interrupted re-save renamed aside stands in for its missing step.
        for (step, aside) in self.dirs_with_prefix(".old-step-") {
            if !candidates.iter().any(|(s, _)| *s == step) {
                candidates.push((step, aside));
            }
        }
        candidates.sort();
        candidates.reverse();
        if let Some(l) = &latest {
            let latest_step = l.strip_prefix("step-").and_then(|n| n.parse::<u64>().ok());
            if let Some(pos) = candidates.iter().position(|(s, _)| Some(*s) == latest_step) {
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
