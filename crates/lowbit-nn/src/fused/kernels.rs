//! Row kernels on host slices behind the `flex` implementation of [`super::FusedOps`]. Rows are
//! independent and each is summed in a fixed order, so results do not depend on the thread
//! count (determinism: resumed runs reproduce losses bit for bit).

use rayon::prelude::*;

/// Rows per rayon task: enough work per task to amortise scheduling on short rows.
const MIN_TASK_ELEMS: usize = 1 << 14;

fn rows_per_task(row: usize) -> usize {
    MIN_TASK_ELEMS.div_ceil(row.max(1)).max(1)
}

const LN2_HI: f32 = 0.693_145_75; // = 0.693145751953125, ln 2 with its low 12 bits zero (Cody–Waite)
const LN2_LO: f32 = 1.428_606_8e-6; // ln 2 − LN2_HI, rounded to f32
const ROUND_MAGIC: f32 = 12_582_912.0; // 1.5·2^23: adding it rounds to an integer (|k| < 2^22)

/// `e^x` for the non-positive arguments of a max-shifted softmax, written so that LLVM
/// vectorises a loop over it (the scalar `expf` call was 8% of a training step).
///
/// `x = n·ln2 + r`, `|r| ≤ ln2/2` (Cody–Waite reduction), `e^r` by its degree-7 Taylor
/// polynomial (truncation < 7e-9 relative), `2^n` assembled in the exponent bits. Arguments
/// below −87 give `e^−87` ≈ 1.6e-38 (never a subnormal); NaN stays NaN.
#[inline(always)]
pub(crate) fn exp_nonpos(x: f32) -> f32 {
    let x = if x < -87.0 { -87.0 } else { x };
    let t = x * std::f32::consts::LOG2_E + ROUND_MAGIC;
    let n = t - ROUND_MAGIC;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (1.0 / 2.0
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // t's low mantissa bits hold n + 0x40_0000; rebuild 2^n = (n + 127) << 23.
    let n_int = (t.to_bits() as i32).wrapping_sub(0x4B40_0000);
    p * f32::from_bits((n_int.wrapping_add(127) << 23) as u32)
}

/// Independent accumulators per row reduction: a float sum or max with one running value is a
/// serial dependency LLVM may not reorder, so it stays scalar (and so would the `exp` inside it);
/// LANES partial results vectorise. The combination order is fixed, so results stay
/// deterministic.
const LANES: usize = 16;

/// `Σ f(v)` over `row`, in LANES partial sums.
#[inline(always)]
fn lane_sum(row: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for k in 0..LANES {
            acc[k] += f(c[k]);
        }
    }
    acc.iter().sum::<f32>() + tail.iter().map(|&v| f(v)).sum::<f32>()
}

/// `Σ a·b` over two rows, in LANES partial sums.
#[inline(always)]
fn lane_dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..LANES {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Largest value of `row` (NaN entries are skipped here and propagate through the sum instead).
#[inline(always)]
fn row_max(row: &[f32]) -> f32 {
    let mx = |m: f32, v: f32| if v > m { v } else { m };
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for k in 0..LANES {
            acc[k] = mx(acc[k], c[k]);
        }
    }
    acc.iter()
        .chain(tail)
        .fold(f32::NEG_INFINITY, |m, &v| mx(m, v))
}

/// Causal softmax of `scale · x` over rows of length `s`; row `r` is query `r mod t`, which sees
/// the first `r mod t + s − t + 1` keys. Masked outputs are 0.
pub(crate) fn causal_softmax(x: &[f32], t: usize, s: usize, scale: f32) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    if s == 0 {
        return out;
    }
    let per = rows_per_task(s) * s;
    out.par_chunks_mut(per)
        .zip(x.par_chunks(per))
        .enumerate()
        .for_each(|(task, (o, xi))| {
            let first_row = task * (per / s);
            for (k, (orow, xrow)) in o.chunks_mut(s).zip(xi.chunks(s)).enumerate() {
                let q = (first_row + k) % t;
                let seen = (q + s - t + 1).min(s);
                let (orow, xrow) = (&mut orow[..seen], &xrow[..seen]);
                let m = row_max(xrow) * scale;
                for (o, &v) in orow.iter_mut().zip(xrow.iter()) {
                    *o = exp_nonpos(v * scale - m);
                }
                let inv = 1.0 / lane_sum(orow, |e| e);
                orow.iter_mut().for_each(|o| *o *= inv);
            }
        });
    out
}

/// `scale · p ⊙ (g − rowsum(g ⊙ p))` over rows of length `s` (masked `p` = 0 gives 0).
pub(crate) fn causal_softmax_backward(p: &[f32], g: &[f32], s: usize, scale: f32) -> Vec<f32> {
    let mut out = vec![0.0f32; p.len()];
    if s == 0 {
        return out;
    }
    let per = rows_per_task(s) * s;
    out.par_chunks_mut(per)
        .zip(p.par_chunks(per).zip(g.par_chunks(per)))
        .for_each(|(o, (pi, gi))| {
            for ((orow, prow), grow) in o.chunks_mut(s).zip(pi.chunks(s)).zip(gi.chunks(s)) {
                let dot = lane_dot(prow, grow);
                for ((o, &p), &g) in orow.iter_mut().zip(prow).zip(grow) {
                    *o = scale * p * (g - dot);
                }
            }
        });
    out
}

/// `(max, Σ e^{x−max})` of one row.
#[inline(always)]
fn max_and_sum(row: &[f32]) -> (f32, f32) {
    let m = row_max(row);
    (m, lane_sum(row, |v| exp_nonpos(v - m)))
}

/// A target index checked against the vocabulary; the training data never holds one outside it
/// (the data pipeline checks tokens against the vocabulary), so this is an invariant.
fn target_index(y: i64, v: usize) -> usize {
    assert!(
        (0..v as i64).contains(&y),
        "cross_entropy: target {y} outside the vocabulary 0..{v}"
    );
    y as usize
}

/// `logsumexp(x_r) − x_r[y_r]` for each row of length `v`.
pub(crate) fn cross_entropy_rows(x: &[f32], y: &[i64], v: usize) -> Vec<f32> {
    x.par_chunks(v.max(1))
        .zip(y.par_iter())
        .with_min_len(rows_per_task(v))
        .map(|(row, &yi)| {
            let (m, sum) = max_and_sum(row);
            m + sum.ln() - row[target_index(yi, v)]
        })
        .collect()
}

/// `g_r · (softmax(x_r) − onehot(y_r))` for each row of length `v`.
///
/// Recomputes each row's max and `Σ e^{x−max}` rather than keeping the forward's logsumexp: an
/// extension op returns one tensor, and the extra read pass (vectorised exp) costs a few ms of
/// the 40 ms this op pair takes at the bench's `[2048, 4096]` (benches/README.md).
pub(crate) fn cross_entropy_rows_backward(x: &[f32], y: &[i64], g: &[f32], v: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    if v == 0 {
        return out;
    }
    out.par_chunks_mut(v)
        .zip(x.par_chunks(v).zip(y.par_iter().zip(g.par_iter())))
        .with_min_len(rows_per_task(v))
        .for_each(|(orow, (row, (&yi, &gi)))| {
            let (m, sum) = max_and_sum(row);
            let lse = m + sum.ln();
            for (o, &xv) in orow.iter_mut().zip(row) {
                *o = gi * exp_nonpos(xv - lse);
            }
            orow[target_index(yi, v)] -= gi;
        });
    out
}
