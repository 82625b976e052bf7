//! Grid files (`grids/<name>.toml`): a grid family as data, so that a paper's exact grids or a
//! learned pair drop in without code changes (shared/specs/grids-and-capacity.md "Grid files").
//! The built-in multi-grid families are grid files embedded in the binary.

use crate::FormatError;
use crate::grid::Grid;
use crate::grid_format::{GridFormat, Selection};
use crate::scale::ScaleRule;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The on-disk description of a grid family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridFile {
    /// Format name used on the command line and in recipes (lowercase, no `:` or `+`).
    pub name: String,
    /// Bits per element code (grids have 2^element_bits levels).
    pub element_bits: u32,
    /// Values per block.
    pub block_size: usize,
    /// Scale rule: `e4m3-global` (NVFP4 two-level), `e8m0`, `e8m0-rceil`, `e8m0-even` or `f32`.
    pub scale: String,
    /// Grid selection criterion (`sse` default, or `sae`).
    #[serde(default)]
    pub selection: Option<Selection>,
    /// The grids: each is 2^element_bits ascending levels, except grids listed in
    /// `e2m1_grids`, which hold the 16 E2M1 code values in code order.
    pub grids: Vec<Vec<f32>>,
    /// Indices of grids that are the OCP E2M1 element type (RNE casts, −0 kept) rather than
    /// tables; their entry in `grids` must list the 16 E2M1 code values.
    #[serde(default)]
    pub e2m1_grids: Vec<usize>,
    /// One-paragraph description: what the family is and where its values come from.
    #[serde(default)]
    pub description: Option<String>,
    /// Provenance of learned grids (checkpoint, data, block counts).
    #[serde(default)]
    pub learned_from: Option<String>,
    /// Objective per iteration of the learning run that produced the grids.
    #[serde(default)]
    pub objective: Vec<f64>,
}

/// Built-in grid files, embedded at compile time.
pub const BUILTIN_GRID_FILES: [(&str, &str); 3] = [
    ("po2-nf4", include_str!("../../../grids/po2-nf4.toml")),
    ("split87", include_str!("../../../grids/split87.toml")),
    ("sfp4", include_str!("../../../grids/sfp4.toml")),
];

impl GridFile {
    /// Parses TOML text; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, FormatError> {
        let f: GridFile = toml::from_str(text).map_err(|e| FormatError::GridFile {
            path: origin.to_string(),
            reason: e.to_string(),
        })?;
        f.to_format_at(origin)?;
        Ok(f)
    }

    /// Loads and validates a grid file.
    pub fn load(path: &Path) -> Result<Self, FormatError> {
        let text = std::fs::read_to_string(path).map_err(|e| FormatError::GridFile {
            path: path.display().to_string(),
            reason: format!("cannot read: {e}"),
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Writes the grid file atomically (temp file + rename).
    pub fn save(&self, path: &Path) -> Result<(), FormatError> {
        let err = |reason: String| FormatError::GridFile {
            path: path.display().to_string(),
            reason,
        };
        let text = toml::to_string_pretty(self).map_err(|e| err(e.to_string()))?;
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text).map_err(|e| err(format!("cannot write: {e}")))?;
        std::fs::rename(&tmp, path).map_err(|e| err(format!("cannot rename: {e}")))
    }

    /// A built-in grid file by name.
    pub fn builtin(name: &str) -> Option<Self> {
        BUILTIN_GRID_FILES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, text)| {
                Self::from_toml(text, &format!("<builtin {n}>"))
                    .expect("built-in grid files are validated by tests")
            })
    }

    /// Builds the format this file describes, with an explicit block size override.
    pub fn to_format_with(
        &self,
        block: Option<usize>,
        scale: Option<ScaleRule>,
        name: String,
    ) -> Result<GridFormat, FormatError> {
        let origin = format!("grid file `{}`", self.name);
        let err = |reason: String| FormatError::GridFile {
            path: origin.clone(),
            reason,
        };
        let rule = match scale {
            Some(s) => s,
            None => ScaleRule::from_name(&self.scale).ok_or_else(|| {
                err(format!(
                    "key `scale`: unknown rule `{}` (use e4m3-global, e8m0, e8m0-rceil, e8m0-even or f32)",
                    self.scale
                ))
            })?,
        };
        let levels = 1usize << self.element_bits;
        let mut grids = Vec::new();
        for (i, g) in self.grids.iter().enumerate() {
            if g.len() != levels {
                return Err(err(format!(
                    "key `grids[{i}]`: {} levels, element_bits = {} needs {levels}",
                    g.len(),
                    self.element_bits
                )));
            }
            if self.e2m1_grids.contains(&i) {
                if g.as_slice() != crate::elem::e2m1::E2M1_VALUES {
                    return Err(err(format!(
                        "key `grids[{i}]` is marked E2M1 but does not list the 16 E2M1 code values"
                    )));
                }
                grids.push(Grid::E2m1);
            } else {
                grids.push(
                    Grid::from_levels(g.clone())
                        .map_err(|e| err(format!("key `grids[{i}]`: {e}")))?,
                );
            }
        }
        GridFormat::new(
            name,
            grids,
            block.unwrap_or(self.block_size),
            rule,
            self.selection.unwrap_or(Selection::Sse),
        )
    }

    fn to_format_at(&self, origin: &str) -> Result<GridFormat, FormatError> {
        self.to_format_with(None, None, self.name.clone())
            .map_err(|e| FormatError::GridFile {
                path: origin.to_string(),
                reason: e.to_string(),
            })
    }

    /// Builds the format with the file's own block size and scale rule.
    pub fn to_format(&self) -> Result<GridFormat, FormatError> {
        self.to_format_at(&self.name)
    }
}

/// Where user grid files are looked up: every `*.toml` in these directories.
#[derive(Debug, Clone, Default)]
pub struct GridRegistry {
    files: Vec<(PathBuf, GridFile)>,
}

impl GridRegistry {
    /// Only the built-in families.
    pub fn builtin() -> Self {
        Self::default()
    }

    /// Loads every `*.toml` grid file in `dir` (missing directory = none).
    pub fn with_dir(mut self, dir: &Path) -> Result<Self, FormatError> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(self);
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for p in paths {
            let f = GridFile::load(&p)?;
            self.files.push((p, f));
        }
        Ok(self)
    }

    /// Adds one grid file.
    pub fn with_file(mut self, path: &Path) -> Result<Self, FormatError> {
        let f = GridFile::load(path)?;
        self.files.push((path.to_path_buf(), f));
        Ok(self)
    }

    /// Looks a family up by name: user files first (so a learned `po2-nf4` replaces the
    /// built-in placeholder partner), then the built-ins.
    pub fn get(&self, name: &str) -> Option<GridFile> {
        self.files
            .iter()
            .find(|(_, f)| f.name == name)
            .map(|(_, f)| f.clone())
            .or_else(|| GridFile::builtin(name))
    }

    /// Names of all grid families available (built-in and loaded).
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = BUILTIN_GRID_FILES
            .iter()
            .map(|(n, _)| n.to_string())
            .collect();
        for (_, f) in &self.files {
            if !v.contains(&f.name) {
                v.push(f.name.clone());
            }
        }
        v
    }
}
