//! PV-Tuning's update rules against the PyTorch reference fixtures of `tests/fixtures/pv/`
//! (written by `tools/pv_reference.py`, which was checked against the official
//! `ConfigurableAdamW` and `beam_search_optimal_codes`; tolerances: `tools/README.md`, section
//! "pv_reference.py"): the V-steps' selections and codes exactly; the Lamb-Adam direction within
//! 2e-6 · max|p| per step (PyTorch's norm reduction order and its f32 `sqrt` differ by ulps).

use lowbit_formats::{CodedParts, DecodeRule};
use lowbit_optim::pv::{LambConfig, LambState, VqHost, lamb_step, scalar_vstep, vq_vstep};
use safetensors::SafeTensors;
use serde_json::Value;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pv")
}

fn cases(kind: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(dir().join("cases.json")).expect("cases.json");
    let v: Value = serde_json::from_str(&text).expect("cases.json parses");
    let all = v["cases"].as_array().expect("cases").clone();
    let mine: Vec<Value> = all.into_iter().filter(|c| c["kind"] == kind).collect();
    assert!(!mine.is_empty(), "no {kind} cases");
    mine
}

fn bytes(case: &Value) -> Vec<u8> {
    std::fs::read(dir().join(case["file"].as_str().expect("file"))).expect("fixture file")
}

fn f32s(st: &SafeTensors, name: &str) -> Vec<f32> {
    let t = st.tensor(name).unwrap_or_else(|_| panic!("tensor {name}"));
    t.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn i64s(st: &SafeTensors, name: &str) -> Vec<i64> {
    let t = st.tensor(name).unwrap_or_else(|_| panic!("tensor {name}"));
    t.data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn usize_of(c: &Value, k: &str) -> usize {
    c[k].as_u64().unwrap_or_else(|| panic!("{k}")) as usize
}

#[test]
fn lamb_adam_matches_pytorch() {
    for c in cases("lamb") {
        let data = bytes(&c);
        let st = SafeTensors::deserialize(&data).unwrap();
        let (rows, cols, steps) = (
            usize_of(&c, "rows"),
            usize_of(&c, "cols"),
            usize_of(&c, "steps"),
        );
        let n = rows * cols;
        let cfg = LambConfig {
            lr: c["lr"].as_f64().unwrap(),
            beta1: c["beta1"].as_f64().unwrap(),
            beta2: c["beta2"].as_f64().unwrap(),
            eps: c["eps"].as_f64().unwrap(),
        };
        let mut p = f32s(&st, "p0");
        let (grads, want) = (f32s(&st, "grads"), f32s(&st, "p"));
        let mut state = LambState::default();
        for k in 0..steps {
            lamb_step(&mut p, &grads[k * n..(k + 1) * n], &mut state, &cfg);
            let w = &want[k * n..(k + 1) * n];
            let scale = w
                .iter()
                .fold(0f32, |m, v| m.max(v.abs()))
                .max(f32::MIN_POSITIVE);
            let worst = p
                .iter()
                .zip(w)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                worst <= 2e-6 * scale,
                "{} step {k}: max |Δ| {worst:e} vs max|p| {scale:e}",
                c["name"]
            );
            assert_eq!(state.exp_avg.is_some(), cfg.beta1 != 0.0, "{}", c["name"]);
        }
    }
}

#[test]
fn scalar_vstep_matches_pytorch() {
    for c in cases("scalar") {
        let data = bytes(&c);
        let st = SafeTensors::deserialize(&data).unwrap();
        let (rows, cols, block) = (
            usize_of(&c, "rows"),
            usize_of(&c, "cols"),
            usize_of(&c, "block"),
        );
        let bits = usize_of(&c, "bits") as u32;
        let codes: Vec<u8> = i64s(&st, "codes").iter().map(|&v| v as u8).collect();
        let mut parts = CodedParts {
            rows,
            cols,
            block,
            code_bits: bits,
            rule: DecodeRule::ZeroPoint,
            codes,
            tables: vec![(0..1u32 << bits).map(|k| k as f32).collect()],
            table_of_block: vec![0; rows * cols / block],
            scales: f32s(&st, "scale"),
            zeros: f32s(&st, "zero"),
            global: None,
            mask: None,
        };
        let before = parts.codes.clone();
        let target = f32s(&st, "target");
        let (sel, stats) = scalar_vstep(&mut parts, &target, c["tau"].as_f64().unwrap());
        let mut want_sel: Vec<usize> = i64s(&st, "selected").iter().map(|&v| v as usize).collect();
        if c["tau"].as_f64() == Some(1.0) {
            // τ = 1 takes every group unranked (as the official code does).
            want_sel.sort_unstable();
        }
        let want: Vec<u8> = i64s(&st, "new_codes").iter().map(|&v| v as u8).collect();
        assert_eq!(sel, want_sel, "{}: selection", c["name"]);
        assert_eq!(parts.codes, want, "{}: codes", c["name"]);
        let changed = before.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(stats.changed, changed);
        assert_eq!(changed, usize_of(&c, "changed"), "{}", c["name"]);
        assert!(
            changed > 0 && changed < rows * cols,
            "{}: a trivial case",
            c["name"]
        );
    }
}

#[test]
fn vq_vstep_matches_pytorch() {
    for c in cases("vq") {
        let data = bytes(&c);
        let st = SafeTensors::deserialize(&data).unwrap();
        let (rows, cols, group, m) = (
            usize_of(&c, "rows"),
            usize_of(&c, "cols"),
            usize_of(&c, "group"),
            usize_of(&c, "m"),
        );
        let mut w = VqHost {
            rows,
            cols,
            m,
            k: 1 << usize_of(&c, "bits"),
            group,
            codes: i64s(&st, "codes").iter().map(|&v| v as u32).collect(),
            codebooks: f32s(&st, "codebooks"),
            scales: f32s(&st, "scales"),
        };
        let target = f32s(&st, "target");
        let (sel, stats) = vq_vstep(
            &mut w,
            &target,
            c["tau"].as_f64().unwrap(),
            usize_of(&c, "beam"),
        );
        let mut want_sel: Vec<usize> = i64s(&st, "selected").iter().map(|&v| v as usize).collect();
        if c["tau"].as_f64() == Some(1.0) {
            // τ = 1 takes every group unranked (as the official code does).
            want_sel.sort_unstable();
        }
        let want: Vec<u32> = i64s(&st, "new_codes").iter().map(|&v| v as u32).collect();
        assert_eq!(sel, want_sel, "{}: selection", c["name"]);
        assert_eq!(w.codes, want, "{}: codes", c["name"]);
        assert_eq!(stats.changed, usize_of(&c, "changed"), "{}", c["name"]);
        assert!(stats.changed > 0, "{}: a trivial case", c["name"]);
    }
}
