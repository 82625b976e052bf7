//! The fits recover the parameters of synthetic data drawn from a known law with small noise,
//! using the full Hoffmann/Epoch init grid.

use lowbit_scaling::{
    CapacityLink, FitConfig, Law, LeaveOneFormatOut, RhoMode, SyntheticFormat, SyntheticSpec, fit,
    synthetic_points,
};

/// |x/y − 1| ≤ tol.
fn close(name: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got / want - 1.0).abs() <= tol,
        "{name}: got {got}, want {want} (±{tol} relative)"
    );
}

fn quest_like_formats() -> Vec<SyntheticFormat> {
    vec![
        SyntheticFormat::with_rho("bf16", 1.0),
        SyntheticFormat::with_rho("int4", 0.69),
        SyntheticFormat::with_rho("fp4", 0.63),
        SyntheticFormat::with_rho("int2", 0.15),
    ]
}

#[test]
fn chinchilla_recovers_epoch_law() {
    let spec = SyntheticSpec::epoch(12, 8, 0.002, 1);
    let points = synthetic_points(&spec);
    let report = fit(&points, &FitConfig::new(Law::Chinchilla)).expect("fit");
    let p = &report.params;
    eprintln!("{report}");
    close("E", p.e, spec.law.e, 0.01);
    close("alpha", p.alpha, spec.law.alpha, 0.03);
    close("beta", p.beta, spec.law.beta, 0.03);
    close("A", p.a, spec.law.a, 0.2);
    close("B", p.b, spec.law.b, 0.2);
    assert!(
        report.residuals.rmse_log < 0.003,
        "rmse {}",
        report.residuals.rmse_log
    );
    assert_eq!(report.starts, 4500);
    assert!(matches!(
        report.leave_one_format_out,
        LeaveOneFormatOut::NotApplicable { .. }
    ));
    // The compute-optimal row follows from the fitted parameters.
    let c = &report.compute_optimal[0];
    let (n, d) = lowbit_scaling::compute_optimal(p.a, p.b, p.alpha, p.beta, c.compute);
    assert_eq!((c.n_params, c.tokens), (n, d));
}

#[test]
fn unified_free_recovers_rho() {
    let mut spec = SyntheticSpec::epoch(8, 5, 0.002, 2);
    spec.formats = quest_like_formats();
    let points = synthetic_points(&spec);
    let report = fit(
        &points,
        &FitConfig::new(Law::Unified { rho: RhoMode::Free }),
    )
    .expect("fit");
    eprintln!("{report}");
    let p = &report.params;
    close("E", p.e, spec.law.e, 0.01);
    close("alpha", p.alpha, spec.law.alpha, 0.03);
    close("beta", p.beta, spec.law.beta, 0.03);
    for f in &spec.formats {
        close(&format!("rho[{}]", f.name), p.rho[&f.name], f.rho, 0.03);
    }
    assert_eq!(p.rho["bf16"], 1.0);
    assert!(matches!(
        report.leave_one_format_out,
        LeaveOneFormatOut::NotApplicable { .. }
    ));
}

fn capacity_spec(seed: u64) -> (SyntheticSpec, CapacityLink) {
    let truth = CapacityLink {
        scale: 0.98,
        rate: 0.1,
        exponent: 1.8,
    };
    let mut spec = SyntheticSpec::epoch(8, 5, 0.002, seed);
    spec.formats = vec![
        SyntheticFormat::with_rho("bf16", 1.0),
        SyntheticFormat::with_gmse("int8", 0.00008, &truth),
        SyntheticFormat::with_gmse("nvfp4", 0.00904, &truth),
        SyntheticFormat::with_gmse("mxfp4", 0.01321, &truth),
        SyntheticFormat::with_gmse("int3", 0.0345, &truth),
        SyntheticFormat::with_gmse("sparse50", 0.07127, &truth),
        SyntheticFormat::with_gmse("sparse2of4", 0.1322, &truth),
    ];
    (spec, truth)
}

#[test]
fn unified_capacity_recovers_link_and_predicts_unseen_format() {
    let (spec, truth) = capacity_spec(3);
    // Hold int3 out of the data entirely; predict it from its GMSE afterwards.
    let points: Vec<_> = synthetic_points(&spec)
        .into_iter()
        .filter(|p| p.format != "int3")
        .collect();
    let report = fit(
        &points,
        &FitConfig::new(Law::Unified {
            rho: RhoMode::Capacity,
        }),
    )
    .expect("fit");
    eprintln!("{report}");
    let p = &report.params;
    close("E", p.e, spec.law.e, 0.01);
    close("alpha", p.alpha, spec.law.alpha, 0.03);
    close("beta", p.beta, spec.law.beta, 0.03);
    let link = p.link.expect("capacity mode has a link");
    for g in [0.00008, 0.00904, 0.01321, 0.0345, 0.07127, 0.1322] {
        close(
            &format!("rho(gmse={g})"),
            link.rho_from_gmse(g),
            truth.rho_from_gmse(g),
            0.03,
        );
    }
    // Unseen format: loss predicted from GMSE alone within 0.5% of the true law.
    for (n, d) in [(1e8, 2e9), (1e9, 2e10)] {
        let want = spec.law.loss(n, d, truth.rho_from_gmse(0.0345));
        let got = report
            .predict_from_gmse(n, d, 0.0345)
            .expect("capacity prediction");
        close("unseen int3 loss", got, want, 0.005);
    }
    let LeaveOneFormatOut::Done { rows } = &report.leave_one_format_out else {
        panic!("capacity mode computes leave-one-format-out");
    };
    assert_eq!(rows.len(), 5);
    for r in rows {
        assert!(
            r.residuals.rmse_log < 0.02,
            "{}: held-out rmse {}",
            r.format,
            r.residuals.rmse_log
        );
    }
}

#[test]
fn exclusion_rule_drops_highest_losses() {
    let mut points = synthetic_points(&SyntheticSpec::epoch(6, 5, 0.002, 4));
    points[3].loss = 50.0;
    points[7].loss = 40.0;
    let mut config = FitConfig::new(Law::Chinchilla);
    config.drop_highest = 2;
    let report = fit(&points, &config).expect("fit");
    assert_eq!(report.n_points, points.len() - 2);
    let dropped: Vec<f64> = report.excluded.iter().map(|e| e.loss).collect();
    assert_eq!(dropped, vec![50.0, 40.0]);
    assert!(
        report.residuals.max_abs_log < 0.02,
        "outliers no longer in the fit"
    );
}
