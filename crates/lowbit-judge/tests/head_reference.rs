//! The judge head against scikit-learn (tools/judge_head_reference.py, fixtures in
//! tests/fixtures/judge/): the scaler, every C's logistic regression, the validation ROC-AUCs,
//! the chosen C and the threshold table of lowbit's `train_head_split` equal sklearn's on the
//! same rows and validation prompts. The deterministic parts (scaler, AUC of given scores,
//! quantiles) are compared to rounding; the solver's minimiser to the solvers' tolerances.

use lowbit_judge::head::{HeadConfig, official_c_grid, quantile, roc_auc, train_head_split};
use safetensors::SafeTensors;
use serde::Deserialize;
use std::collections::HashSet;
use std::path::PathBuf;

#[derive(Deserialize)]
struct Fit {
    c: f64,
    coef: Vec<f64>,
    intercept: f64,
    val_auc: f64,
    val_p: Vec<f64>,
}

#[derive(Deserialize)]
struct Row {
    quantile: f64,
    threshold: f64,
    precision: f64,
    recall: f64,
    accuracy: f64,
    predicted_important_frac: f64,
}

#[derive(Deserialize)]
struct Expected {
    scaler_mean: Vec<f64>,
    scaler_scale: Vec<f64>,
    fits: Vec<Fit>,
    best_c: f64,
    thresholds: Vec<Row>,
}

struct Data {
    x: Vec<f32>,
    y: Vec<bool>,
    groups: Vec<u64>,
    val: HashSet<u64>,
    rows: usize,
    cols: usize,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/judge")
}

fn le_i64(b: &[u8]) -> Vec<u64> {
    b.chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as u64)
        .collect()
}

fn load() -> (Data, Expected) {
    let bytes = std::fs::read(dir().join("head-ref.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let x_t = st.tensor("x").unwrap();
    let (rows, cols) = (x_t.shape()[0], x_t.shape()[1]);
    let x = x_t
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let y = st
        .tensor("y")
        .unwrap()
        .data()
        .iter()
        .map(|&b| b == 1)
        .collect();
    let groups = le_i64(st.tensor("groups").unwrap().data());
    let val = le_i64(st.tensor("val_groups").unwrap().data())
        .into_iter()
        .collect();
    let text = std::fs::read_to_string(dir().join("head-ref.json")).unwrap();
    let data = Data {
        x,
        y,
        groups,
        val,
        rows,
        cols,
    };
    (data, serde_json::from_str(&text).unwrap())
}

fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!(
        (a - b).abs() <= tol * (1.0 + b.abs()),
        "{what}: lowbit {a} vs sklearn {b}"
    );
}

#[test]
fn auc_and_quantiles_equal_sklearn_and_numpy_on_the_same_scores() {
    let (d, e) = load();
    let yva: Vec<bool> = (0..d.rows)
        .filter(|&r| d.val.contains(&d.groups[r]))
        .map(|r| d.y[r])
        .collect();
    for f in &e.fits {
        close(roc_auc(&f.val_p, &yva).unwrap(), f.val_auc, 1e-14, "AUC");
    }
    let best = e.fits.iter().find(|f| f.c == e.best_c).unwrap();
    for r in &e.thresholds {
        close(
            quantile(&best.val_p, r.quantile).unwrap(),
            r.threshold,
            1e-14,
            "quantile",
        );
    }
}

#[test]
fn head_equals_sklearn_scaler_logreg_c_search_and_threshold_table() {
    let (d, e) = load();
    let cfg = HeadConfig::new();
    assert_eq!(cfg.c_grid, official_c_grid());
    let h = train_head_split(&d.x, d.rows, d.cols, &d.y, &d.groups, &d.val, "dd-dt", &cfg).unwrap();
    for j in 0..d.cols {
        close(h.scaler.mean[j], e.scaler_mean[j], 1e-13, "scaler mean");
        close(h.scaler.scale[j], e.scaler_scale[j], 1e-13, "scaler scale");
    }
    assert_eq!(
        h.scaler.scale[d.cols - 1],
        1.0,
        "constant column keeps scale 1"
    );
    // Every C of the grid: the same minimiser (both solvers run to tight tolerances) and AUC.
    assert_eq!(h.c_search.len(), e.fits.len());
    for ((c, auc), f) in h.c_search.iter().zip(&e.fits) {
        assert_eq!(*c, f.c);
        close(*auc, f.val_auc, 1e-12, "validation AUC");
    }
    assert_eq!(h.c, e.best_c, "chosen C");
    let f = e.fits.iter().find(|f| f.c == e.best_c).unwrap();
    for (j, (&w, &want)) in h.model.coef.iter().zip(&f.coef).enumerate() {
        close(w, want, 1e-6, &format!("coef {j}"));
    }
    close(h.model.intercept, f.intercept, 1e-6, "intercept");
    assert_eq!(h.thresholds.len(), e.thresholds.len());
    for (got, want) in h.thresholds.iter().zip(&e.thresholds) {
        close(got.quantile, want.quantile, 1e-15, "quantile");
        close(got.threshold, want.threshold, 1e-6, "threshold");
        close(got.precision, want.precision, 1e-12, "precision");
        close(got.recall, want.recall, 1e-12, "recall");
        close(got.accuracy, want.accuracy, 1e-12, "accuracy");
        close(
            got.predicted_important_frac,
            want.predicted_important_frac,
            1e-12,
            "predicted important",
        );
    }
}

#[test]
fn every_c_of_the_grid_fits_sklearns_minimiser() {
    let (d, e) = load();
    for f in &e.fits {
        let cfg = HeadConfig::new().with_c_grid(vec![f.c]);
        let h =
            train_head_split(&d.x, d.rows, d.cols, &d.y, &d.groups, &d.val, "dd-dt", &cfg).unwrap();
        for (j, (&w, &want)) in h.model.coef.iter().zip(&f.coef).enumerate() {
            close(w, want, 1e-6, &format!("C {}: coef {j}", f.c));
        }
        close(
            h.model.intercept,
            f.intercept,
            1e-6,
            &format!("C {}: intercept", f.c),
        );
    }
}
