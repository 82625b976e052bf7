//! GPTQ against the PyTorch reference fixtures of `tests/fixtures/gptq/` (written by
//! `tools/gptq_reference.py`; what each case checks and why the tolerances hold:
//! `tools/README.md`, section "gptq_reference.py").
//!
//! Every case is run with the stored H (not a recomputed one) under each group-source reading
//! it is valid for: its own (`group_source` in cases.json) and lowbit's `current` wherever
//! `codes_differ_from.current` is false. Codes, g_idx, perm, zero points and scale bytes must
//! match exactly, INT scales within 1e-5 relative, Ŵ within 1e-5 absolute.

use lowbit_formats::Format;
use lowbit_ptq::{
    BlockParams, FormatQuantizer, GptqOptions, GptqResult, GroupSource, gptq, hessian,
    relative_output_error, rtn,
};
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/gptq")
}

fn cases() -> Vec<Value> {
    let text = std::fs::read_to_string(dir().join("cases.json")).expect("cases.json");
    let v: Value = serde_json::from_str(&text).expect("cases.json parses");
    v["cases"].as_array().expect("cases").clone()
}

/// A stored tensor as f64 values (every stored dtype converts exactly).
fn tensor(st: &SafeTensors, name: &str) -> Vec<f64> {
    let t = st.tensor(name).unwrap_or_else(|_| panic!("tensor {name}"));
    let d = t.data();
    match t.dtype() {
        Dtype::F32 => d
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
            .collect(),
        Dtype::I32 => d
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
            .collect(),
        Dtype::U8 => d.iter().map(|&b| b as f64).collect(),
        Dtype::I8 => d.iter().map(|&b| b as i8 as f64).collect(),
        other => panic!("{name}: unexpected dtype {other:?}"),
    }
}

fn f32s(st: &SafeTensors, name: &str) -> Vec<f32> {
    tensor(st, name).into_iter().map(|v| v as f32).collect()
}

/// The reference's format name (`int4:asym:block=32`, `nvfp4`, …) as lowbit spells it.
fn lowbit_name(case: &Value) -> String {
    let f = case["format"].as_str().unwrap();
    if let Some(rest) = f.strip_prefix("int") {
        let bits = rest.split(':').next().unwrap();
        let asym = if f.contains("asym") { ",asym" } else { "" };
        format!("int{bits}:block={}{asym}", case["groupsize"])
    } else {
        f.to_string()
    }
}

fn options(case: &Value, source: GroupSource) -> GptqOptions {
    GptqOptions {
        block_size: case["blocksize"].as_u64().unwrap() as usize,
        damp: case["percdamp"].as_f64().unwrap() as f32,
        group_size: Some(case["groupsize"].as_u64().unwrap() as usize),
        act_order: case["actorder"].as_bool().unwrap(),
        static_groups: case["static_groups"].as_bool().unwrap(),
        group_source: source,
    }
}

/// The readings of the group source a case's stored result is valid for.
fn readings(case: &Value) -> Vec<GroupSource> {
    let own = match case["group_source"].as_str().unwrap() {
        "current" => GroupSource::Current,
        _ => GroupSource::Gptq,
    };
    let mut v = vec![own];
    if own == GroupSource::Gptq && case["codes_differ_from"]["current"] == Value::Bool(false) {
        v.push(GroupSource::Current);
    }
    v
}

/// Per-group parameters of a result against the stored ones; returns nothing, panics with the
/// case name on a difference.
fn check_params(name: &str, st: &SafeTensors, r: &GptqResult, q: &FormatQuantizer) {
    let rows = r.rows;
    let groups = r.params.len();
    let stored = |key: &str| -> Vec<f64> { tensor(st, key) };
    for k in 0..groups {
        for row in 0..rows {
            let at = row * groups + k;
            match &r.params[k].0[row] {
                BlockParams::Int(p) => {
                    let s = stored("scale")[at];
                    assert!(
                        (p.s as f64 - s).abs() <= 1e-5 * s.abs(),
                        "{name}: scale[{row},{k}] {} vs {s}",
                        p.s
                    );
                    if st.tensor("zero").is_ok() {
                        assert_eq!(p.z as f64, stored("zero")[at], "{name}: zero[{row},{k}]");
                    }
                }
                BlockParams::Grid(p) => {
                    let key = if st.tensor("scale_e4m3").is_ok() {
                        "scale_e4m3"
                    } else {
                        "scale_e8m0"
                    };
                    assert_eq!(
                        p.scale.stored as f64,
                        stored(key)[at],
                        "{name}: {key}[{row},{k}]"
                    );
                }
            }
        }
    }
    if st.tensor("tensor_scale").is_ok() {
        assert_eq!(
            q.tensor_scale().dec,
            f32s(st, "tensor_scale")[0],
            "{name}: tensor scale"
        );
    }
}

#[test]
fn gptq_matches_reference_fixtures() {
    let mut checked = 0;
    for case in cases() {
        let name = case["name"].as_str().unwrap().to_string();
        let bytes = std::fs::read(dir().join(case["file"].as_str().unwrap())).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let (rows, cols) = (
            case["rows"].as_u64().unwrap() as usize,
            case["cols"].as_u64().unwrap() as usize,
        );
        let w = f32s(&st, "W");
        let h = f32s(&st, "H");
        let fmt = Format::parse(&lowbit_name(&case)).unwrap();

        // RTN = lowbit-formats' fake_quant of W, bit for bit.
        let mut fq = w.clone();
        fmt.fake_quant(&mut fq, cols).unwrap();
        let w_rtn = f32s(&st, "W_rtn");
        assert!(
            fq.iter()
                .zip(&w_rtn)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{name}: RTN"
        );

        for source in readings(&case) {
            let mut q = FormatQuantizer::new(fmt.clone()).unwrap();
            let r = gptq(&w, rows, cols, &h, &mut q, &options(&case, source)).unwrap();
            let tag = format!("{name} ({source:?})");
            let codes: Vec<i32> = tensor(&st, "codes").iter().map(|&v| v as i32).collect();
            assert_eq!(r.codes, codes, "{tag}: codes");
            let g_idx: Vec<u32> = tensor(&st, "g_idx").iter().map(|&v| v as u32).collect();
            assert_eq!(r.g_idx, g_idx, "{tag}: g_idx");
            if st.tensor("perm").is_ok() {
                let perm: Vec<usize> = tensor(&st, "perm").iter().map(|&v| v as usize).collect();
                assert_eq!(r.perm, perm, "{tag}: perm");
            } else {
                assert!(
                    r.perm.iter().enumerate().all(|(i, &p)| i == p),
                    "{tag}: perm"
                );
            }
            check_params(&tag, &st, &r, &q);
            let w_hat = f32s(&st, "W_hat");
            let max_d = r
                .w_hat
                .iter()
                .zip(&w_hat)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            println!("{tag}: codes/params equal, max |ΔŴ| = {max_d:e}");
            assert!(max_d <= 1e-5, "{tag}: max |ΔŴ| = {max_d}");

            for c in case["dead_columns"].as_array().unwrap() {
                let c = c.as_u64().unwrap() as usize;
                assert!(r.dead[c], "{tag}: column {c} dead");
                assert!(
                    (0..rows).all(|row| r.w_hat[row * cols + c].to_bits() == 0),
                    "{tag}: +0"
                );
            }
            let rt = rtn(
                &w,
                rows,
                cols,
                &mut FormatQuantizer::new(fmt.clone()).unwrap(),
            )
            .unwrap();
            assert_eq!(rt.w_hat, fq, "{name}: rtn()");
            if case["hessian"] == "identity" {
                let same = r
                    .w_hat
                    .iter()
                    .zip(&fq)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{tag}: H = I must give fake_quant bit for bit");
            } else {
                let eg = relative_output_error(&w, &r.w_hat, rows, cols, &h).unwrap();
                let er = relative_output_error(&w, &rt.w_hat, rows, cols, &h).unwrap();
                assert!(eg < er, "{tag}: GPTQ {eg} must beat RTN {er}");
                let want = case["rel_err_gptq"].as_f64().unwrap();
                assert!(
                    (eg - want).abs() <= 1e-4 * want,
                    "{tag}: rel err {eg} vs {want}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} case readings checked");
}

/// Cases whose stored result is the official reading and differs under lowbit's `current`
/// (`codes_differ_from.current`): `current` must give other codes (the fixture tells the
/// readings apart), and still beat RTN, keep dead columns at +0 and the tensor scale of the
/// original W.
#[test]
fn current_reading_differs_where_the_fixture_says_so() {
    let mut n = 0;
    for case in cases() {
        if case["codes_differ_from"]["current"] != Value::Bool(true) {
            continue;
        }
        let name = case["name"].as_str().unwrap().to_string();
        let bytes = std::fs::read(dir().join(case["file"].as_str().unwrap())).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let (rows, cols) = (
            case["rows"].as_u64().unwrap() as usize,
            case["cols"].as_u64().unwrap() as usize,
        );
        let (w, h) = (f32s(&st, "W"), f32s(&st, "H"));
        let fmt = Format::parse(&lowbit_name(&case)).unwrap();
        let mut q = FormatQuantizer::new(fmt.clone()).unwrap();
        let r = gptq(
            &w,
            rows,
            cols,
            &h,
            &mut q,
            &options(&case, GroupSource::Current),
        )
        .unwrap();
        let codes: Vec<i32> = tensor(&st, "codes").iter().map(|&v| v as i32).collect();
        assert_ne!(
            r.codes, codes,
            "{name}: current should differ from the gptq reading"
        );
        let rt = rtn(&w, rows, cols, &mut FormatQuantizer::new(fmt).unwrap()).unwrap();
        let eg = relative_output_error(&w, &r.w_hat, rows, cols, &h).unwrap();
        let er = relative_output_error(&w, &rt.w_hat, rows, cols, &h).unwrap();
        println!(
            "{name} (Current): rel err {eg:.6} vs RTN {er:.6}, gptq reading {}",
            case["rel_err_gptq"]
        );
        assert!(eg < er, "{name}: {eg} vs {er}");
        for c in case["dead_columns"].as_array().unwrap() {
            let c = c.as_u64().unwrap() as usize;
            assert!(
                (0..rows).all(|row| r.w_hat[row * cols + c].to_bits() == 0),
                "{name}: +0"
            );
        }
        if st.tensor("tensor_scale").is_ok() {
            assert_eq!(q.tensor_scale().dec, f32s(&st, "tensor_scale")[0], "{name}");
        }
        n += 1;
    }
    assert_eq!(n, 3, "int4-sym-g32, nvfp4, nvfp4-dead");
}

#[test]
fn hessian_matches_reference() {
    let case = cases()
        .into_iter()
        .find(|c| c["x_stored"] == Value::Bool(true))
        .unwrap();
    let bytes = std::fs::read(dir().join(case["file"].as_str().unwrap())).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let cols = case["cols"].as_u64().unwrap() as usize;
    let x = f32s(&st, "X");
    let want = f32s(&st, "H");
    let got = hessian(&x, cols, 64).unwrap();
    let hmax = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    println!("hessian: max |ΔH| = {d:e} = {:e}·max|H|", d / hmax);
    assert!(d <= 1e-6 * hmax, "max |ΔH| {d} vs max |H| {hmax}");
}
