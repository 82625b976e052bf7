//! Bootstrap intervals: deterministic for a seed, independent of the thread count, and they
//! cover the truth on synthetic data.

use lowbit_scaling::{
    BootstrapInit, FitConfig, FitReport, InitGrid, Law, RhoMode, SyntheticFormat, SyntheticSpec,
    bootstrap, fit, synthetic_points,
};

fn small_grid() -> InitGrid {
    InitGrid {
        a: vec![5.0, 10.0],
        b: vec![5.0, 10.0],
        e: vec![0.5],
        alpha: vec![0.5],
        beta: vec![0.5],
    }
}

fn config(resamples: usize, seed: u64) -> FitConfig {
    let mut c = FitConfig::new(Law::Unified { rho: RhoMode::Free });
    c.grid = small_grid();
    c.bootstrap = resamples;
    c.seed = seed;
    c
}

fn points() -> Vec<lowbit_scaling::Point> {
    let mut spec = SyntheticSpec::epoch(6, 4, 0.005, 11);
    spec.formats = vec![
        SyntheticFormat::with_rho("bf16", 1.0),
        SyntheticFormat::with_rho("nvfp4", 0.7),
    ];
    synthetic_points(&spec)
}

fn fit_with_threads(threads: usize, cfg: &FitConfig) -> FitReport {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    pool.install(|| fit(&points(), cfg)).expect("fit")
}

#[test]
fn same_seed_same_intervals_any_thread_count() {
    let cfg = config(40, 7);
    let one = fit_with_threads(1, &cfg);
    let three = fit_with_threads(3, &cfg);
    let again = fit_with_threads(2, &cfg);
    let json = |r: &FitReport| serde_json::to_string(r).expect("serialisable");
    assert_eq!(json(&one), json(&three), "1 thread vs 3 threads");
    assert_eq!(json(&one), json(&again), "repeat");
    let b = one.bootstrap.as_ref().expect("bootstrap ran");
    assert_eq!((b.resamples, b.succeeded, b.seed), (40, 40, 7));
    let other = fit_with_threads(2, &config(40, 8));
    assert_ne!(
        json(&one),
        json(&other),
        "a different seed draws different resamples"
    );
}

#[test]
fn intervals_cover_the_truth_and_are_ordered() {
    let cfg = config(200, 1);
    let pts = points();
    let report = fit(&pts, &cfg).expect("fit");
    let b = report.bootstrap.as_ref().expect("bootstrap ran");
    for (name, truth) in [
        ("alpha", 0.3478),
        ("beta", 0.3658),
        ("E", 1.8169),
        ("rho[nvfp4]", 0.7),
    ] {
        let i = b.get(name).expect("interval present");
        assert!(
            i.ci_low <= i.estimate && i.estimate <= i.ci_high,
            "{name}: {i:?}"
        );
        assert!(i.se > 0.0, "{name}: {i:?}");
        // Generous: 4 SEs, so the test is not a coin flip on the seed.
        assert!(
            (i.estimate - truth).abs() < 4.0 * i.se + 1e-3,
            "{name}: {i:?} vs {truth}"
        );
    }
    assert!(b.get("N*[C=1e21]").is_some() && b.get("D*/N*[C=5.76e23]").is_some());
    // The terminal table shows the intervals; JSON round-trips the whole report.
    let table = report.to_string();
    assert!(
        table.contains("95% percentile interval") && table.contains("rho[nvfp4]"),
        "{table}"
    );
    let json = serde_json::to_string(&report).expect("serialisable");
    // (serde_json's default float parser may differ in the last ulp, so compare loosely.)
    let back: FitReport = serde_json::from_str(&json).expect("parses back");
    assert!((back.params.alpha / report.params.alpha - 1.0).abs() < 1e-15);
    assert_eq!(back.formats.len(), report.formats.len());
    assert_eq!(
        back.bootstrap.map(|x| x.intervals.len()),
        Some(b.intervals.len())
    );
    // The public entry point gives the same summary as the one inside `fit`.
    let again = bootstrap(&pts, &cfg, &report.params).expect("bootstrap");
    assert_eq!(&again, b);
}

#[test]
fn full_grid_bootstrap_init_runs() {
    let mut cfg = config(4, 3);
    cfg.bootstrap_init = BootstrapInit::FullGrid;
    let report = fit(&points(), &cfg).expect("fit");
    assert_eq!(report.bootstrap.expect("bootstrap ran").succeeded, 4);
}

#[test]
fn one_resample_is_a_config_error() {
    let err = fit(&points(), &config(1, 0)).expect_err("bootstrap = 1 rejected");
    assert!(err.to_string().contains("bootstrap = 1"), "{err}");
}
