//! Wall-clock timing of the GPTQ pieces on SmolLM2-135M's linear shapes (d_in 576 / 1536):
//! the Hessian (`HessianAccumulator`, 4096 correlated rows in batches of 512), the upper
//! Cholesky factor of H⁻¹ (`cholesky_inverse_upper`), `gptq` end to end (its column loop is
//! the total minus the factorisation), and `relative_output_error`, for `int4:block=64,asym`
//! and `nvfp4`.
//!
//! `cargo run -p lowbit-ptq --release --example gptq_timing [-- SHAPE...]` with SHAPE one of
//! q k v o gate up down (default: all). `RAYON_NUM_THREADS` sets the thread count;
//! `GPTQ_TIMING_REPS=N` (default 1) repeats every piece N times and prints the fastest, which
//! is the steadier number on a shared machine (read it next to `uptime`'s load).

use lowbit_ptq::{
    FormatQuantizer, GptqOptions, HessianAccumulator, cholesky_inverse_upper, gptq,
    relative_output_error,
};
use std::time::Instant;

/// Deterministic values in [−1, 1) (xorshift), so runs compare like for like.
fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Correlated inputs [n, d]: i.i.d. noise plus a neighbour term, a shared rank-8 factor and
/// unequal channel scales (cheap to build, yet H is far from diagonal).
fn inputs(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let z = noise(n * d, seed);
    let f = noise(n * 8, seed + 1);
    let g = noise(8 * d, seed + 2);
    let mut x = vec![0f32; n * d];
    for k in 0..n {
        for j in 0..d {
            let low: f32 = (0..8).map(|t| f[k * 8 + t] * g[t * d + j]).sum();
            let v = z[k * d + j] + 0.5 * z[k * d + (j + 1) % d] + 0.7 * low;
            x[k * d + j] = v * (1.0 + (j % 7) as f32 * 0.3);
        }
    }
    x
}

/// The fastest of `reps` runs of `f` (seconds) and its last result.
fn timed<T, E>(reps: usize, mut f: impl FnMut() -> Result<T, E>) -> Result<(f64, T), E> {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        let v = f()?;
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(v);
    }
    Ok((best, out.expect("reps ≥ 1")))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let all = [
        ("q", 576, 576),
        ("k", 192, 576),
        ("v", 192, 576),
        ("o", 576, 576),
        ("gate", 1536, 576),
        ("up", 1536, 576),
        ("down", 576, 1536),
    ];
    let want: Vec<String> = std::env::args().skip(1).collect();
    let shapes: Vec<_> = all
        .iter()
        .filter(|s| want.is_empty() || want.iter().any(|w| w == s.0))
        .collect();
    let reps: usize = std::env::var("GPTQ_TIMING_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut hs: Vec<(usize, Vec<f32>)> = Vec::new();
    for d in [576usize, 1536] {
        if !shapes.iter().any(|s| s.2 == d) {
            continue;
        }
        let x = inputs(4096, d, d as u64);
        let (th, h) = timed(reps, || {
            let mut acc = HessianAccumulator::new(d)?;
            for b in x.chunks(512 * d) {
                acc.add_batch(b)?;
            }
            Ok::<_, lowbit_ptq::PtqError>(acc.into_hessian())
        })?;
        println!("hessian d={d} n=4096: {th:.3} s");
        // damped like gptq does, so the factorisation sees the matrix gptq factors
        let mut hd = h.clone();
        let mean = (0..d).map(|i| hd[i * d + i] as f64).sum::<f64>() / d as f64;
        (0..d).for_each(|i| hd[i * d + i] += 0.01 * mean as f32);
        let (tc, u) = timed(reps, || cholesky_inverse_upper(&hd, d))?;
        println!("cholesky_inverse_upper n={d}: {tc:.3} s");
        std::hint::black_box(u);
        hs.push((d, h));
    }
    for &&(name, rows, cols) in &shapes {
        let h = &hs.iter().find(|(d, _)| *d == cols).ok_or("no H")?.1;
        let w: Vec<f32> = noise(rows * cols, rows as u64 * 31 + cols as u64)
            .iter()
            .map(|v| 0.05 * v)
            .collect();
        for fmt in ["int4:block=64,asym", "nvfp4"] {
            let (tg, r) = timed(reps, || {
                let mut q = FormatQuantizer::parse(fmt)?;
                gptq(&w, rows, cols, h, &mut q, &GptqOptions::default())
            })?;
            let (te, e) = timed(reps, || relative_output_error(&w, &r.w_hat, rows, cols, h))?;
            println!(
                "{name} {rows}x{cols} {fmt}: gptq {tg:.3} s, relative_output_error {te:.3} s (= {e:.6e})"
            );
        }
    }
    Ok(())
}
