//! Capacity of a representation from its Gaussian MSE (Unified Scaling Laws for Compressed
//! Representations, Panferov et al. 2025, arXiv 2506.01863; lowbit's link, specs
//! `grids-and-capacity.md` "Capacity and the unified scaling law"):
//!
//! b_eff(R) = −½·log2 GMSE(R)  (Gaussian rate–distortion),
//! ρ(R) = L·tanh(F·b_eff(R)^C),  ρ(bf16) = 1 by definition.
//!
//! The link's constants are fitted jointly with the law in `rho = capacity` mode
//! ([`crate::RhoMode::Capacity`]); [`CapacityLink::PLACEHOLDER`] is our own fit to QuEST's
//! precision efficiencies (formats-and-scaling.md §7.4) and only a starting point.

use crate::error::{Result, ScalingError};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The capacity link ρ = L·tanh(F·b^C).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CapacityLink {
    /// L: the asymptotic ρ of a lossless representation.
    pub scale: f64,
    /// F: how fast ρ saturates with effective bits.
    pub rate: f64,
    /// C: the curvature in effective bits.
    pub exponent: f64,
}

impl CapacityLink {
    /// L=1.0155, F=0.06752, C=2.1232: our fit to QuEST eff/GMSE pairs (spec §7.4), a placeholder.
    pub const PLACEHOLDER: Self = Self {
        scale: 1.0155,
        rate: 0.06752,
        exponent: 2.1232,
    };

    /// ρ at `b_eff` effective bits (b_eff > 0).
    pub fn rho(&self, b_eff: f64) -> f64 {
        self.scale * (self.rate * b_eff.powf(self.exponent)).tanh()
    }

    /// ρ of a representation with Gaussian MSE `gmse` (in (0, 1)).
    pub fn rho_from_gmse(&self, gmse: f64) -> f64 {
        self.rho(effective_bits(gmse))
    }

    /// dρ/db at `b_eff`.
    pub fn drho_dbits(&self, b_eff: f64) -> f64 {
        let u = self.rate * b_eff.powf(self.exponent);
        let sech = 1.0 / u.cosh();
        self.scale * sech * sech * self.rate * self.exponent * b_eff.powf(self.exponent - 1.0)
    }
}

/// Effective bits −½·log2(gmse).
pub fn effective_bits(gmse: f64) -> f64 {
    -0.5 * gmse.log2()
}

/// A representation's measured Gaussian MSE (as `lowbit formats report` prints it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormatGmse {
    /// Representation name.
    pub format: String,
    /// Gaussian MSE, in (0, 1).
    pub gmse: f64,
    /// Standard error of `gmse` (0 if unknown).
    pub gmse_se: f64,
}

/// Capacity of one representation under a link, with delta-method standard errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityRow {
    /// Representation name.
    pub format: String,
    /// Gaussian MSE.
    pub gmse: f64,
    /// Its standard error.
    pub gmse_se: f64,
    /// Effective bits −½·log2 GMSE.
    pub effective_bits: f64,
    /// Standard error of the effective bits, se/(2·ln2·GMSE).
    pub effective_bits_se: f64,
    /// ρ under the link.
    pub rho: f64,
    /// Standard error of ρ from the GMSE's (the link taken as exact).
    pub rho_se: f64,
}

/// b_eff and ρ (with standard errors propagated from the GMSE's) of every representation.
pub fn capacity_table(entries: &[FormatGmse], link: &CapacityLink) -> Result<Vec<CapacityRow>> {
    entries
        .iter()
        .map(|e| {
            if !(e.gmse > 0.0 && e.gmse < 1.0 && e.gmse_se >= 0.0 && e.gmse_se.is_finite()) {
                return Err(ScalingError::data(format!(
                    "format {}: gmse {} ± {} out of range; GMSE lies in (0, 1), its SE ≥ 0",
                    e.format, e.gmse, e.gmse_se
                )));
            }
            let b = effective_bits(e.gmse);
            let b_se = e.gmse_se / (2.0 * std::f64::consts::LN_2 * e.gmse);
            Ok(CapacityRow {
                format: e.format.clone(),
                gmse: e.gmse,
                gmse_se: e.gmse_se,
                effective_bits: b,
                effective_bits_se: b_se,
                rho: link.rho(b),
                rho_se: link.drho_dbits(b).abs() * b_se,
            })
        })
        .collect()
}

/// Loads a GMSE table: CSV with columns `format` (or `name`), `gmse` and optionally `gmse_se`,
/// or (extension `.json`) the JSON array printed by `lowbit formats report --json`.
pub fn load_gmse_table(path: &Path) -> Result<Vec<FormatGmse>> {
    let text = std::fs::read_to_string(path).map_err(|source| ScalingError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let json = path.extension().and_then(|e| e.to_str()) == Some("json");
    let rows = if json {
        gmse_from_json(path, &text)?
    } else {
        gmse_from_csv(path, &text)?
    };
    let table = rows
        .into_iter()
        .map(|(line, format, gmse, gmse_se)| {
            let bad = |field, value: f64| ScalingError::BadValue {
                path: path.to_path_buf(),
                line,
                field,
                value: value.to_string(),
                problem: "is out of range",
                fix: "GMSE lies in (0, 1) and its standard error is ≥ 0",
            };
            if !(gmse > 0.0 && gmse < 1.0) {
                return Err(bad("gmse", gmse));
            }
            if !(gmse_se >= 0.0 && gmse_se.is_finite()) {
                return Err(bad("gmse_se", gmse_se));
            }
            Ok(FormatGmse {
                format,
                gmse,
                gmse_se,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if table.is_empty() {
        return Err(ScalingError::data(format!(
            "{}: no rows; add one line per format",
            path.display()
        )));
    }
    Ok(table)
}

type GmseRow = (u64, String, f64, f64);

fn gmse_from_csv(path: &Path, text: &str) -> Result<Vec<GmseRow>> {
    let syntax = |e: csv::Error| ScalingError::Syntax {
        path: path.to_path_buf(),
        line: e.position().map_or(1, |p| p.line()),
        message: e.to_string(),
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader.headers().map_err(syntax)?.clone();
    let col = |names: &[&str]| header.iter().position(|h| names.contains(&h));
    let missing = |column| ScalingError::MissingColumn {
        path: path.to_path_buf(),
        column,
    };
    let name_i = col(&["format", "name"]).ok_or_else(|| missing("format"))?;
    let gmse_i = col(&["gmse"]).ok_or_else(|| missing("gmse"))?;
    let se_i = col(&["gmse_se"]);
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(syntax)?;
        let line = record.position().map_or(0, |p| p.line());
        let num = |i: Option<usize>, field: &'static str| -> Result<f64> {
            let v = i.and_then(|i| record.get(i)).unwrap_or("");
            if v.is_empty() && field == "gmse_se" {
                return Ok(0.0);
            }
            v.parse().map_err(|_| ScalingError::BadValue {
                path: path.to_path_buf(),
                line,
                field,
                value: v.to_owned(),
                problem: "is not a number",
                fix: "write a decimal number such as 0.00904",
            })
        };
        let name = record.get(name_i).unwrap_or("").to_owned();
        rows.push((
            line,
            name,
            num(Some(gmse_i), "gmse")?,
            num(se_i, "gmse_se")?,
        ));
    }
    Ok(rows)
}

fn gmse_from_json(path: &Path, text: &str) -> Result<Vec<GmseRow>> {
    #[derive(Deserialize)]
    struct Entry {
        #[serde(alias = "name")]
        format: String,
        gmse: f64,
        #[serde(default)]
        gmse_se: f64,
    }
    let entries: Vec<Entry> = serde_json::from_str(text).map_err(|e| ScalingError::Syntax {
        path: path.to_path_buf(),
        line: e.line() as u64,
        message: format!("{e}; expected an array of {{\"format\", \"gmse\", \"gmse_se\"}} objects"),
    })?;
    Ok(entries
        .into_iter()
        .map(|e| (0, e.format, e.gmse, e.gmse_se))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_bits_of_quarter_is_one() {
        assert!((effective_bits(0.25) - 1.0).abs() < 1e-15);
        // log4(1/GMSE) in the spec is the same quantity.
        let g: f64 = 0.00904;
        assert!((effective_bits(g) - (1.0 / g).ln() / 4f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn placeholder_link_orders_formats_by_gmse() {
        let l = CapacityLink::PLACEHOLDER;
        let nvfp4 = l.rho_from_gmse(0.00904);
        let mxfp4 = l.rho_from_gmse(0.01321);
        let int8 = l.rho_from_gmse(0.00008);
        assert!(
            int8 > nvfp4 && nvfp4 > mxfp4 && mxfp4 > 0.5,
            "{int8} {nvfp4} {mxfp4}"
        );
        assert!((int8 - 1.0).abs() < 0.03);
    }

    #[test]
    fn table_propagates_standard_errors() {
        let l = CapacityLink::PLACEHOLDER;
        let rows = capacity_table(
            &[FormatGmse {
                format: "nvfp4".into(),
                gmse: 0.00904,
                gmse_se: 1e-5,
            }],
            &l,
        )
        .expect("valid entry");
        let r = &rows[0];
        let h = 1e-7;
        let fd = (l.rho_from_gmse(0.00904 - h) - l.rho_from_gmse(0.00904 + h)) / (2.0 * h);
        assert!(
            (r.rho_se - fd.abs() * 1e-5).abs() < 1e-9,
            "{} vs {}",
            r.rho_se,
            fd * 1e-5
        );
        assert!(
            (r.effective_bits_se - 1e-5 / (2.0 * std::f64::consts::LN_2 * 0.00904)).abs() < 1e-15
        );
        assert!(
            capacity_table(
                &[FormatGmse {
                    format: "x".into(),
                    gmse: 1.5,
                    gmse_se: 0.0
                }],
                &l
            )
            .is_err()
        );
    }
}
