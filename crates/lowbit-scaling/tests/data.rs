//! Loading run data: the schema, JSON lines, and typed errors naming file, line and fix.

use lowbit_scaling::{
    FitConfig, Law, RhoMode, ScalingError, SyntheticFormat, SyntheticSpec, fit, load_gmse_table,
    load_points, synthetic_points, write_points_csv,
};
use std::path::PathBuf;

const HEADER: &str = "run,format,n_params,tokens,loss\n";

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).expect("write temp file");
    p
}

/// Loads `text` and returns (line, field, message) of the expected `BadValue`.
fn bad_value(text: &str) -> (u64, &'static str, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(&dir, "runs.csv", text);
    match load_points(&p) {
        Err(e @ ScalingError::BadValue { line, field, .. }) => {
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!("{}:{line}:", p.display())),
                "{msg}"
            );
            (line, field, msg)
        }
        other => panic!("expected BadValue, got {other:?}"),
    }
}

#[test]
fn good_csv_loads_with_optional_columns_in_any_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(
        &dir,
        "runs.csv",
        "loss, run ,gmse,format,tokens,n_params,notes\n3.1,r1,,bf16,2e9,1e8,x\n3.3,r2,0.00904,nvfp4,2e9,1e8,\n",
    );
    let pts = load_points(&p).expect("valid file");
    assert_eq!(pts.len(), 2);
    assert_eq!((pts[0].run.as_str(), pts[0].gmse), ("r1", None));
    assert_eq!(
        (pts[1].format.as_str(), pts[1].gmse, pts[1].n_params),
        ("nvfp4", Some(0.00904), 1e8)
    );
}

#[test]
fn negative_n_names_line_and_field() {
    let (line, field, msg) = bad_value(&format!(
        "{HEADER}r1,bf16,1e8,2e9,3.1\nr2,bf16,-1e8,2e9,3.0\n"
    ));
    assert_eq!((line, field), (3, "n_params"));
    assert!(msg.contains("must be > 0"), "{msg}");
}

#[test]
fn nan_loss_is_rejected() {
    let (line, field, msg) = bad_value(&format!(
        "{HEADER}r1,bf16,1e8,2e9,3.1\nr2,bf16,1e8,2e9,3.0\nr3,bf16,1e8,2e9,NaN\n"
    ));
    assert_eq!((line, field), (4, "loss"));
    assert!(msg.contains("not finite"), "{msg}");
}

#[test]
fn unparseable_tokens_is_rejected() {
    let (line, field, msg) = bad_value(&format!("{HEADER}r1,bf16,1e8,2e9x,3.1\n"));
    assert_eq!((line, field), (2, "tokens"));
    assert!(
        msg.contains("not a number") && msg.contains("1.5e9"),
        "{msg}"
    );
}

#[test]
fn zero_loss_empty_run_and_bad_gmse_are_rejected() {
    assert_eq!(bad_value(&format!("{HEADER}r1,bf16,1e8,2e9,0\n")).1, "loss");
    assert_eq!(bad_value(&format!("{HEADER},bf16,1e8,2e9,3\n")).1, "run");
    let (line, field, _) = bad_value(
        "run,format,n_params,tokens,loss,gmse\nr1,int4,1e8,2e9,3,0.01\nr2,int4,1e8,2e9,3,1.5\n",
    );
    assert_eq!((line, field), (3, "gmse"));
}

#[test]
fn missing_column_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(
        &dir,
        "runs.csv",
        "run,format,n_params,tokens\nr1,bf16,1e8,2e9\n",
    );
    let err = load_points(&p).expect_err("no loss column");
    assert!(
        matches!(err, ScalingError::MissingColumn { column: "loss", .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("add the column"), "{err}");
}

#[test]
fn ragged_row_is_a_syntax_error_at_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(
        &dir,
        "runs.csv",
        &format!("{HEADER}r1,bf16,1e8,2e9,3.1\nr2,bf16,1e8\n"),
    );
    match load_points(&p) {
        Err(ScalingError::Syntax { line, .. }) => assert_eq!(line, 3),
        other => panic!("expected Syntax, got {other:?}"),
    }
}

#[test]
fn json_lines_load_and_report_their_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = "{\"run\":\"r1\",\"format\":\"bf16\",\"n_params\":1e8,\"tokens\":2e9,\"loss\":3.1}\n\n\
                {\"run\":7,\"format\":\"nvfp4\",\"n_params\":\"1e8\",\"tokens\":2e9,\"loss\":3.3,\"gmse\":0.009}\n";
    let pts = load_points(&write(&dir, "runs.jsonl", good)).expect("valid jsonl");
    assert_eq!(pts.len(), 2);
    assert_eq!((pts[1].run.as_str(), pts[1].gmse), ("7", Some(0.009)));

    let missing =
        format!("{good}{{\"run\":\"r3\",\"format\":\"bf16\",\"n_params\":1e8,\"tokens\":2e9}}\n");
    match load_points(&write(&dir, "b.jsonl", &missing)) {
        Err(e @ ScalingError::Syntax { line: 4, .. }) => {
            assert!(e.to_string().contains("`loss`"), "{e}")
        }
        other => panic!("expected Syntax at line 4, got {other:?}"),
    }
    let negative = format!(
        "{good}{{\"run\":\"r3\",\"format\":\"bf16\",\"n_params\":1e8,\"tokens\":-5,\"loss\":3}}\n"
    );
    match load_points(&write(&dir, "c.jsonl", &negative)) {
        Err(ScalingError::BadValue {
            line: 4,
            field: "tokens",
            ..
        }) => {}
        other => panic!("expected BadValue at line 4, got {other:?}"),
    }
    match load_points(&write(&dir, "d.jsonl", "{not json}\n")) {
        Err(ScalingError::Syntax { line: 1, .. }) => {}
        other => panic!("expected Syntax at line 1, got {other:?}"),
    }
}

#[test]
fn csv_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = SyntheticSpec::epoch(3, 2, 0.01, 5);
    spec.formats.push(SyntheticFormat {
        name: "nvfp4".into(),
        rho: 0.7,
        gmse: Some(0.00904),
    });
    let pts = synthetic_points(&spec);
    let p = dir.path().join("sub/runs.csv");
    write_points_csv(&pts, &p).expect("write");
    assert_eq!(load_points(&p).expect("read back"), pts);
}

#[test]
fn unified_needs_reference_and_capacity_needs_consistent_gmse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rows = String::from("run,format,n_params,tokens,loss,gmse\n");
    for i in 0..12 {
        rows.push_str(&format!("r{i},int4,{}e8,2e9,3.{i},0.01\n", i + 1));
    }
    let pts = load_points(&write(&dir, "a.csv", &rows)).expect("valid");
    let err = fit(&pts, &FitConfig::new(Law::Unified { rho: RhoMode::Free })).expect_err("no bf16");
    assert!(err.to_string().contains("`bf16`"), "{err}");

    rows.push_str("s1,bf16,1e8,2e9,3.0,\ns2,int4,5e8,2e9,3.0,0.02\n");
    let pts = load_points(&write(&dir, "b.csv", &rows)).expect("valid");
    let err = fit(
        &pts,
        &FitConfig::new(Law::Unified {
            rho: RhoMode::Capacity,
        }),
    )
    .expect_err("two GMSEs");
    assert!(
        err.to_string().contains("two GMSE values") && err.to_string().contains("s2"),
        "{err}"
    );

    let no_gmse = "run,format,n_params,tokens,loss\n".to_owned()
        + &(0..8)
            .map(|i| {
                format!(
                    "b{i},bf16,{}e8,2e9,3.{i}\nq{i},int4,{}e8,2e9,3.{i}\n",
                    i + 1,
                    i + 1
                )
            })
            .collect::<String>();
    let pts = load_points(&write(&dir, "c.csv", &no_gmse)).expect("valid");
    let err = fit(
        &pts,
        &FitConfig::new(Law::Unified {
            rho: RhoMode::Capacity,
        }),
    )
    .expect_err("no gmse");
    assert!(
        err.to_string().contains("gmse") && err.to_string().contains("int4"),
        "{err}"
    );
}

#[test]
fn gmse_tables_load_from_csv_and_formats_report_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = write(
        &dir,
        "g.csv",
        "format,gmse,gmse_se\nnvfp4,0.00904,1e-5\nmxfp4,0.01321,\n",
    );
    let t = load_gmse_table(&csv).expect("csv");
    assert_eq!(
        (t[1].format.as_str(), t[1].gmse, t[1].gmse_se),
        ("mxfp4", 0.01321, 0.0)
    );
    let json = write(
        &dir,
        "g.json",
        r#"[{"name":"nvfp4","gmse":0.00904,"gmse_se":1e-5,"effective_bits":3.39,"samples":4194304}]"#,
    );
    assert_eq!(load_gmse_table(&json).expect("json")[0].format, "nvfp4");
    let bad = write(&dir, "h.csv", "format,gmse\nnvfp4,0.009\nbroken,2.0\n");
    match load_gmse_table(&bad) {
        Err(ScalingError::BadValue {
            line: 3,
            field: "gmse",
            ..
        }) => {}
        other => panic!("expected BadValue at line 3, got {other:?}"),
    }
}

#[test]
fn points_built_in_code_are_validated_too() {
    let mut pts = synthetic_points(&SyntheticSpec::epoch(3, 3, 0.01, 1));
    pts[4].tokens = f64::NAN;
    let err = fit(&pts, &FitConfig::new(Law::Chinchilla)).expect_err("NaN tokens");
    assert!(err.to_string().contains(&pts[4].run), "{err}");
    let err = fit(&[], &FitConfig::new(Law::Chinchilla)).expect_err("no points");
    assert!(err.to_string().contains("no points"), "{err}");
}
