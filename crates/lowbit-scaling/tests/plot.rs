//! Plots are written as non-empty PNG and SVG files with stable names, and what they draw
//! explains the data: every point lies on the fitted line of its own format and budget, and the
//! log axes carry enough labels to be read.

use lowbit_scaling::{
    CapacityLink, CurveBudget, FitConfig, FitReport, InitGrid, Law, Point, RhoMode,
    SyntheticFormat, SyntheticSpec, fit, load_points, loss_curves, plot, synthetic_points,
};
use std::path::PathBuf;

/// A one-start grid near the fits below (the test is about the curves, not the optimiser).
fn small_grid() -> InitGrid {
    InitGrid {
        a: vec![0.0, 5.0],
        b: vec![5.0],
        e: vec![0.5],
        alpha: vec![0.5],
        beta: vec![0.5],
    }
}

/// Every point is a member of exactly one curve, of its own format; that curve's value at the
/// point's N is the report's prediction of the point; every sample of a curve is the fitted law
/// at the curve's budget.
fn assert_curves_explain_points(report: &FitReport, points: &[Point]) {
    let curves = loss_curves(report, points);
    for (i, p) in points.iter().enumerate() {
        let owners: Vec<_> = curves.iter().filter(|c| c.members.contains(&i)).collect();
        assert_eq!(owners.len(), 1, "{} is on {} curves", p.run, owners.len());
        let c = owners[0];
        assert_eq!(c.format, p.format, "{}", p.run);
        let want = report.predict(p).expect("predictable");
        let (_, got) = *c
            .points
            .iter()
            .find(|(n, _)| *n == p.n_params)
            .unwrap_or_else(|| panic!("curve of {} has no sample at its N", p.run));
        assert!(
            ((got - want) / want).abs() < 1e-12,
            "{}: curve {got} vs prediction {want}",
            p.run
        );
    }
    for c in &curves {
        let rho = report.rho_of(&c.format, None).expect("fitted format");
        assert!(c.points.windows(2).all(|w| w[0].0 < w[1].0), "ascending N");
        for &(n, y) in &c.points {
            let law = report.params.loss(n, c.budget.tokens(n), rho);
            assert!(((y - law) / law).abs() < 1e-12);
        }
    }
}

#[test]
fn fixed_token_sweep_gets_one_line_per_format_and_budget() {
    // The committed tiny sweep: 3 sizes × 3 token budgets (the same D for every size) × 3 formats.
    let csv = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/results/scaling-tiny/summary.csv");
    let points = load_points(&csv).expect("the committed summary loads");
    let mut config = FitConfig::new(Law::Unified { rho: RhoMode::Free });
    config.grid = small_grid();
    let report = fit(&points, &config).expect("fit");
    let curves = loss_curves(&report, &points);
    assert_eq!(curves.len(), 9, "3 formats × 3 budgets");
    let mut budgets: Vec<f64> = curves
        .iter()
        .map(|c| match c.budget {
            CurveBudget::Tokens(d) => d,
            other => panic!("a fixed-D sweep got {other:?}"),
        })
        .collect();
    budgets.sort_by(f64::total_cmp);
    budgets.dedup();
    assert_eq!(budgets, [149504.0, 299008.0, 600064.0]);
    assert!(
        curves.iter().all(|c| c.members.len() == 3),
        "one point per size"
    );
    assert_curves_explain_points(&report, &points);
    // The N axis (131k–1.7M, widened 1.3×) gets at least four labels.
    let (lo, hi) = (131392.0 / 1.3, 1705216.0 * 1.3);
    let ticks = lowbit_plot::log_ticks(lo, hi, 4);
    assert!(ticks.len() >= 4, "{ticks:?}");
    assert!(ticks.iter().all(|t| (lo..=hi).contains(t)));
}

#[test]
fn fixed_ratio_sweep_gets_one_line_per_format_and_ratio() {
    let mut spec = SyntheticSpec::epoch(5, 3, 0.01, 4);
    spec.formats = vec![
        SyntheticFormat::with_rho("bf16", 1.0),
        SyntheticFormat::with_rho("int4", 0.7),
    ];
    let points = synthetic_points(&spec);
    let mut config = FitConfig::new(Law::Unified { rho: RhoMode::Free });
    config.grid = small_grid();
    let report = fit(&points, &config).expect("fit");
    let curves = loss_curves(&report, &points);
    assert_eq!(curves.len(), 2 * 3, "2 formats × 3 ratios");
    for c in &curves {
        let CurveBudget::TokensPerParam(r) = c.budget else {
            panic!("a fixed-D/N sweep got {:?}", c.budget);
        };
        assert!(
            spec.tokens_per_param
                .iter()
                .any(|t| ((t - r) / t).abs() < 1e-12)
        );
        assert_eq!(c.members.len(), 5, "one point per size");
    }
    assert_curves_explain_points(&report, &points);
    // 1.5 decades of N get at least four labels.
    assert!(lowbit_plot::log_ticks(1e8, 10f64.powf(9.5), 4).len() >= 4);
}

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
