//! Golden vectors from the independent NumPy + ml_dtypes oracle (`tools/gen_golden.py`, which
//! writes `tests/golden/*.json`): every cast boundary and tie, and the block encodings of every
//! quantizing format name (codes, packed bytes, scale bytes, tensor scale, dequantized values)
//! compared bit for bit on the fast and the reference path. Sparsity and compositions:
//! `golden_sparse.rs`.

mod golden_util;

use golden_util::{cases, check_quantizer, format_files, format_of, golden, pairs, registry};
use lowbit_formats::elem::e2m1::{e2m1_to_f32, f32_to_e2m1, f32_to_e2m1_reference};
use lowbit_formats::elem::e4m3::{e4m3_to_f32, f32_to_e4m3, f32_to_e4m3_reference};
use lowbit_formats::elem::e8m0::{MxRounding, exponent_to_byte, shared_exponent};
use lowbit_formats::{Format, spec::BUILTIN_NAMES};

#[test]
fn casts_match_the_oracle() {
    let g = golden("casts.json");
    let e2m1 = pairs(&g["e2m1"]);
    assert!(e2m1.len() > 1000);
    for (xb, code) in e2m1 {
        let x = f32::from_bits(xb);
        assert_eq!(f32_to_e2m1(x) as u32, code, "E2M1 fast, x = {x:e}");
        assert_eq!(
            f32_to_e2m1_reference(x) as u32,
            code,
            "E2M1 reference, x = {x:e}"
        );
    }
    for (xb, byte) in pairs(&g["e4m3"]) {
        let x = f32::from_bits(xb);
        assert_eq!(f32_to_e4m3(x) as u32, byte, "E4M3 fast, x = {x:e}");
        assert_eq!(
            f32_to_e4m3_reference(x) as u32,
            byte,
            "E4M3 reference, x = {x:e}"
        );
    }
    for (key, r) in [
        ("e8m0_floor", MxRounding::Floor),
        ("e8m0_rceil", MxRounding::Rceil),
        ("e8m0_even", MxRounding::Even),
    ] {
        for (ab, byte) in pairs(&g[key]) {
            let a = f32::from_bits(ab);
            assert_eq!(
                exponent_to_byte(shared_exponent(a, 6.0, r)) as u32,
                byte,
                "{key}, amax = {a:e}"
            );
        }
    }
    for (byte, vb) in pairs(&g["e4m3_decode"]) {
        let v = e4m3_to_f32(byte as u8);
        let want = f32::from_bits(vb);
        assert!(
            v.to_bits() == vb || (v.is_nan() && want.is_nan()),
            "E4M3 decode {byte:#x}"
        );
    }
    for (code, vb) in pairs(&g["e2m1_decode"]) {
        assert_eq!(e2m1_to_f32(code as u8).to_bits(), vb, "E2M1 decode {code}");
    }
}

/// Grid, INT and QuEST files: everything but pure sparsity and compositions.
fn is_plain_quantizer(f: &Format) -> bool {
    !matches!(f, Format::Sparse(_) | Format::SparseQuant { .. })
}

#[test]
fn block_encodings_match_the_oracle() {
    let (mut files, mut checked) = (0, 0);
    for file in format_files() {
        let g = golden(&file);
        let f = format_of(&g);
        if !is_plain_quantizer(&f) {
            continue;
        }
        files += 1;
        for c in cases(&g) {
            check_quantizer(&f, &c);
            checked += 1;
        }
    }
    assert!(files >= 40, "only {files} quantizer golden files");
    assert!(checked >= 500, "only {checked} golden cases");
}

/// Other spellings the CLI accepts for a golden file's format: they must parse to a format that
/// reproduces that file's vectors.
const SPELLINGS: [(&str, &str); 7] = [
    ("int4:block=32,asym", "int4-asym.json"),
    ("int4:sym", "int4.json"),
    ("int4:block=32", "int4.json"),
    ("nf4:block=64", "nf4.json"),
    ("nvfp4:scale=e4m3-global", "nvfp4.json"),
    ("nvfp4:select=sae", "nvfp4.json"), // one grid: the criterion has nothing to choose
    ("mxfp4:scale=e8m0,block=32", "mxfp4.json"),
];

#[test]
fn alternative_spellings_match_the_oracle() {
    for (name, file) in SPELLINGS {
        let f = Format::parse_with(name, &registry()).unwrap_or_else(|e| panic!("{name}: {e}"));
        for mut c in cases(&golden(file)) {
            c.label = format!("{name} ({file}) / {}", c.label);
            check_quantizer(&f, &c);
        }
    }
}

/// The format names a golden file exists for.
fn covered() -> Vec<Format> {
    format_files()
        .iter()
        .map(|file| format_of(&golden(file)))
        .collect()
}

#[test]
fn every_format_name_has_golden_vectors() {
    let have = covered();
    let reg = registry();
    let mut names: Vec<String> = BUILTIN_NAMES.iter().map(|s| s.to_string()).collect();
    names.extend(reg.names()); // built-in families and every grids/*.toml
    names.extend((2..=8).map(|b| format!("int{b}")));
    names.extend((1..=8).map(|b| format!("quest-int{b}")));
    names.extend((1..=8).map(|b| format!("quest-int{b}:block=32")));
    names.extend(
        [
            "int4:block=32,asym",
            "nf4:block=128",
            "unstructured:ratio=0.5,per_row",
        ]
        .map(String::from),
    );
    let dir = golden_util::repo_root().join("grids");
    let files = std::fs::read_dir(&dir).expect("grids/").count();
    assert!(reg.names().len() >= files, "every grid file is registered");
    for n in names {
        let f = Format::parse_with(&n, &reg).unwrap_or_else(|e| panic!("{n}: {e}"));
        // INT-b at other block sizes counts: the bit width is what the name selects.
        let found = have.iter().any(|g| {
            *g == f || matches!((g, &f), (Format::Int(a), Format::Int(b)) if a.bits() == b.bits())
        });
        assert!(
            found,
            "no golden vectors for `{n}` (add it to tools/gen_golden.py)"
        );
    }
}
