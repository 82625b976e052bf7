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

/// A grid file carried by content: the checkpoint's copy of every grid file its formats
/// resolve through (`config.json` → `lowbit_compression.grids`), so that the model is rebuilt from
/// the levels it was trained with, not from whatever file of that name is on disk later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridText {
    /// Where the text was read from when the run started (`grids/po2-nf4-default.toml`, or
    /// `<builtin sfp4>`); kept to name it in reports, never read again.
    pub source: String,
    /// The grid file's TOML text, verbatim.
    pub toml: String,
}

impl GridText {
    /// Reads the file at `path` (not yet validated; [`GridText::parse`] does that).
    pub fn read(path: &Path) -> Result<Self, FormatError> {
        let toml = std::fs::read_to_string(path).map_err(|e| FormatError::GridFile {
            path: path.display().to_string(),
            reason: format!("cannot read: {e}"),
        })?;
        Ok(Self {
            source: path.display().to_string(),
            toml,
        })
    }

    /// Parses and validates the text; errors name [`GridText::source`].
    pub fn parse(&self) -> Result<GridFile, FormatError> {
        GridFile::from_toml(&self.toml, &self.source)
    }
}

impl GridFile {
    /// Whether `other` defines the same format: name, element bits, block size, scale rule,
    /// selection and every level (bit for bit). Description and provenance are ignored.
    pub fn same_format(&self, other: &GridFile) -> bool {
        let bits = |g: &[Vec<f32>]| -> Vec<Vec<u32>> {
            g.iter()
                .map(|l| l.iter().map(|x| x.to_bits()).collect())
                .collect()
        };
        self.name == other.name
            && self.element_bits == other.element_bits
            && self.block_size == other.block_size
            && self.scale == other.scale
            && self.selection.unwrap_or(Selection::Sse) == other.selection.unwrap_or(Selection::Sse)
            && self.e2m1_grids == other.e2m1_grids
            && bits(&self.grids) == bits(&other.grids)
    }
}

/// Where grid families are looked up: grid files added by content or from disk, in order (the
/// first file of a name wins), then the built-ins.
#[derive(Debug, Clone, Default)]
pub struct GridRegistry {
    files: Vec<(GridText, GridFile)>,
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
            self = self.with_file(&p)?;
        }
        Ok(self)
    }

    /// Adds one grid file.
    pub fn with_file(self, path: &Path) -> Result<Self, FormatError> {
        self.with_text(GridText::read(path)?)
    }

    /// Adds one grid file by content (validated here).
    pub fn with_text(mut self, text: GridText) -> Result<Self, FormatError> {
        let f = text.parse()?;
        self.files.push((text, f));
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

    /// The grid files that the format names in `formats` resolve through, by content: for every
    /// family a name refers to (each `+` component, before its `:` parameters), the file [`get`]
    /// would return — a loaded file, or the built-in's text. A built-in is included too, so that
    /// a checkpoint does not change meaning if a later binary changes it. A loaded file named
    /// like a fixed format (`nvfp4`) is included although parsing never reads it; harmless.
    ///
    /// [`get`]: GridRegistry::get
    pub fn used_by(&self, formats: &[&str]) -> Vec<GridText> {
        let mut out: Vec<GridText> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for f in formats {
            for part in f.split('+') {
                let base = part.split(':').next().unwrap_or(part).trim();
                if seen.iter().any(|s| s == base) {
                    continue;
                }
                seen.push(base.to_string());
                if let Some((t, _)) = self.files.iter().find(|(_, g)| g.name == base) {
                    out.push(t.clone());
                } else if let Some((n, text)) = BUILTIN_GRID_FILES.iter().find(|(n, _)| *n == base)
                {
                    out.push(GridText {
                        source: format!("<builtin {n}>"),
                        toml: text.to_string(),
                    });
                }
            }
        }
        out
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

/// A grid file that has the name of one a checkpoint carries but defines another format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridConflict {
    /// The family name.
    pub name: String,
    /// Where the carried copy was read from when the run started.
    pub stored_source: String,
    /// The other file (on disk now, or the built-in of this binary).
    pub other_source: String,
}

impl std::fmt::Display for GridConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "grid `{}`: {} defines other levels than the checkpoint's copy (read from {} when the \
             run started); the checkpoint's copy is used and {} is ignored (to use it, train or \
             quantize a new model with it)",
            self.name, self.other_source, self.stored_source, self.other_source
        )
    }
}

/// The files among `others` that share a name with a grid in `stored` but define another
/// format (compared with [`GridFile::same_format`]). Texts that do not parse are skipped: they
/// cannot be confused with a valid carried grid, and whoever reads them reports the error.
pub fn conflicts(stored: &[GridText], others: &[GridText]) -> Vec<GridConflict> {
    let mut out = Vec::new();
    for s in stored {
        let Ok(sf) = s.parse() else { continue };
        for o in others {
            if let Ok(of) = o.parse()
                && of.name == sf.name
                && !of.same_format(&sf)
            {
                out.push(GridConflict {
                    name: sf.name.clone(),
                    stored_source: s.source.clone(),
                    other_source: o.source.clone(),
                });
            }
        }
    }
    out
}
