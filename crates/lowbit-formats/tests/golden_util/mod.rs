//! Reading the oracle's golden files (`tests/golden/*.json`, written by `tools/gen_golden.py`;
//! layout in `tools/README.md`). Every f32 is stored as its `u32` bit pattern.
#![allow(dead_code)]

use lowbit_formats::{Format, GridRegistry};
use serde_json::Value;
use std::path::PathBuf;

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Parses one golden file.
pub fn golden(name: &str) -> Value {
    let p = repo_root().join("tests/golden").join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()))
}

/// Every per-format golden file (all but `casts.json`), sorted by file name.
pub fn format_files() -> Vec<String> {
    let dir = repo_root().join("tests/golden");
    let mut v: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && n != "casts.json")
        .collect();
    v.sort();
    v
}

/// The registry the CLI builds: the built-in families plus every grid file in `grids/`.
pub fn registry() -> GridRegistry {
    GridRegistry::builtin()
        .with_dir(&repo_root().join("grids"))
        .expect("grids/ loads")
}

/// The lowbit format a golden file was written for (its `lowbit` key).
pub fn format_of(g: &Value) -> Format {
    let name = g["lowbit"]
        .as_str()
        .expect("golden file has a `lowbit` name");
    Format::parse_with(name, &registry()).unwrap_or_else(|e| panic!("`{name}`: {e}"))
}

pub fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("unsigned integer") as u32)
        .collect()
}

pub fn u8s(v: &Value) -> Vec<u8> {
    u32s(v).into_iter().map(|x| x as u8).collect()
}

pub fn pairs(v: &Value) -> Vec<(u32, u32)> {
    v.as_array()
        .expect("array of pairs")
        .iter()
        .map(|p| (p[0].as_u64().unwrap() as u32, p[1].as_u64().unwrap() as u32))
        .collect()
}

/// One stored case.
pub struct Case {
    pub label: String,
    pub cols: usize,
    pub x: Vec<f32>,
    pub dequant: Vec<u32>,
    pub v: Value,
}

/// The cases of a golden file, labelled `<lowbit name> / <case name>`.
pub fn cases(g: &Value) -> Vec<Case> {
    let name = g["lowbit"].as_str().unwrap_or("?").to_string();
    g["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| Case {
            label: format!("{name} / {}", c["name"].as_str().unwrap_or("?")),
            cols: c["cols"].as_u64().expect("cols") as usize,
            x: u32s(&c["x"]).into_iter().map(f32::from_bits).collect(),
            dequant: u32s(&c["dequant"]),
            v: c.clone(),
        })
        .collect()
}

pub fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Unpacks a golden mask (one bit per value, LSB first).
pub fn mask_of(c: &Case) -> Vec<bool> {
    let m = u8s(&c.v["mask"]);
    (0..c.x.len())
        .map(|i| m[i / 8] >> (i % 8) & 1 == 1)
        .collect()
}

/// Holds a quantizer (grid, INT, QuEST, or the quantizer half of a composition) to a stored case:
/// codes, packed bytes, scale bytes and tensor scale of the fast and the reference encoder, their
/// decodes, and the fast and reference fake quantization, all bit for bit.
pub fn check_quantizer(f: &Format, c: &Case) {
    let label = &c.label;
    let n = c.x.len();
    let code_bits = f
        .code_bits()
        .unwrap_or_else(|| panic!("{label}: not a quantizer"));
    for (path, e) in [
        ("fast", f.encode(&c.x, c.cols)),
        ("reference", f.encode_reference(&c.x, c.cols)),
    ] {
        let e = e.unwrap_or_else(|err| panic!("{label} ({path}): encode: {err}"));
        let codes = lowbit_formats::pack::unpack(&e.codes, code_bits, n)
            .unwrap_or_else(|err| panic!("{label} ({path}): {err}"));
        assert_eq!(codes, u8s(&c.v["codes"]), "{label} ({path}): codes");
        assert_eq!(e.codes, u8s(&c.v["packed"]), "{label} ({path}): packed");
        assert_eq!(e.scales, u8s(&c.v["scales"]), "{label} ({path}): scales");
        let ts = c.v["tensor_scale"].as_u64().map(|b| b as u32);
        assert_eq!(
            e.tensor_scale.map(f32::to_bits),
            ts,
            "{label} ({path}): tensor scale"
        );
        let d = f
            .decode(&e)
            .unwrap_or_else(|err| panic!("{label} ({path}): decode: {err}"));
        assert_eq!(bits(&d), c.dequant, "{label} ({path}): decoded values");
    }
    check_fake_quant(f, c);
}

/// Fast and reference fake quantization against the stored dequantized values.
pub fn check_fake_quant(f: &Format, c: &Case) {
    let mut y = c.x.clone();
    f.fake_quant(&mut y, c.cols)
        .unwrap_or_else(|e| panic!("{}: fake_quant: {e}", c.label));
    assert_eq!(bits(&y), c.dequant, "{}: fake_quant", c.label);
    let mut y = c.x.clone();
    f.fake_quant_reference(&mut y, c.cols)
        .unwrap_or_else(|e| panic!("{}: fake_quant_reference: {e}", c.label));
    assert_eq!(bits(&y), c.dequant, "{}: fake_quant_reference", c.label);
}
