//! Writes the bench's synthetic data set (250 points: 25 sizes × 10 D/N ratios of Besiroglu et
//! al.'s law, 1% log-normal noise, seed 0) to a CSV and times lowbit's full-grid Chinchilla fit
//! on it. Used by `benches/compare_scipy.sh`.
//!
//! `cargo run --release -p lowbit-scaling --example synthetic_fit -- OUT.csv [REPEATS]`

use lowbit_scaling::{FitConfig, Law, SyntheticSpec, fit, synthetic_points, write_points_csv};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .ok_or("usage: synthetic_fit OUT.csv [REPEATS]")?;
    let repeats: usize = args.next().map_or(Ok(3), |s| s.parse())?;
    let points = synthetic_points(&SyntheticSpec::epoch(25, 10, 0.01, 0));
    write_points_csv(&points, out.as_ref())?;
    let mut config = FitConfig::new(Law::Chinchilla);
    config.compute = vec![1e21];
    let mut best = f64::INFINITY;
    let mut report = None;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        report = Some(fit(&points, &config)?);
        best = best.min(t.elapsed().as_secs_f64());
    }
    let r = report.ok_or("no fit")?;
    let p = &r.params;
    println!(
        "lowbit: {} points, {} starts ({} failed), best of {} runs {best:.3} s, threads {}",
        r.n_points,
        r.starts,
        r.starts_failed,
        repeats.max(1),
        rayon::current_num_threads()
    );
    println!(
        "lowbit fit: A={:.4} B={:.4} E={:.5} alpha={:.5} beta={:.5} objective={:.8e}",
        p.a, p.b, p.e, p.alpha, p.beta, r.objective
    );
    println!("lowbit_seconds {best:.6}");
    Ok(())
}
