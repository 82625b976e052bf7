//! Run data: one [`Point`] per (run, checkpoint), loaded from CSV or JSON lines.
//!
//! # Schema
//! A header line naming the columns, in any order; extra columns are ignored.
//!
//! | column | required | meaning |
//! |---|---|---|
//! | `run` | yes | run id; the bootstrap resamples runs, so points of one run stay together |
//! | `format` | yes | representation name; `bf16` is the reference (ρ = 1) of the unified law |
//! | `n_params` | yes | non-embedding parameter count N (> 0) |
//! | `tokens` | yes | training tokens D seen at this point (> 0) |
//! | `loss` | yes | validation loss in nats per token (> 0) |
//! | `weight_format` | no | format of the weights (metadata) |
//! | `act_format` | no | format of the activations (metadata) |
//! | `sparsity` | no | fraction of zeroed weights, in [0, 1) (metadata) |
//! | `gmse` | no | the format's Gaussian MSE, in (0, 1); required by `rho = capacity` |
//!
//! JSON lines (`.jsonl`, `.ndjson`, `.json`) carry the same keys, one object per line.

use crate::error::{Result, ScalingError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One measured loss of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Run id (resampling unit of the bootstrap).
    pub run: String,
    /// Representation name, e.g. `bf16`, `nvfp4`, `mxfp4`.
    pub format: String,
    /// Non-embedding parameter count N.
    pub n_params: f64,
    /// Training tokens D.
    pub tokens: f64,
    /// Validation loss (nats per token).
    pub loss: f64,
    /// Format of the weights, if recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_format: Option<String>,
    /// Format of the activations, if recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act_format: Option<String>,
    /// Fraction of zeroed weights, if recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparsity: Option<f64>,
    /// Gaussian MSE of the format (input of the capacity link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gmse: Option<f64>,
}

/// Required columns, in the order the schema lists them.
pub const REQUIRED_COLUMNS: [&str; 5] = ["run", "format", "n_params", "tokens", "loss"];
/// Optional columns.
pub const OPTIONAL_COLUMNS: [&str; 4] = ["weight_format", "act_format", "sparsity", "gmse"];

/// Raw text of one record, before validation (`None` = column absent or cell empty).
struct RawRecord {
    fields: [Option<String>; 9],
}

/// Loads points from a CSV file, or from JSON lines if the extension is `.jsonl`, `.ndjson` or
/// `.json`. Every value is validated; errors name the file, the line and the fix.
pub fn load_points(path: &Path) -> Result<Vec<Point>> {
    let is_json = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("jsonl" | "ndjson" | "json")
    );
    let text = std::fs::read_to_string(path).map_err(|source| ScalingError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let raw = if is_json {
        parse_json_lines(path, &text)?
    } else {
        parse_csv(path, &text)?
    };
    let points = raw
        .into_iter()
        .map(|(line, r)| validate(path, line, r))
        .collect::<Result<Vec<_>>>()?;
    if points.is_empty() {
        return Err(ScalingError::data(format!(
            "{}: no data rows; add one line per (run, checkpoint) below the header",
            path.display()
        )));
    }
    Ok(points)
}

/// Writes points as CSV with every schema column (empty cells for absent optional values).
pub fn write_points_csv(points: &[Point], path: &Path) -> Result<()> {
    let io = |source| ScalingError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut out =
        String::from("run,format,n_params,tokens,loss,weight_format,act_format,sparsity,gmse\n");
    let opt = |v: Option<f64>| v.map(|x| format!("{x:e}")).unwrap_or_default();
    for p in points {
        out.push_str(&format!(
            "{},{},{:e},{:e},{:e},{},{},{},{}\n",
            p.run,
            p.format,
            p.n_params,
            p.tokens,
            p.loss,
            p.weight_format.as_deref().unwrap_or(""),
            p.act_format.as_deref().unwrap_or(""),
            opt(p.sparsity),
            opt(p.gmse)
        ));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(path, out).map_err(io)
}

fn column_names() -> impl Iterator<Item = &'static str> {
    REQUIRED_COLUMNS.into_iter().chain(OPTIONAL_COLUMNS)
}

fn parse_csv(path: &Path, text: &str) -> Result<Vec<(u64, RawRecord)>> {
    let syntax = |e: csv::Error| ScalingError::Syntax {
        path: path.to_path_buf(),
        line: e.position().map_or(1, |p| p.line()),
        message: format!("{e}; every line needs as many comma-separated fields as the header"),
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader.headers().map_err(syntax)?.clone();
    let mut index = [None; 9];
    for (slot, name) in index.iter_mut().zip(column_names()) {
        *slot = header.iter().position(|h| h == name);
    }
    for (slot, name) in index.iter().zip(REQUIRED_COLUMNS) {
        if slot.is_none() {
            return Err(ScalingError::MissingColumn {
                path: path.to_path_buf(),
                column: name,
            });
        }
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(syntax)?;
        let line = record.position().map_or(0, |p| p.line());
        let fields = index.map(|i| {
            i.and_then(|i| record.get(i))
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        });
        rows.push((line, RawRecord { fields }));
    }
    Ok(rows)
}

fn parse_json_lines(path: &Path, text: &str) -> Result<Vec<(u64, RawRecord)>> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let syntax = |message: String| ScalingError::Syntax {
            path: path.to_path_buf(),
            line: line_no,
            message,
        };
        let value: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| syntax(format!("{e}; write one JSON object per line")))?;
        let obj = value.as_object().ok_or_else(|| {
            syntax("expected a JSON object with keys run, format, n_params, tokens, loss".into())
        })?;
        let mut fields: [Option<String>; 9] = Default::default();
        for (slot, name) in fields.iter_mut().zip(column_names()) {
            *slot = match obj.get(name) {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(s)) if s.trim().is_empty() => None,
                Some(serde_json::Value::String(s)) => Some(s.trim().to_owned()),
                Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                Some(other) => {
                    return Err(syntax(format!(
                        "key `{name}` holds {other}; use a string or a number"
                    )));
                }
            };
        }
        for (slot, name) in fields.iter().zip(REQUIRED_COLUMNS) {
            if slot.is_none() {
                return Err(syntax(format!(
                    "missing key `{name}`; every line needs run, format, n_params, tokens, loss"
                )));
            }
        }
        rows.push((line_no, RawRecord { fields }));
    }
    Ok(rows)
}

fn validate(path: &Path, line: u64, raw: RawRecord) -> Result<Point> {
    let [
        run,
        format,
        n,
        d,
        loss,
        weight_format,
        act_format,
        sparsity,
        gmse,
    ] = raw.fields;
    let bad = |field, value: &str, problem, fix| ScalingError::BadValue {
        path: PathBuf::from(path),
        line,
        field,
        value: value.to_owned(),
        problem,
        fix,
    };
    let text = |field: &'static str, v: Option<String>| {
        v.ok_or_else(|| {
            bad(
                field,
                "",
                "is empty",
                "every row needs a run id and a format name",
            )
        })
    };
    let number = |field: &'static str, v: &str| -> Result<f64> {
        let x: f64 = v.parse().map_err(|_| {
            bad(
                field,
                v,
                "is not a number",
                "write a decimal number such as 1.5e9",
            )
        })?;
        if !x.is_finite() {
            return Err(bad(
                field,
                v,
                "is not finite",
                "remove the row or fix the value",
            ));
        }
        Ok(x)
    };
    let positive = |field: &'static str, v: Option<String>| -> Result<f64> {
        let v = v.ok_or_else(|| bad(field, "", "is empty", "fill in a positive number"))?;
        let x = number(field, &v)?;
        if x <= 0.0 {
            return Err(bad(
                field,
                &v,
                "must be > 0",
                "N, D and the loss are positive; fix or drop the row",
            ));
        }
        Ok(x)
    };
    let sparsity = match sparsity {
        None => None,
        Some(v) => {
            let x = number("sparsity", &v)?;
            if !(0.0..1.0).contains(&x) {
                return Err(bad(
                    "sparsity",
                    &v,
                    "must lie in [0, 1)",
                    "give the fraction of zeroed weights",
                ));
            }
            Some(x)
        }
    };
    let gmse = match gmse {
        None => None,
        Some(v) => {
            let x = number("gmse", &v)?;
            if !(x > 0.0 && x < 1.0) {
                return Err(bad(
                    "gmse",
                    &v,
                    "must lie in (0, 1)",
                    "GMSE is the relative MSE on N(0,1) data (e.g. 0.009 for NVFP4)",
                ));
            }
            Some(x)
        }
    };
    Ok(Point {
        run: text("run", run)?,
        format: text("format", format)?,
        n_params: positive("n_params", n)?,
        tokens: positive("tokens", d)?,
        loss: positive("loss", loss)?,
        weight_format,
        act_format,
        sparsity,
        gmse,
    })
}
