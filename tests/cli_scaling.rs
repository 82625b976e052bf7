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

/// A 2 sizes × 2 budgets × 2 recipes plan on the bundled fixture corpus, a few steps per run.
const SWEEP_PLAN: &str = r#"
recipes = ["bf16", "nvfp4"]

[[sizes]]
preset = "tiny"

[[sizes]]
name = "tiny-l1"
preset = "tiny"
n_layers = 1

[tokens]
total = [384, 768]

[train]
batch_size = 4
seq_len = 32
lr = 3e-3
set = [
    "data.corpus=tests/fixtures/tiny-corpus",
    "data.vocab_size=300",
    "checkpoint.every_steps=2",
    "eval.batches=2",
]
"#;

#[test]
fn sweep_trains_fits_and_skips_finished_runs() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.toml");
    std::fs::write(&plan, SWEEP_PLAN).unwrap();
    let out = dir.path().join("sweep");
    let args = [
        "scaling",
        "sweep",
        "--plan",
        plan.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--fit",
        "chinchilla",
        "--json",
    ];
    let o = lowbit(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(err.matches(": trained").count(), 8, "{err}");
    // The fit report (JSON on stdout and in OUT/fit/report.json) and its plots.
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["n_points"], 8);
    assert!(r["params"]["E"].as_f64().unwrap() > 0.0, "{r}");
    assert!(out.join("fit/report.json").is_file());
    for p in r["plots"].as_array().unwrap() {
        assert!(std::fs::metadata(p.as_str().unwrap()).unwrap().len() > 0);
    }
    let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 8);
    assert!(csv.contains("tiny-l1_tok768_nvfp4,nvfp4,"), "{csv}");

    // Again: every run is skipped and the summary is the same.
    let o = lowbit(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(err.matches(": skipped (finished)").count(), 8, "{err}");
    assert!(!err.contains(": trained"), "{err}");
    assert_eq!(
        std::fs::read_to_string(out.join("summary.csv")).unwrap(),
        csv
    );
}

#[test]
fn sweep_dry_run_lists_runs_and_bad_plans_name_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.toml");
    std::fs::write(&plan, SWEEP_PLAN).unwrap();
    let o = lowbit(&[
        "scaling",
        "sweep",
        "--plan",
        plan.to_str().unwrap(),
        "--dry-run",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(text.contains("tiny_tok384_bf16"), "{text}");
    assert!(text.contains("8 runs, 4608 tokens in all"), "{text}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, SWEEP_PLAN.replace("seq_len = 32", "seq_lenn = 32")).unwrap();
    let o = lowbit(&["scaling", "sweep", "--plan", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("seq_lenn"),
        "{err}"
    );
    assert!(err.contains("unknown field"), "{err}");

    std::fs::write(&bad, SWEEP_PLAN.replace("lr = 3e-3", "lr = -3e-3")).unwrap();
    let o = lowbit(&["scaling", "sweep", "--plan", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("train.lr"),
        "{err}"
    );
}
