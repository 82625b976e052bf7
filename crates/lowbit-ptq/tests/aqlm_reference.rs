//! AQLM against the PyTorch reference fixtures of `tests/fixtures/aqlm/` (written by
//! `tools/aqlm_reference.py`; what each case holds and why the tolerances hold:
//! `tools/README.md`, section "aqlm_reference.py"). Every stage is run from the **stored**
//! inputs (XTX too), then the whole loop end to end:
//! decode bit for bit; k-means codes and init ids exactly, scales 1e-6 rel, codebooks 1e-6 abs;
//! every beam-search pass's codes exactly, its objective 1e-6 rel; 100 fresh Adam steps within
//! 2e-5 abs (codebooks) / 3e-5 rel (scales); the calibration loop: epochs and the tolerance
//! stop as recorded, final codes exactly, codebooks/scales 2e-5 abs / 3e-5 rel, objective 1e-5 rel.
//! The Adam and end-to-end checks run with both GEMM precisions of the Adam step (f64 as the
//! reference, f32 the default).

use lowbit_ptq::aqlm::{
    AdamState, AqlmOptions, KmeansInit, VqSpec, VqWeight, adam_steps, aqlm, beam_search, calibrate,
    decode, init_residual_kmeans, objective,
};
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/aqlm")
}

fn cases() -> Vec<Value> {
    let text = std::fs::read_to_string(dir().join("cases.json")).expect("cases.json");
    let v: Value = serde_json::from_str(&text).expect("cases.json parses");
    v["cases"].as_array().expect("cases").clone()
}

fn f32s(st: &SafeTensors, name: &str) -> Vec<f32> {
    let t = st.tensor(name).unwrap_or_else(|_| panic!("tensor {name}"));
    assert_eq!(t.dtype(), Dtype::F32, "{name}");
    t.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn u32s(st: &SafeTensors, name: &str) -> Vec<u32> {
    let t = st.tensor(name).unwrap_or_else(|_| panic!("tensor {name}"));
    assert_eq!(t.dtype(), Dtype::I32, "{name}");
    t.data()
        .chunks_exact(4)
        .map(|b| {
            let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            u32::try_from(v).expect("non-negative code")
        })
        .collect()
}

struct Case {
    name: String,
    meta: Value,
    bytes: Vec<u8>,
}

impl Case {
    fn st(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).expect("safetensors")
    }
    fn n(&self, k: &str) -> usize {
        self.meta[k].as_u64().unwrap() as usize
    }
    fn spec(&self) -> VqSpec {
        VqSpec::new(self.n("M"), self.n("B") as u32, self.n("g")).unwrap()
    }
    fn weight(&self, codes: &str, books: &str, scales: &str) -> VqWeight {
        let st = self.st();
        VqWeight::new(
            self.spec(),
            self.n("d_out"),
            self.n("d_in"),
            u32s(&st, codes),
            f32s(&st, books),
            f32s(&st, scales),
        )
        .unwrap()
    }
    fn options(&self, f32_gemm: bool) -> AqlmOptions {
        let m = &self.meta;
        AqlmOptions {
            spec: self.spec(),
            beam_size: self.n("beam_size"),
            kmeans_iters: self.n("kmeans_iters"),
            kmeans_init: KmeansInit::Spaced,
            max_epochs: self.n("max_epochs"),
            relative_tolerance: m["relative_mse_tolerance"].as_f64(),
            steps_per_epoch: m["adam"]["steps_per_epoch"].as_u64().unwrap() as usize,
            lr: m["adam"]["lr"].as_f64().unwrap() as f32,
            betas: (
                m["adam"]["betas"][0].as_f64().unwrap() as f32,
                m["adam"]["betas"][1].as_f64().unwrap() as f32,
            ),
            shuffle: false,
            f32_gemm,
            seed: 0,
        }
    }
}

fn load() -> Vec<Case> {
    let all: Vec<Case> = cases()
        .into_iter()
        .map(|meta| Case {
            name: meta["name"].as_str().unwrap().to_string(),
            bytes: std::fs::read(dir().join(meta["file"].as_str().unwrap())).unwrap(),
            meta,
        })
        .collect();
    assert_eq!(all.len(), 3, "three fixture cases");
    all
}

fn max_abs(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .fold(0.0, f64::max)
}

fn max_rel(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| ((*x as f64 - *y as f64) / *y as f64).abs())
        .fold(0.0, f64::max)
}

fn rel(a: f64, b: f64) -> f64 {
    (a / b - 1.0).abs()
}

#[test]
fn decode_is_bit_exact() {
    for c in load() {
        let v = c.weight("init_codes", "init_codebooks", "init_scales");
        let got = decode(&v).unwrap();
        let want = f32s(&c.st(), "init_W_hat");
        let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want), "{}", c.name);
    }
}

#[test]
fn kmeans_init_matches() {
    for c in load() {
        let st = c.st();
        let (rows, cols) = (c.n("d_out"), c.n("d_in"));
        let w = f32s(&st, "W");
        let got = init_residual_kmeans(
            &w,
            rows,
            cols,
            c.spec(),
            c.n("kmeans_iters"),
            KmeansInit::Spaced,
            0,
        )
        .unwrap();
        let ids: Vec<u32> = got
            .info
            .iter()
            .flat_map(|i| i.init_ids.iter().map(|&x| x as u32))
            .collect();
        assert_eq!(ids, u32s(&st, "init_kmeans_ids"), "{} ids", c.name);
        assert_eq!(
            got.weight.codes,
            u32s(&st, "init_codes"),
            "{} codes",
            c.name
        );
        let ds = max_rel(&got.weight.scales, &f32s(&st, "init_scales"));
        let dc = max_abs(&got.weight.codebooks, &f32s(&st, "init_codebooks"));
        assert!(
            ds <= 1e-6 && dc <= 1e-6,
            "{}: scales {ds:e} books {dc:e}",
            c.name
        );
        for (i, k) in got.info.iter().zip(c.meta["kmeans"].as_array().unwrap()) {
            assert_eq!(
                i.updates as u64,
                k["updates"].as_u64().unwrap(),
                "{}",
                c.name
            );
            assert_eq!(i.converged, k["converged"].as_bool().unwrap(), "{}", c.name);
            assert_eq!(
                i.empty_clusters as u64,
                k["empty_clusters"].as_u64().unwrap()
            );
        }
        println!("{}: kmeans scales {ds:.1e} rel, books {dc:.1e} abs", c.name);
    }
}

#[test]
fn every_beam_search_pass_matches() {
    for c in load() {
        let st = c.st();
        let (w, xtx) = (f32s(&st, "W"), f32s(&st, "XTX"));
        let beam = c.n("beam_size");
        // from the stored init
        let mut v = c.weight("init_codes", "init_codebooks", "init_scales");
        let p = beam_search(&w, &xtx, &mut v, beam, None).unwrap();
        assert_eq!(v.codes, u32s(&st, "bs_codes"), "{} bs", c.name);
        let want = c.meta["obj_after_bs"].as_f64().unwrap();
        assert!(
            rel(p.after, want) <= 1e-6,
            "{}: {} vs {want}",
            c.name,
            p.after
        );
        assert!(rel(p.before, c.meta["obj_init"].as_f64().unwrap()) <= 1e-6);
        assert!(p.after <= p.before && p.reverted == 0, "{}", c.name);
        assert_eq!(
            p.changed as u64,
            c.meta["bs_codes_changed"].as_u64().unwrap()
        );
        // from every stored after-Adam state, with the codes before that search
        let mut prev = "init_codes".to_string();
        for e in c.meta["epochs"].as_array().unwrap() {
            if e.get("stopped_by_tolerance").is_some() {
                continue;
            }
            let k = e["epoch"].as_u64().unwrap();
            let mut v = c.weight(
                &prev,
                &format!("epoch{k}_codebooks_after_adam"),
                &format!("epoch{k}_scales_after_adam"),
            );
            let p = beam_search(&w, &xtx, &mut v, beam, None).unwrap();
            let name = format!("epoch{k}_codes_after_search");
            assert_eq!(v.codes, u32s(&st, &name), "{} {name}", c.name);
            let want = e["obj_after_search"].as_f64().unwrap();
            assert!(rel(p.after, want) <= 1e-6, "{} epoch {k}", c.name);
            assert!(rel(p.before, e["obj_after_adam"].as_f64().unwrap()) <= 1e-6);
            assert!(p.after <= p.before && p.reverted == 0);
            assert_eq!(
                p.changed as u64,
                e["search_codes_changed"].as_u64().unwrap()
            );
            prev = name;
        }
    }
}

#[test]
fn adam_steps_match() {
    for c in load() {
        let st = c.st();
        let (w, xtx) = (f32s(&st, "W"), f32s(&st, "XTX"));
        for f32_gemm in [false, true] {
            let o = c.options(f32_gemm);
            let mut v = c.weight("init_codes", "init_codebooks", "init_scales");
            let mut adam = AdamState::new(&v, o.lr, o.betas);
            let losses =
                adam_steps(&w, &xtx, &mut v, &mut adam, o.steps_per_epoch, f32_gemm).unwrap();
            let rows = c.n("d_out") as f64;
            assert!(rel(losses[0] * rows, c.meta["obj_init"].as_f64().unwrap()) <= 1e-6);
            let dc = max_abs(&v.codebooks, &f32s(&st, "epoch0_codebooks_after_adam"));
            let ds = max_rel(&v.scales, &f32s(&st, "epoch0_scales_after_adam"));
            println!(
                "{} (f32 GEMM {f32_gemm}): Adam books {dc:.1e} abs, scales {ds:.1e} rel",
                c.name
            );
            assert!(
                dc <= 2e-5 && ds <= 3e-5,
                "{}: books {dc:e} scales {ds:e}",
                c.name
            );
            let obj = objective(&w, &decode(&v).unwrap(), v.rows, v.cols, &xtx).unwrap();
            let want = c.meta["epochs"][0]["obj_after_adam"].as_f64().unwrap();
            assert!(rel(obj, want) <= 1e-5, "{}: {obj} vs {want}", c.name);
        }
    }
}

fn check_end_to_end(c: &Case, r: &lowbit_ptq::AqlmResult, what: &str) {
    let st = c.st();
    let epochs = c.meta["epochs"].as_array().unwrap();
    assert_eq!(r.epochs.len(), epochs.len(), "{} {what}: epochs", c.name);
    for (g, e) in r.epochs.iter().zip(epochs) {
        let stopped = e.get("stopped_by_tolerance").is_some();
        assert_eq!(g.stopped_by_tolerance, stopped, "{} {what}", c.name);
        assert!(rel(g.obj_start, e["obj_start"].as_f64().unwrap()) <= 1e-5);
        if let Some(p) = g.search {
            assert!(p.after <= p.before, "{} {what}: a pass rose", c.name);
            assert!(rel(p.after, e["obj_after_search"].as_f64().unwrap()) <= 1e-5);
        }
    }
    assert_eq!(
        r.codes,
        u32s(&st, "final_codes"),
        "{} {what}: codes",
        c.name
    );
    let dc = max_abs(&r.codebooks, &f32s(&st, "final_codebooks"));
    let ds = max_rel(&r.scales, &f32s(&st, "final_scales"));
    assert!(dc <= 2e-5 && ds <= 3e-5, "{} {what}: {dc:e} {ds:e}", c.name);
    let obj = objective(&f32s(&st, "W"), &r.w_hat, r.rows, r.cols, &f32s(&st, "XTX")).unwrap();
    let want = c.meta["obj_final"].as_f64().unwrap();
    assert!(rel(obj, want) <= 1e-5, "{} {what}: {obj} vs {want}", c.name);
    assert_eq!(
        *r.trace.last().unwrap(),
        r.epochs.iter().rev().find_map(|e| e.search).unwrap().after
    );
    println!(
        "{} {what}: final books {dc:.1e} abs, scales {ds:.1e} rel, obj {:.1e} rel",
        c.name,
        rel(obj, want)
    );
}

#[test]
fn calibration_matches_from_stored_init() {
    for c in load() {
        let st = c.st();
        let (w, xtx) = (f32s(&st, "W"), f32s(&st, "XTX"));
        for f32_gemm in [false, true] {
            let v = c.weight("init_codes", "init_codebooks", "init_scales");
            let r = calibrate(&w, &xtx, v, &c.options(f32_gemm)).unwrap();
            check_end_to_end(&c, &r, &format!("calibrate (f32 GEMM {f32_gemm})"));
        }
    }
}

#[test]
fn aqlm_end_to_end_matches() {
    for c in load() {
        let st = c.st();
        let (w, xtx) = (f32s(&st, "W"), f32s(&st, "XTX"));
        for f32_gemm in [false, true] {
            let r = aqlm(&w, c.n("d_out"), c.n("d_in"), &xtx, &c.options(f32_gemm)).unwrap();
            check_end_to_end(&c, &r, &format!("aqlm (f32 GEMM {f32_gemm})"));
        }
    }
}
