//! Format names: the lowercase identifiers used by the CLI, recipes and reports.
//!
//! Grammar: `[SPARSITY+]BASE[:key=value,flag,...]`, e.g. `nvfp4`, `mxfp4-rceil`,
//! `int4:block=32,asym`, `nf4:block=128`, `2of4+int4`, `unstructured:ratio=0.5,per_row`,
//! `e2m1:block=16,scale=f32`. Multi-grid families (`po2-nf4`, `split87`, `sfp4`, and any
//! grid file such as `mpo2`) come from the [`GridRegistry`].

use crate::elem::e8m0::MxRounding;
use crate::grid::Grid;
use crate::grid_format::{GridFormat, Selection};
use crate::gridfile::GridRegistry;
use crate::int::IntFormat;
use crate::quest::QuestFormat;
use crate::scale::ScaleRule;
use crate::sparse::Sparsity;
use crate::{Format, FormatError};

/// The built-in format names listed by `lowbit formats list`, in display order.
pub const BUILTIN_NAMES: [&str; 18] = [
    "nvfp4",
    "mxfp4",
    "mxfp4-rceil",
    "mxfp4-even",
    "nf4",
    "int4",
    "int4:asym",
    "int8",
    "po2-nf4",
    "split87",
    "sfp4",
    "e2m1:scale=f32",
    "unstructured:ratio=0.5",
    "2of4",
    "pairs4of8",
    "2of4+int4",
    "quest-int4",
    "quest-int2",
];

/// Parsed `key=value` / flag parameters.
struct Params<'a> {
    name: &'a str,
    items: Vec<(&'a str, Option<&'a str>)>,
}

impl<'a> Params<'a> {
    fn parse(name: &'a str, s: Option<&'a str>) -> Self {
        let items = s
            .map(|s| {
                s.split(',')
                    .filter(|p| !p.is_empty())
                    .map(|p| match p.split_once('=') {
                        Some((k, v)) => (k.trim(), Some(v.trim())),
                        None => (p.trim(), None),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self { name, items }
    }

    fn err(&self, reason: String) -> FormatError {
        FormatError::InvalidParameter {
            format: self.name.to_string(),
            reason,
        }
    }

    /// Takes a `key=value` parameter.
    fn value(&mut self, key: &str) -> Option<&'a str> {
        let i = self
            .items
            .iter()
            .position(|(k, v)| *k == key && v.is_some())?;
        self.items.remove(i).1
    }

    fn usize(&mut self, key: &str) -> Result<Option<usize>, FormatError> {
        match self.value(key) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| self.err(format!("`{key}={v}` is not a positive integer"))),
        }
    }

    /// Takes a flag.
    fn flag(&mut self, key: &str) -> bool {
        match self
            .items
            .iter()
            .position(|(k, v)| *k == key && v.is_none())
        {
            Some(i) => {
                self.items.remove(i);
                true
            }
            None => false,
        }
    }

    fn finish(self) -> Result<(), FormatError> {
        match self.items.first() {
            None => Ok(()),
            Some((k, _)) => Err(self.err(format!(
                "unknown parameter `{k}` (valid: block=N, scale=f32|e8m0|e8m0-rceil|e8m0-even|e4m3-global, select=sse|sae, asym, sym, ratio=R, per_row)"
            ))),
        }
    }
}

fn unknown(name: &str, reason: &str, reg: &GridRegistry) -> FormatError {
    let mut known: Vec<String> = BUILTIN_NAMES.iter().map(|s| s.to_string()).collect();
    for n in reg.names() {
        if !known.contains(&n) {
            known.push(n);
        }
    }
    known.push("intN (N = 2..8)".into());
    known.push("quest-intN (N = 1..8)".into());
    known.push("NofM".into());
    FormatError::UnknownFormat {
        name: name.to_string(),
        reason: reason.to_string(),
        known: known.join(", "),
    }
}

impl Format {
    /// Parses a format name using the built-in grid families only.
    pub fn parse(name: &str) -> Result<Format, FormatError> {
        Self::parse_with(name, &GridRegistry::builtin())
    }

    /// Parses a format name, resolving grid families through `reg`.
    pub fn parse_with(name: &str, reg: &GridRegistry) -> Result<Format, FormatError> {
        let name = name.trim();
        if let Some((sp, q)) = name.split_once('+') {
            let sparsity = match Self::parse_with(sp, reg)? {
                Format::Sparse(s) => s,
                _ => {
                    return Err(unknown(
                        name,
                        &format!("`{sp}` before `+` must be a sparsity pattern"),
                        reg,
                    ));
                }
            };
            let quant = Self::parse_with(q, reg)?;
            if !matches!(quant, Format::Grid(_) | Format::Int(_) | Format::Quest(_)) {
                return Err(unknown(
                    name,
                    &format!("`{q}` after `+` must be a quantizer"),
                    reg,
                ));
            }
            return Ok(Format::SparseQuant {
                sparsity,
                quant: Box::new(quant),
            });
        }
        let (base, rest) = match name.split_once(':') {
            Some((b, r)) => (b, Some(r)),
            None => (name, None),
        };
        let mut p = Params::parse(name, rest);
        let canonical = |base: &str, extra: Vec<String>| -> String {
            if extra.is_empty() {
                base.to_string()
            } else {
                format!("{base}:{}", extra.join(","))
            }
        };
        let format = if let Some(bits) = base
            .strip_prefix("quest-int")
            .and_then(|b| b.parse::<u32>().ok())
        {
            Format::Quest(QuestFormat::new(bits, p.usize("block")?)?)
        } else if let Some(bits) = base.strip_prefix("int").and_then(|b| b.parse::<u32>().ok()) {
            let block = p.usize("block")?.unwrap_or(32);
            let asym = p.flag("asym");
            let _ = p.flag("sym");
            Format::Int(IntFormat::new(bits, block, !asym)?)
        } else if let Some((n, m)) = parse_n_of_m(base) {
            let s = Sparsity::NOfM { n, m };
            s.validate()?;
            Format::Sparse(s)
        } else if base == "pairs4of8" {
            Format::Sparse(Sparsity::Pairs4Of8)
        } else if base == "unstructured" {
            let ratio = match p.value("ratio") {
                Some(v) => v
                    .parse::<f64>()
                    .map_err(|_| p.err(format!("`ratio={v}` is not a number")))?,
                None => return Err(p.err("needs `ratio=R` with R in [0, 1)".into())),
            };
            let per_row = p.flag("per_row");
            let s = Sparsity::Unstructured { ratio, per_row };
            s.validate()?;
            Format::Sparse(s)
        } else {
            let block = p.usize("block")?;
            let scale = match p.value("scale") {
                Some(v) => Some(ScaleRule::from_name(v).ok_or_else(|| {
                    p.err(format!(
                        "unknown scale `{v}` (use f32, e8m0, e8m0-rceil, e8m0-even, e4m3-global)"
                    ))
                })?),
                None => None,
            };
            let selection = match p.value("select") {
                None => None,
                Some("sse") => Some(Selection::Sse),
                Some("sae") => Some(Selection::Sae),
                Some(v) => return Err(p.err(format!("unknown selection `{v}` (use sse or sae)"))),
            };
            let (grids, def_block, def_scale, def_sel) = match base {
                "nvfp4" => (vec![Grid::E2m1], 16, ScaleRule::E4m3Global, Selection::Sse),
                "mxfp4" => (
                    vec![Grid::E2m1],
                    32,
                    ScaleRule::E8m0(MxRounding::Floor),
                    Selection::Sse,
                ),
                "mxfp4-rceil" => (
                    vec![Grid::E2m1],
                    32,
                    ScaleRule::E8m0(MxRounding::Rceil),
                    Selection::Sse,
                ),
                "mxfp4-even" => (
                    vec![Grid::E2m1],
                    32,
                    ScaleRule::E8m0(MxRounding::Even),
                    Selection::Sse,
                ),
                "e2m1" => (vec![Grid::E2m1], 16, ScaleRule::F32, Selection::Sse),
                "nf4" => (
                    vec![Grid::from_levels(crate::elem::nf4::NF4_VALUES.to_vec())?],
                    64,
                    ScaleRule::F32,
                    Selection::Sse,
                ),
                other => match reg.get(other) {
                    Some(file) => {
                        let f = file.to_format()?;
                        (f.grids, f.block, f.scale, f.selection)
                    }
                    None => return Err(unknown(name, "no such format or grid file", reg)),
                },
            };
            let mut extra = Vec::new();
            let block = block.unwrap_or(def_block);
            if block != def_block {
                extra.push(format!("block={block}"));
            }
            let scale = scale.unwrap_or(def_scale);
            if scale != def_scale {
                extra.push(format!("scale={}", scale.name()));
            }
            let selection = selection.unwrap_or(def_sel);
            if selection != def_sel {
                extra.push(format!(
                    "select={}",
                    if selection == Selection::Sse {
                        "sse"
                    } else {
                        "sae"
                    }
                ));
            }
            if base == "nf4" && !(16..=4096).contains(&block) {
                return Err(p.err(format!("NF4 needs a block in 16..=4096, got {block}")));
            }
            Format::Grid(GridFormat::new(
                canonical(base, extra),
                grids,
                block,
                scale,
                selection,
            )?)
        };
        p.finish()?;
        Ok(format)
    }
}

/// `2of4` → (2, 4).
fn parse_n_of_m(s: &str) -> Option<(usize, usize)> {
    let (n, m) = s.split_once("of")?;
    Some((n.parse().ok()?, m.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for n in BUILTIN_NAMES.iter().chain(&[
            "int4:block=64,asym",
            "nf4:block=128",
            "nvfp4:scale=f32",
            "int3",
            "quest-int3:block=64",
            "quest-int1",
        ]) {
            let f = Format::parse(n).unwrap();
            assert_eq!(Format::parse(&f.name()).unwrap(), f, "{n}");
        }
        assert_eq!(
            Format::parse("int4:block=32,asym").unwrap().name(),
            "int4:asym"
        );
    }

    #[test]
    fn bad_names_are_explained() {
        for n in [
            "fp5",
            "int9",
            "int4:block=x",
            "int4:foo=1",
            "nf4:block=8",
            "2of4+2of4",
            "unstructured",
            "quest-int0",
            "quest-int9",
            "quest-int4:asym",
        ] {
            let e = Format::parse(n).unwrap_err().to_string();
            assert!(!e.is_empty(), "{n}");
        }
        let e = Format::parse("nvfp5").unwrap_err().to_string();
        assert!(e.contains("nvfp4"), "{e}");
    }
}
