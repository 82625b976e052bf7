//! The grid files a checkpoint carries (`lowbit_compression.grids` of `config.json`) against
//! files of the same name on disk.
//!
//! A lowbit checkpoint stores every grid file its formats resolve through by content, and the
//! model is built from those copies only ([`crate::llama::CompressionPolicy::grids`]), so a
//! checkpoint copied to a machine without `grids/` evaluates the same, and a same-named file with
//! other levels cannot silently change the model. What is left is to *tell* the user when such a
//! file is there, since they may expect it to be used: [`grid_conflicts`].

use crate::llama::CompressionPolicy;
use lowbit_formats::GridText;
use lowbit_formats::gridfile::{BUILTIN_GRID_FILES, GridConflict, conflicts};
use std::path::{Path, PathBuf};

/// Prefix of [`GridText::source`] for a built-in family.
const BUILTIN_PREFIX: &str = "<builtin ";

/// Grid files that share a name with one `policy` carries but define other levels: the file
/// each carried copy was read from (resolved against `root`, the working directory of the
/// command), every `root/grids/*.toml`, and, for a carried built-in, this binary's built-in.
/// Unreadable or invalid files are skipped (nothing reads them). Empty for a policy written
/// before grids were carried (it reads its `grid_files` paths, as it always did).
pub fn grid_conflicts(policy: &CompressionPolicy, root: &Path) -> Vec<GridConflict> {
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut others: Vec<GridText> = Vec::new();
    for g in &policy.grids {
        match g.source.strip_prefix(BUILTIN_PREFIX) {
            Some(rest) => {
                let name = rest.trim_end_matches('>');
                if let Some((n, text)) = BUILTIN_GRID_FILES.iter().find(|(n, _)| *n == name) {
                    others.push(GridText {
                        source: format!("this binary's built-in `{n}`"),
                        toml: text.to_string(),
                    });
                }
            }
            None => paths.push(root.join(&g.source)),
        }
    }
    if let Ok(entries) = std::fs::read_dir(root.join("grids")) {
        let mut dir: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        dir.sort();
        paths.extend(dir);
    }
    let mut seen: Vec<PathBuf> = Vec::new();
    for p in paths {
        let key = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        if let Ok(t) = GridText::read(&p) {
            others.push(t);
        }
    }
    conflicts(&policy.grids, &others)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lowbit_formats::GridFile;

    /// `f` as grid-file text recorded as read from `source`.
    fn text(scratch: &Path, source: &str, f: &GridFile) -> GridText {
        let p = scratch.join("scratch.toml");
        f.save(&p).unwrap();
        GridText {
            source: source.into(),
            toml: std::fs::read_to_string(&p).unwrap(),
        }
    }

    /// Halves every level of table grid `i` (still ascending, still valid).
    fn halve(f: &mut GridFile, i: usize) {
        for x in &mut f.grids[i] {
            *x *= 0.5;
        }
    }

    #[test]
    fn a_same_named_file_with_other_levels_is_reported_once_naming_both() {
        let root = tempfile::tempdir().unwrap();
        let grids = root.path().join("grids");
        std::fs::create_dir(&grids).unwrap();
        let mut f = GridFile::builtin("split87").unwrap();
        f.name = "mine".into();
        let scratch = tempfile::tempdir().unwrap();
        let policy =
            CompressionPolicy::new().with_grids(vec![text(scratch.path(), "grids/mine.toml", &f)]);
        // The same levels on disk (another description): nothing to report.
        let mut same = f.clone();
        same.description = Some("re-saved".into());
        same.save(&grids.join("mine.toml")).unwrap();
        assert!(grid_conflicts(&policy, root.path()).is_empty());
        // Other levels under the same name, at the recorded path (also listed in grids/).
        let mut other = f.clone();
        halve(&mut other, 1);
        other.save(&grids.join("mine.toml")).unwrap();
        let c = grid_conflicts(&policy, root.path());
        assert_eq!(c.len(), 1, "{c:?}");
        let msg = c[0].to_string();
        assert!(msg.contains("`mine`"), "{msg}");
        assert!(msg.contains("grids/mine.toml"), "{msg}");
        assert!(c[0].other_source.ends_with("grids/mine.toml"), "{c:?}");
        // A differently named file in grids/ holding the same family is found too.
        other.save(&grids.join("copy.toml")).unwrap();
        assert_eq!(grid_conflicts(&policy, root.path()).len(), 2);
    }

    #[test]
    fn a_carried_builtin_is_compared_with_this_binarys() {
        let root = tempfile::tempdir().unwrap();
        let mut f = GridFile::builtin("sfp4").unwrap();
        let s = root.path();
        let ok = CompressionPolicy::new().with_grids(vec![text(s, "<builtin sfp4>", &f)]);
        assert!(grid_conflicts(&ok, root.path()).is_empty());
        halve(&mut f, 1);
        let changed = CompressionPolicy::new().with_grids(vec![text(s, "<builtin sfp4>", &f)]);
        let c = grid_conflicts(&changed, root.path());
        assert_eq!(c.len(), 1, "{c:?}");
        assert!(c[0].other_source.contains("built-in `sfp4`"), "{c:?}");
    }
}
