//! Wall-clock timing of AQLM on one synthetic SmolLM2-135M-shaped linear layer.
//!
//! ```sh
//! CARGO_TARGET_DIR=… cargo run --release -p lowbit-ptq --example aqlm_timing -- \
//!     [FORMAT=vq:2x8g8] [D_OUT=1536] [D_IN=576] [MAX_EPOCHS=0] [STEPS=100] [BEAM=1] [GEMM=f32|f64] [KMEANS_ITERS=100]
//! ```
//!
//! or `-- block [FORMAT]`: the seven linears of one SmolLM2-135M block (q, k, v, o: 576→576/192;
//! gate, up: 576→1536; down: 1536→576) with the default options, and the ×30 model estimate.
//!
//! Prints the time of the residual k-means init, of one epoch's parts (`STEPS` Adam steps, one
//! beam-search pass) and, with `MAX_EPOCHS > 0`, of the whole calibration (tolerance 0.01).
//! W ~ N(0, 0.02²); X [2048, d_in] = Z·A·diag(c) with correlated columns (as the fixtures).

use gemm::{Parallelism, gemm};
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

/// CPU seconds of this process so far (user + system, Linux `/proc/self/stat`; 0 elsewhere):
/// with other jobs on the cores, CPU time / threads is the wall time an idle machine would give.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // fields after the ")" of the command name: state is field 3, utime 14, stime 15
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

/// A synthetic layer: W [rows, cols] and XᵀX/n of X [2048, cols].
fn layer(rows: usize, cols: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w: Vec<f32> = normal(&mut rng, rows * cols)
        .iter()
        .map(|v| 0.02 * v)
        .collect();
    let n = 2048;
    let z: Vec<f64> = normal(&mut rng, n * cols)
        .iter()
        .map(|&v| v as f64)
        .collect();
    let sq = (cols as f64).sqrt();
    // A = I + 0.5 G / √d; X = Z A diag(c); XᵀX / n in f64
    let mut a: Vec<f64> = normal(&mut rng, cols * cols)
        .iter()
        .map(|&v| 0.5 * v as f64 / sq)
        .collect();
    for i in 0..cols {
        a[i * cols + i] += 1.0;
    }
    let c: Vec<f64> = (0..cols)
        .map(|_| (((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0) * 2f64.ln())
        .map(f64::exp)
        .collect();
    let mut x = vec![0f64; n * cols];
    let mut xtx = vec![0f64; cols * cols];
    // One-off setup, single-threaded (`gemm`'s rayon feature is not enabled by this crate).
    // SAFETY: `gemm`'s f64 kernels on row-major operands (column stride 1, row stride d):
    // Z [n, cols]·A [cols, cols] → X [n, cols], then Xᵀ [cols, n] (X read with its strides
    // swapped)·X → XᵀX [cols, cols]; every element lies inside its Vec, and the destination
    // Vec is a different allocation from both operands.
    unsafe {
        let d = cols as isize;
        gemm(
            n,
            cols,
            cols,
            x.as_mut_ptr(),
            1,
            d,
            false,
            z.as_ptr(),
            1,
            d,
            a.as_ptr(),
            1,
            d,
            0.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
    for t in 0..n {
        for j in 0..cols {
            x[t * cols + j] *= c[j];
        }
    }
    // SAFETY: as above.
    unsafe {
        let d = cols as isize;
        gemm(
            cols,
            cols,
            n,
            xtx.as_mut_ptr(),
            1,
            d,
            false,
            x.as_ptr(),
            d,
            1,
            x.as_ptr(),
            1,
            d,
            0.0,
            1.0 / n as f64,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
    let xtx = xtx.iter().map(|&v| v as f32).collect();
    (w, xtx)
}

/// The seven linears of one SmolLM2-135M block, timed with `opts`; ×30 for the model.
fn block(opts: &AqlmOptions) -> Result<(), Box<dyn std::error::Error>> {
    let shapes = [
        ("q_proj", 576, 576),
        ("k_proj", 192, 576),
        ("v_proj", 192, 576),
        ("o_proj", 576, 576),
        ("gate_proj", 1536, 576),
        ("up_proj", 1536, 576),
        ("down_proj", 576, 1536),
    ];
    let (mut total, mut total_cpu) = (0.0, 0.0);
    for (i, (name, rows, cols)) in shapes.into_iter().enumerate() {
        let (w, xtx) = layer(rows, cols, 100 + i as u64);
        let (t, c0) = (Instant::now(), cpu_seconds());
        let r = lowbit_ptq::aqlm::aqlm(&w, rows, cols, &xtx, opts)?;
        let dt = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - c0;
        total += dt;
        total_cpu += cpu;
        println!(
            "{name:9} [{rows:4}, {cols:4}] {dt:6.2} s wall, {cpu:6.2} s CPU, {} epochs, obj {:.4} → {:.4}",
            r.epochs.len(),
            r.obj_init,
            r.trace.last().copied().unwrap_or(r.obj_init)
        );
    }
    let th = rayon::current_num_threads() as f64;
    println!(
        "{}: one block {total:.1} s wall ({total_cpu:.1} s CPU on {th} threads) → 30 blocks ≈ {:.1} min wall, {:.1} min if the {th} threads had the cores to themselves (CPU/threads)",
        opts.spec,
        total * 30.0 / 60.0,
        total_cpu / th * 30.0 / 60.0
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let block_mode = args.first().is_some_and(|a| a == "block");
    if block_mode {
        args.remove(0);
        let o = AqlmOptions::for_format(&args.first().cloned().unwrap_or("vq:2x8g8".into()))?;
        return block(&o);
    }
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
    let (w, xtx) = layer(rows, cols, 7);
    println!(
        "{} on W [{rows}, {cols}] ({:.3} bits/weight), {} rayon threads",
        opts.spec,
        opts.spec.bits_per_weight(rows, cols),
        rayon::current_num_threads()
    );
    let (t, c0) = (Instant::now(), cpu_seconds());
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
    let c_init = cpu_seconds() - c0;
    let upd: Vec<usize> = start.info.iter().map(|i| i.updates).collect();
    println!(
        "k-means init: {t_init:.2} s wall, {c_init:.2} s CPU (Lloyd updates per codebook {upd:?})"
    );
    let mut v = start.weight.clone();
    let mut adam = AdamState::new(&v, opts.lr, opts.betas);
    let (t, c0) = (Instant::now(), cpu_seconds());
    let losses = adam_steps(&w, &xtx, &mut v, &mut adam, steps, opts.f32_gemm)?;
    let (t_adam, c_adam) = (t.elapsed().as_secs_f64(), cpu_seconds() - c0);
    let (t, c0) = (Instant::now(), cpu_seconds());
    let p = beam_search(&w, &xtx, &mut v, beam, None)?;
    let (t_beam, c_beam) = (t.elapsed().as_secs_f64(), cpu_seconds() - c0);
    println!(
        "one epoch: {steps} Adam steps {t_adam:.2} s wall / {c_adam:.2} s CPU (obj {:.5} → {:.5}), beam search (beam {beam}) {t_beam:.2} s wall / {c_beam:.2} s CPU (obj {:.5} → {:.5}, {} codes changed)",
        losses.first().copied().unwrap_or(f64::NAN) * rows as f64,
        p.before,
        p.before,
        p.after,
        p.changed
    );
    if epochs > 0 {
        let (t, c0) = (Instant::now(), cpu_seconds());
        let r = calibrate(&w, &xtx, start.weight, &opts)?;
        let (t_cal, c_cal) = (t.elapsed().as_secs_f64(), cpu_seconds() - c0);
        let stopped = r.epochs.last().is_some_and(|e| e.stopped_by_tolerance);
        println!(
            "calibrate: {t_cal:.2} s wall / {c_cal:.2} s CPU, {} epochs (stopped by tolerance: {stopped}), obj {:.5} → {:.5} (zero: {:.5}); total with init {:.2} s wall / {:.2} s CPU",
            r.epochs.len(),
            r.obj_init,
            r.trace.last().copied().unwrap_or(r.obj_init),
            lowbit_ptq::aqlm::objective(&w, &vec![0.0; rows * cols], rows, cols, &xtx)?,
            t_init + t_cal,
            c_init + c_cal
        );
    }
    Ok(())
}
