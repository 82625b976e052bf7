//! MR-GPTQ against the PyTorch reference fixtures `tests/fixtures/gptq/mr_cases.json` (written
//! by `tools/gptq_reference.py` with `tools/mr_gptq_reference.py`; choices M1–M6 there).
//!
//! Per case: lowbit's rotation of the stored W and H equals the reference's W_rot / H_rot
//! within 1e-6 of their largest magnitude; GPTQ with the MSE search on the stored (W_rot, H_rot)
//! gives the stored codes, g_idx, perm, E4M3/E8M0 scale bytes and tensor scale EXACTLY and Ŵ
//! within 1e-5 absolute (the tolerance of the plain GPTQ fixtures); `mr_gptq` from the original
//! W and H gives the same codes; the original-basis error is the reference's within 1e-4
//! relative and below plain GPTQ's; the coded parts decode to Ŵ bit for bit.

use lowbit_ptq::{
    BlockParams, FormatQuantizer, GptqOptions, MrGptqOptions, ScaleSearch, block_hadamard_rows,
    gptq, mr_gptq, relative_output_error, rotate_hessian,
};
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/gptq")
}

/// A stored tensor as f64 values (every stored dtype converts exactly).
fn tensor(st: &SafeTensors, name: &str) -> Vec<f64> {
    let t = st.tensor(name).unwrap_or_else(|_| panic!("tensor {name}"));
    let d = t.data();
    let le4 = |b: &[u8]| [b[0], b[1], b[2], b[3]];
    match t.dtype() {
        Dtype::F32 => d
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(le4(b)) as f64)
            .collect(),
        Dtype::I32 => d
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes(le4(b)) as f64)
            .collect(),
        Dtype::U8 => d.iter().map(|&b| b as f64).collect(),
        other => panic!("{name}: unexpected dtype {other:?}"),
    }
}

fn f32s(st: &SafeTensors, name: &str) -> Vec<f32> {
    tensor(st, name).into_iter().map(|v| v as f32).collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}

fn max_abs(a: &[f32]) -> f32 {
    a.iter().fold(0f32, |m, v| m.max(v.abs()))
}

#[test]
fn mr_gptq_matches_reference_fixtures() {
    let text = std::fs::read_to_string(dir().join("mr_cases.json")).expect("mr_cases.json");
    let index: Value = serde_json::from_str(&text).expect("mr_cases.json parses");
    let mut checked = 0;
    for case in index["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().unwrap();
        let bytes = std::fs::read(dir().join(case["file"].as_str().unwrap())).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let n = |k: &str| case[k].as_u64().unwrap() as usize;
        let (rows, cols, block) = (n("rows"), n("cols"), n("rotation_block"));
        let (w, h) = (f32s(&st, "W"), f32s(&st, "H"));
        let (w_rot, h_rot) = (f32s(&st, "W_rot"), f32s(&st, "H_rot"));

        // M1: the same rotation.
        let my_w_rot = block_hadamard_rows(&w, rows, cols, block).unwrap();
        let my_h_rot = rotate_hessian(&h, cols, block).unwrap();
        let dw = max_abs_diff(&my_w_rot, &w_rot);
        let dh = max_abs_diff(&my_h_rot, &h_rot);
        assert!(
            dw <= 1e-6 * max_abs(&w_rot),
            "{name}: W_rot differs by {dw}"
        );
        assert!(
            dh <= 1e-6 * max_abs(&h_rot),
            "{name}: H_rot differs by {dh}"
        );

        let search = &case["scale_search"];
        assert_eq!(search["eval"], "decoded");
        let scale_search = ScaleSearch::Mse {
            grid: search["grid"].as_u64().unwrap() as usize,
            norm: search["norm"].as_f64().unwrap(),
            max_shrink: search["max_shrink"].as_f64().unwrap(),
            eval: lowbit_ptq::MseEval::Decoded,
        };
        let opts = GptqOptions {
            block_size: n("blocksize"),
            damp: case["percdamp"].as_f64().unwrap() as f32,
            group_size: Some(n("groupsize")),
            act_order: case["actorder"].as_bool().unwrap(),
            static_groups: case["static_groups"].as_bool().unwrap(),
            ..GptqOptions::default()
        };
        let fmt = case["format"].as_str().unwrap();
        let mut q = FormatQuantizer::parse(fmt)
            .unwrap()
            .with_scale_search(scale_search)
            .unwrap();

        // M2–M5 on the stored rotated inputs: exact codes and scale bytes.
        let r = gptq(&w_rot, rows, cols, &h_rot, &mut q, &opts).unwrap();
        let codes: Vec<i32> = tensor(&st, "codes").iter().map(|&v| v as i32).collect();
        assert_eq!(r.codes, codes, "{name}: codes");
        let g_idx: Vec<u32> = tensor(&st, "g_idx").iter().map(|&v| v as u32).collect();
        assert_eq!(r.g_idx, g_idx, "{name}: g_idx");
        if st.tensor("perm").is_ok() {
            let perm: Vec<usize> = tensor(&st, "perm").iter().map(|&v| v as usize).collect();
            assert_eq!(r.perm, perm, "{name}: perm");
        }
        let key = if st.tensor("scale_e4m3").is_ok() {
            "scale_e4m3"
        } else {
            "scale_e8m0"
        };
        let stored = tensor(&st, key);
        let groups = r.params.len();
        for (k, p) in r.params.iter().enumerate() {
            for (row, bp) in p.0.iter().enumerate() {
                let BlockParams::Grid(gp) = bp else {
                    panic!("{name}: grid params")
                };
                assert_eq!(
                    gp.scale.stored as f64,
                    stored[row * groups + k],
                    "{name}: {key}"
                );
            }
        }
        if st.tensor("tensor_scale").is_ok() {
            assert_eq!(
                q.tensor_scale().dec,
                f32s(&st, "tensor_scale")[0],
                "{name}: tensor scale"
            );
        }
        let w_hat = f32s(&st, "W_hat");
        let d = max_abs_diff(&r.w_hat, &w_hat);
        println!(
            "{name}: codes/scales equal, max |ΔŴ| = {d:e}, |ΔW_rot| = {dw:e}, |ΔH_rot| = {dh:e}"
        );
        assert!(d <= 1e-5, "{name}: max |ΔŴ| = {d}");
        let parts = r.coded_parts(&q).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&parts.decode()), bits(&r.w_hat), "{name}: coded parts");

        // mr_gptq end to end from the original W and H.
        let mut q2 = FormatQuantizer::parse(fmt).unwrap();
        let mo = MrGptqOptions {
            rotation_block: Some(block),
            scale_search,
            gptq: opts.clone(),
        };
        let mr = mr_gptq(&w, rows, cols, &h, &mut q2, &mo).unwrap();
        assert_eq!(mr.rotated.codes, codes, "{name}: mr_gptq codes");
        let e = relative_output_error(&w, &mr.w_hat_original().unwrap(), rows, cols, &h).unwrap();
        let want = case["rel_err_mr_gptq"].as_f64().unwrap();
        assert!(
            (e - want).abs() <= 1e-4 * want,
            "{name}: error {e} vs {want}"
        );
        assert!(
            e < case["rel_err_gptq"].as_f64().unwrap(),
            "{name}: MR-GPTQ beats GPTQ"
        );
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} MR-GPTQ cases");
}
