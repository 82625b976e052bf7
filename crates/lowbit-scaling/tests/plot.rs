//! Plots are written as non-empty PNG and SVG files with stable names.

use lowbit_scaling::{
    CapacityLink, FitConfig, InitGrid, Law, RhoMode, SyntheticFormat, SyntheticSpec, fit, plot,
    synthetic_points,
};

#[test]
fn plots_are_written_and_non_empty() {
    let link = CapacityLink::PLACEHOLDER;
    let mut spec = SyntheticSpec::epoch(5, 3, 0.01, 9);
    spec.formats = vec![
        SyntheticFormat::with_rho("bf16", 1.0),
        SyntheticFormat::with_gmse("nvfp4", 0.00904, &link),
        SyntheticFormat::with_gmse("mxfp4", 0.01321, &link),
        SyntheticFormat::with_gmse("sparse50", 0.07127, &link),
    ];
    let points = synthetic_points(&spec);
    let mut config = FitConfig::new(Law::Unified {
        rho: RhoMode::Capacity,
    });
    config.grid = InitGrid {
        a: vec![5.0],
        b: vec![5.0, 10.0],
        e: vec![0.5],
        alpha: vec![0.5],
        beta: vec![0.5],
    };
    let mut report = fit(&points, &config).expect("fit");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("fig");
    report.plots = plot(&report, &points, &out).expect("plots");
    let names: Vec<String> = report
        .plots
        .iter()
        .map(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(
        names,
        [
            "loss_vs_params.png",
            "loss_vs_params.svg",
            "rho_vs_bits.png",
            "rho_vs_bits.svg",
            "residuals.png",
            "residuals.svg"
        ]
    );
    for p in &report.plots {
        let bytes = std::fs::read(p).expect("plot file exists");
        assert!(
            bytes.len() > 1000,
            "{} has {} bytes",
            p.display(),
            bytes.len()
        );
        if p.extension().is_some_and(|e| e == "png") {
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", p.display());
        } else {
            let text = String::from_utf8(bytes).expect("svg is text");
            assert!(
                text.contains("<svg") && text.contains("<text"),
                "{} has labels",
                p.display()
            );
        }
    }
    // The report names its plots in JSON.
    let json = serde_json::to_string(&report).expect("serialisable");
    assert!(json.contains("rho_vs_bits.svg"));
}

#[test]
fn chinchilla_has_no_rho_plot() {
    let points = synthetic_points(&SyntheticSpec::epoch(4, 3, 0.01, 2));
    let mut config = FitConfig::new(Law::Chinchilla);
    config.grid = InitGrid {
        a: vec![5.0],
        b: vec![5.0],
        e: vec![0.5],
        alpha: vec![0.5],
        beta: vec![0.5],
    };
    let report = fit(&points, &config).expect("fit");
    let dir = tempfile::tempdir().expect("tempdir");
    let files = plot(&report, &points, dir.path()).expect("plots");
    assert_eq!(files.len(), 4);
    assert!(
        files
            .iter()
            .all(|f| !f.to_string_lossy().contains("rho_vs_bits"))
    );
}
