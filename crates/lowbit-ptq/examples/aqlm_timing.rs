//! Wall-clock timing of AQLM on one synthetic SmolLM2-135M-shaped linear layer.
//!
//! ```sh
//! CARGO_TARGET_DIR=… cargo run --release -p lowbit-ptq --example aqlm_timing -- \
//!     [FORMAT=vq:2x8g8] [D_OUT=1536] [D_IN=576] [MAX_EPOCHS=0] [STEPS=100] [BEAM=1] [GEMM=f32|f64] [KMEANS_ITERS=100]
//! ```
//!
//! Prints the time of the residual k-means init, of one epoch's parts (`STEPS` Adam steps, one
//! beam-search pass) and, with `MAX_EPOCHS > 0`, of the whole calibration (tolerance 0.01).
//! W ~ N(0, 0.02²); X [2048, d_in] = Z·A·diag(c) with correlated columns (as the fixtures).

use lowbit_ptq::aqlm::{
    AdamState, AqlmOptions, adam_steps, beam_search, calibrate, init_residual_kmeans,
};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use std::time::Instant;

fn normal(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    let u = |rng: &mut ChaCha8Rng| ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    (0..n)
        .map(|_| {
            let (a, b) = (u(rng), u(rng));
            ((-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()) as f32
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: &str| args.get(i).cloned().unwrap_or_else(|| d.to_string());
    let opts0 = AqlmOptions::for_format(&arg(0, "vq:2x8g8"))?;
    let rows: usize = arg(1, "1536").parse()?;
    let cols: usize = arg(2, "576").parse()?;
    let epochs: usize = arg(3, "0").parse()?;
    let steps: usize = arg(4, "100").parse()?;
    let beam: usize = arg(5, "1").parse()?;
    let f32_gemm = arg(6, "f32") == "f32";
    let kmeans_iters: usize = arg(7, "100").parse()?;
    let opts = AqlmOptions {
        max_epochs: epochs,
        steps_per_epoch: steps,
        beam_size: beam,
        f32_gemm,
        kmeans_iters,
        ..opts0
    };
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let w: Vec<f32> = normal(&mut rng, rows * cols)
        .iter()
        .map(|v| 0.02 * v)
        .collect();
    let n = 2048;
    let z = normal(&mut rng, n * cols);
    let g = normal(&mut rng, cols * cols);
    let c: Vec<f64> = (0..cols)
        .map(|_| (((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0) * 2f64.ln())
        .map(f64::exp)
        .collect();
    // A = I + 0.5 G / √d; X = Z A diag(c); XᵀX / n in f64
    let sq = (cols as f64).sqrt();
    let mut x = vec![0f64; n * cols];
    for t in 0..n {
        for (k, &zk) in z[t * cols..(t + 1) * cols].iter().enumerate() {
            let zk = zk as f64;
            x[t * cols + k] += zk;
            for j in 0..cols {
                x[t * cols + j] += zk * 0.5 * g[k * cols + j] as f64 / sq;
            }
        }
        for j in 0..cols {
            x[t * cols + j] *= c[j];
        }
    }
    let mut xtx = vec![0f32; cols * cols];
    for a in 0..cols {
        for b in a..cols {
            let s: f64 = (0..n)
                .map(|t| x[t * cols + a] * x[t * cols + b])
                .sum::<f64>()
                / n as f64;
            xtx[a * cols + b] = s as f32;
            xtx[b * cols + a] = s as f32;
        }
    }
    println!(
        "{} on W [{rows}, {cols}] ({:.3} bits/weight), {} rayon threads",
        opts.spec,
        opts.spec.bits_per_weight(rows, cols),
        rayon::current_num_threads()
    );
    let t = Instant::now();
    let start = init_residual_kmeans(
        &w,
        rows,
        cols,
        opts.spec,
        opts.kmeans_iters,
        opts.kmeans_init,
        0,
    )?;
    let t_init = t.elapsed().as_secs_f64();
    let upd: Vec<usize> = start.info.iter().map(|i| i.updates).collect();
    println!("k-means init: {t_init:.2} s (Lloyd updates per codebook {upd:?})");
    let mut v = start.weight.clone();
    let mut adam = AdamState::new(&v, opts.lr, opts.betas);
    let t = Instant::now();
    let losses = adam_steps(&w, &xtx, &mut v, &mut adam, steps, opts.f32_gemm)?;
    let t_adam = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let p = beam_search(&w, &xtx, &mut v, beam, None)?;
    let t_beam = t.elapsed().as_secs_f64();
    println!(
        "one epoch: {steps} Adam steps {t_adam:.2} s (obj {:.5} → {:.5}), beam search (beam {beam}) {t_beam:.2} s (obj {:.5} → {:.5}, {} codes changed)",
        losses.first().copied().unwrap_or(f64::NAN) * rows as f64,
        p.before,
        p.before,
        p.after,
        p.changed
    );
    if epochs > 0 {
        let t = Instant::now();
        let r = calibrate(&w, &xtx, start.weight, &opts)?;
        let t_cal = t.elapsed().as_secs_f64();
        let stopped = r.epochs.last().is_some_and(|e| e.stopped_by_tolerance);
        println!(
            "calibrate: {t_cal:.2} s, {} epochs (stopped by tolerance: {stopped}), obj {:.5} → {:.5} (zero: {:.5}); total with init {:.2} s",
            r.epochs.len(),
            r.obj_init,
            r.trace.last().copied().unwrap_or(r.obj_init),
            lowbit_ptq::aqlm::objective(&w, &vec![0.0; rows * cols], rows, cols, &xtx)?,
            t_init + t_cal
        );
    }
    Ok(())
}
