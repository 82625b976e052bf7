//! Golden vectors from the independent NumPy + ml_dtypes oracle (`tools/gen_golden.py`, which
//! writes `tests/golden/*.json`): every cast boundary and tie, and block encodings (codes,
//! packed bytes, scale bytes, tensor scale, dequantized values) compared bit for bit.

use lowbit_formats::elem::e2m1::{e2m1_to_f32, f32_to_e2m1, f32_to_e2m1_reference};
use lowbit_formats::elem::e4m3::{e4m3_to_f32, f32_to_e4m3, f32_to_e4m3_reference};
use lowbit_formats::elem::e8m0::{MxRounding, exponent_to_byte, shared_exponent};
use lowbit_formats::{Format, pack};
use serde_json::Value;
use std::path::PathBuf;

fn golden(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/golden")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).expect("golden file is JSON")
}

fn pairs(v: &Value) -> Vec<(u32, u32)> {
    v.as_array()
        .expect("array of pairs")
        .iter()
        .map(|p| (p[0].as_u64().unwrap() as u32, p[1].as_u64().unwrap() as u32))
        .collect()
}

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn u8s(v: &Value) -> Vec<u8> {
    u32s(v).into_iter().map(|x| x as u8).collect()
}

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

/// The oracle's file names → lowbit format names.
const BLOCK_FILES: [(&str, &str); 10] = [
    ("nvfp4.json", "nvfp4"),
    ("mxfp4.json", "mxfp4"),
    ("mxfp4-rceil.json", "mxfp4-rceil"),
    ("mxfp4-even.json", "mxfp4-even"),
    ("int4.json", "int4"),
    ("int4-asym.json", "int4:asym"),
    ("int8.json", "int8"),
    ("nf4.json", "nf4"),
    ("po2-nf4.json", "po2-nf4"),
    ("split87.json", "split87"),
];

#[test]
fn block_encodings_match_the_oracle() {
    let mut checked = 0;
    for (file, name) in BLOCK_FILES {
        let g = golden(file);
        let f = Format::parse(name).unwrap();
        for case in g["cases"].as_array().expect("cases") {
            let label = format!("{name} / {}", case["name"].as_str().unwrap_or("?"));
            let cols = case["cols"].as_u64().unwrap() as usize;
            let x: Vec<f32> = u32s(&case["x"]).into_iter().map(f32::from_bits).collect();
            for (path, e) in [
                ("fast", f.encode(&x, cols).unwrap()),
                ("reference", f.encode_reference(&x, cols).unwrap()),
            ] {
                let bits = f.code_bits().unwrap();
                let codes = pack::unpack(&e.codes, bits, x.len()).unwrap();
                assert_eq!(codes, u8s(&case["codes"]), "{label} ({path}): codes");
                assert_eq!(
                    e.codes,
                    u8s(&case["packed"]),
                    "{label} ({path}): packed bytes"
                );
                assert_eq!(
                    e.scales,
                    u8s(&case["scales"]),
                    "{label} ({path}): scale bytes"
                );
                match case["tensor_scale"].as_u64() {
                    Some(ts) => assert_eq!(
                        e.tensor_scale.map(f32::to_bits),
                        Some(ts as u32),
                        "{label}: tensor scale"
                    ),
                    None => assert_eq!(e.tensor_scale, None, "{label}: tensor scale"),
                }
                let want = u32s(&case["dequant"]);
                let got: Vec<u32> = f.decode(&e).unwrap().iter().map(|v| v.to_bits()).collect();
                assert_eq!(got, want, "{label} ({path}): dequantized values");
            }
            let mut y = x.clone();
            f.fake_quant(&mut y, cols).unwrap();
            let got: Vec<u32> = y.iter().map(|v| v.to_bits()).collect();
            assert_eq!(got, u32s(&case["dequant"]), "{label}: fake_quant");
            checked += 1;
        }
    }
    assert!(checked >= 100, "only {checked} golden cases");
}
