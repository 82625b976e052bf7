//! End-to-end tests of `lowbit scaling fit` and `lowbit scaling capacity`.

use lowbit_scaling::{SyntheticFormat, SyntheticSpec, synthetic_points, write_points_csv};
use std::process::{Command, Output};

fn lowbit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lowbit"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run lowbit")
}

#[test]
fn fit_unified_free_from_csv_writes_report_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("runs.csv");
    let mut spec = SyntheticSpec::epoch(6, 4, 0.002, 3);
    spec.formats = vec![
        SyntheticFormat::with_rho("bf16", 1.0),
        SyntheticFormat::with_rho("nvfp4", 0.7),
    ];
    write_points_csv(&synthetic_points(&spec), &csv).unwrap();
    let out = dir.path().join("fit");
    let o = lowbit(&[
        "scaling",
        "fit",
        "--data",
        csv.to_str().unwrap(),
        "--law",
        "unified",
        "--rho",
        "free",
        "--bootstrap",
        "20",
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rho = r["params"]["rho"]["nvfp4"].as_f64().unwrap();
    assert!((rho - 0.7).abs() < 0.05, "rho(nvfp4) = {rho}");
    let plots = r["plots"].as_array().unwrap();
    assert!(!plots.is_empty());
    for p in plots {
        let len = std::fs::metadata(p.as_str().unwrap()).unwrap().len();
        assert!(len > 0, "{p} is empty");
    }
}

#[test]
fn fit_reports_bad_csv_with_line_number() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bad.csv");
    std::fs::write(
        &csv,
        "run,format,n_params,tokens,loss\na,bf16,1e6,1e8,3.1\nb,bf16,-5,1e8,3.0\n",
    )
    .unwrap();
    let o = lowbit(&[
        "scaling",
        "fit",
        "--data",
        csv.to_str().unwrap(),
        "--law",
        "chinchilla",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("bad.csv:3:") && err.contains("n_params"),
        "{err}"
    );
}

#[test]
fn capacity_measures_formats() {
    let o = lowbit(&[
        "scaling",
        "capacity",
        "--format",
        "nvfp4",
        "--format",
        "int8",
        "--samples",
        "65536",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let rho = |i: usize| rows[i]["rho"].as_f64().unwrap();
    assert!(rho(0) < rho(1), "more bits, more capacity");
}
