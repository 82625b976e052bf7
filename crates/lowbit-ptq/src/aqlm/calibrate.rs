//! The outer alternating loop of AQLM layer calibration (paper §3, Algorithm 1: alternate
//! the code update (beam search) and the codebook update (Adam) until the loss stops
//! improving; official `aq_engine.py` `AQEngine.quantize`; reference choice 8).

use super::adam::{AdamState, GradXtx, adam_steps_inner, symmetric64};
use super::beam::{beam_pass, natural_order};
use super::kmeans::init_residual_kmeans;
use super::objective::{decode_unchecked, residual};
use super::options::{AqlmOptions, AqlmResult, EpochRecord, VqWeight, check_problem};
use crate::PtqError;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// AQLM of one linear layer: residual k-means init, then [`calibrate`].
///
/// `w` is `[rows, cols]` (d_out × d_in, row-major), `xtx = XᵀX/n` `[cols, cols]` over the
/// layer's calibration inputs (the official `AQEngine.add_batch` mean; GPTQ's
/// [`crate::hessian`] is twice that).
pub fn aqlm(
    w: &[f32],
    rows: usize,
    cols: usize,
    xtx: &[f32],
    opts: &AqlmOptions,
) -> Result<AqlmResult, PtqError> {
    opts.validate()?;
    check_problem(w, rows, cols, xtx, opts.spec.group)?;
    let start = init_residual_kmeans(
        w,
        rows,
        cols,
        opts.spec,
        opts.kmeans_iters,
        opts.kmeans_init,
        opts.seed,
    )?;
    calibrate(w, xtx, start.weight, opts)
}

/// `shuffle`: the official AQEngine's order, groups shuffled and within each group the
/// codebooks (`random.Random(seed)`), here from ChaCha8 (stream 2, one draw sequence per run).
fn shuffled_order(groups: usize, mm: usize, rng: &mut ChaCha8Rng) -> Vec<(usize, usize)> {
    let mut shuffle = |v: &mut Vec<usize>| {
        for i in (1..v.len()).rev() {
            let r = ((rng.next_u64() as u128 * (i + 1) as u128) >> 64) as usize;
            v.swap(i, r);
        }
    };
    let mut js: Vec<usize> = (0..groups).collect();
    shuffle(&mut js);
    let mut out = Vec::with_capacity(groups * mm);
    for j in js {
        let mut ms: Vec<usize> = (0..mm).collect();
        shuffle(&mut ms);
        out.extend(ms.into_iter().map(|m| (j, m)));
    }
    out
}

/// The alternating loop from a given start (codes, codebooks, scales): per epoch,
/// `steps_per_epoch` Adam steps on codebooks and scales — at step 0 the loss is compared with
/// the best start-of-epoch loss so far and the loop ends if `loss / best > 1 − tol` — then one
/// beam-search pass over the codes. Adam first, then the search: the official order.
pub fn calibrate(
    w: &[f32],
    xtx: &[f32],
    start: VqWeight,
    opts: &AqlmOptions,
) -> Result<AqlmResult, PtqError> {
    opts.validate()?;
    start.check()?;
    if start.spec != opts.spec {
        return Err(PtqError::InvalidOption {
            reason: format!("start is {} but the options say {}", start.spec, opts.spec),
        });
    }
    let (rows, cols) = (start.rows, start.cols);
    check_problem(w, rows, cols, xtx, opts.spec.group)?;
    let xsym = symmetric64(xtx, cols);
    let xg = GradXtx::new(xtx, cols, opts.f32_gemm);
    let mut v = start;
    let obj_init = residual(w, &decode_unchecked(&v), cols, &xsym)
        .rows_obj
        .iter()
        .sum();
    let mut adam = AdamState::new(&v, opts.lr, opts.betas);
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    rng.set_stream(2);
    let natural = natural_order(v.groups(), opts.spec.num_codebooks);
    let mut prev_best = f64::INFINITY;
    let (mut epochs, mut trace) = (Vec::new(), Vec::new());
    for _ in 0..opts.max_epochs {
        let tol = opts.relative_tolerance;
        let (losses, stopped) =
            adam_steps_inner(w, &xg, &mut v, &mut adam, opts.steps_per_epoch, |loss| {
                if let Some(t) = tol {
                    if loss / prev_best > 1.0 - t {
                        return true;
                    }
                    prev_best = prev_best.min(loss);
                }
                false
            });
        // with no Adam steps there is no step-0 loss (and, as in the official loop, no
        // tolerance test); the pass below reports the objective instead
        let obj_start = losses.first().map(|l| l * rows as f64);
        if stopped {
            epochs.push(EpochRecord {
                obj_start: obj_start.unwrap_or(f64::NAN),
                stopped_by_tolerance: true,
                obj_after_adam: None,
                search: None,
            });
            break;
        }
        let order = if opts.shuffle {
            shuffled_order(v.groups(), opts.spec.num_codebooks, &mut rng)
        } else {
            natural.clone()
        };
        let pass = beam_pass(w, xtx, &xsym, &mut v, opts.beam_size, &order);
        trace.push(pass.after);
        epochs.push(EpochRecord {
            obj_start: obj_start.unwrap_or(pass.before),
            stopped_by_tolerance: false,
            obj_after_adam: Some(pass.before),
            search: Some(pass),
        });
    }
    let w_hat = decode_unchecked(&v);
    Ok(AqlmResult {
        spec: v.spec,
        rows,
        cols,
        codes: v.codes,
        codebooks: v.codebooks,
        scales: v.scales,
        w_hat,
        trace,
        obj_init,
        epochs,
    })
}
