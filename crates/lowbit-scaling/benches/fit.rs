//! Fit time on 250 synthetic points (Besiroglu et al.'s law, 25 sizes × 10 D/N ratios, 1% noise):
//! the full 4500-start grid alone, 1000 bootstrap resamples alone, and both together.
//! Measured, never asserted. `cargo bench -p lowbit-scaling --bench fit`.

use criterion::{Criterion, criterion_group, criterion_main};
use lowbit_scaling::{FitConfig, Law, SyntheticSpec, bootstrap, fit, synthetic_points};
use std::hint::black_box;
use std::time::Duration;

fn bench_fit(c: &mut Criterion) {
    let points = synthetic_points(&SyntheticSpec::epoch(25, 10, 0.01, 0));
    let mut config = FitConfig::new(Law::Chinchilla);
    config.compute = vec![1e21];
    let Ok(estimate) = fit(&points, &config) else {
        eprintln!("synthetic fit failed; nothing to measure");
        return;
    };
    let mut g = c.benchmark_group("chinchilla_250_points");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.bench_function("full_grid_4500_starts", |b| {
        b.iter(|| black_box(fit(black_box(&points), &config).map(|r| r.objective)))
    });
    let mut boot = config.clone();
    boot.bootstrap = 1000;
    g.bench_function("bootstrap_1000_from_estimate", |b| {
        b.iter(|| {
            black_box(bootstrap(black_box(&points), &boot, &estimate.params).map(|s| s.succeeded))
        })
    });
    g.bench_function("full_grid_plus_bootstrap_1000", |b| {
        b.iter(|| black_box(fit(black_box(&points), &boot).map(|r| r.objective)))
    });
    g.finish();
}

criterion_group!(benches, bench_fit);
criterion_main!(benches);
