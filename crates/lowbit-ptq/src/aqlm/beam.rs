//! Beam search over the codes under the XᵀX-weighted objective (paper §3, "Phase 1: beam
//! search for codes", Eq. (4)–(5); official `src/beam_search_xtx.py`
//! `beam_search_optimal_codes` / `_beam_search_squared_errors`; reference choice 5).
//!
//! One pass visits every (input group j, codebook m) position once, starting from the current
//! codes (coordinate descent). Rows are independent (the objective is a sum over rows), so
//! each row keeps its own beam and rows run in parallel. For a hypothesis h whose code at (j, m)
//! is `c_old`, with `e = W_r − Ŵ_r` and `p_old = s·C_m[c_old]`, the residual without that part
//! is `R = e + p_old` (on group j) and replacing the code by k gives the row objective
//! `R XᵀX Rᵀ − 2s⟨C_m[k], R XᵀX[:, j]⟩ + s² C_m[k] XᵀX_jj C_m[k]ᵀ`: the first term is
//! `L_h + 2s⟨c_old, R XᵀX[:, j]⟩ − p_old XᵀX_jj p_oldᵀ` (the carried score `L_h`), the last is
//! precomputed once per position for all rows (the official code's codebook-norm term).

use super::nearest::{Query, argmin_block, dot, scores};
use super::objective::{ROW_CHUNK, decode_group, decode_unchecked, residual, to_f64};
use super::options::{BeamPass, VqWeight, check_problem};
use crate::PtqError;
use rayon::prelude::*;

/// One hypothesis of one row: its codes `[J, M]`, `e = W_r − Ŵ_r` and its carried objective.
#[derive(Clone)]
struct Hyp {
    codes: Vec<u32>,
    e: Vec<f32>,
    loss: f64,
}

/// Everything a pass shares between rows.
struct Ctx<'a> {
    w: &'a [f32],
    xtx: &'a [f32],
    /// XᵀX transposed: row `t` is column `t` of XᵀX (contiguous for the dots).
    xt: &'a [f32],
    v: &'a VqWeight,
    beam: usize,
}

/// The natural visiting order: groups j = 0, 1, …, within each the codebooks m = 0, 1, …
pub fn natural_order(groups: usize, num_codebooks: usize) -> Vec<(usize, usize)> {
    (0..groups)
        .flat_map(|j| (0..num_codebooks).map(move |m| (j, m)))
        .collect()
}

/// One beam-search pass over `order` (default [`natural_order`]), updating `v.codes` in place.
/// `xtx` is `[cols, cols]`. The exact f64 objective never rises: a row whose objective would
/// rise by f32 rounding keeps its previous codes ([`BeamPass::reverted`]).
pub fn beam_search(
    w: &[f32],
    xtx: &[f32],
    v: &mut VqWeight,
    beam_size: usize,
    order: Option<&[(usize, usize)]>,
) -> Result<BeamPass, PtqError> {
    v.check()?;
    check_problem(w, v.rows, v.cols, xtx, v.spec.group)?;
    if beam_size == 0 {
        return Err(PtqError::InvalidOption {
            reason: "beam_size must be ≥ 1".into(),
        });
    }
    let (j, m) = (v.groups(), v.spec.num_codebooks);
    let natural;
    let order = match order {
        Some(o) => {
            if let Some(&(bj, bm)) = o.iter().find(|&&(a, b)| a >= j || b >= m) {
                return Err(PtqError::InvalidOption {
                    reason: format!("position ({bj}, {bm}) outside {j} groups × {m} codebooks"),
                });
            }
            o
        }
        None => {
            natural = natural_order(j, m);
            &natural[..]
        }
    };
    Ok(beam_pass(w, xtx, &to_f64(xtx), v, beam_size, order))
}

/// XᵀX transposed.
pub(crate) fn transposed(xtx: &[f32], n: usize) -> Vec<f32> {
    let mut t = vec![0f32; n * n];
    for a in 0..n {
        for b in 0..n {
            t[b * n + a] = xtx[a * n + b];
        }
    }
    t
}

/// The pass itself, on validated inputs (`xtx64` = XᵀX as f64 for the exact objectives).
pub(crate) fn beam_pass(
    w: &[f32],
    xtx: &[f32],
    xtx64: &[f64],
    v: &mut VqWeight,
    beam: usize,
    order: &[(usize, usize)],
) -> BeamPass {
    let (rows, cols, spec) = (v.rows, v.cols, v.spec);
    let (g, k, mm) = (spec.group, spec.codebook_size(), spec.num_codebooks);
    let jm = v.groups() * mm;
    let w_hat = decode_unchecked(v);
    let before = residual(w, &w_hat, cols, xtx64).rows_obj;
    let xt = transposed(xtx, cols);
    // codebooks transposed to [G, K], one per m, for the vectorised score loop
    let cts: Vec<Vec<f32>> = (0..mm)
        .map(|m| super::kmeans::transpose(&v.codebooks[m * k * g..(m + 1) * k * g], k, g))
        .collect();
    let mut states: Vec<Vec<Hyp>> = (0..rows)
        .map(|r| {
            let e = w[r * cols..(r + 1) * cols]
                .iter()
                .zip(&w_hat[r * cols..(r + 1) * cols])
                .map(|(a, b)| a - b)
                .collect();
            vec![Hyp {
                codes: v.codes[r * jm..(r + 1) * jm].to_vec(),
                e,
                loss: before[r],
            }]
        })
        .collect();
    let ctx = Ctx {
        w,
        xtx,
        xt: &xt,
        v,
        beam,
    };
    let mut cn = vec![0f32; k];
    for &(j, m) in order {
        codeword_norms(&ctx, j, m, &mut cn);
        let ct = &cts[m];
        states
            .par_chunks_mut(ROW_CHUNK)
            .enumerate()
            .for_each(|(chunk, st)| {
                let r0 = chunk * ROW_CHUNK;
                if beam == 1 {
                    step_chunk_greedy(&ctx, r0, st, j, m, ct, &cn);
                } else {
                    let mut buf = Vec::new();
                    for (i, hyps) in st.iter_mut().enumerate() {
                        step_row_beam(&ctx, r0 + i, hyps, j, m, ct, &cn, &mut buf);
                    }
                }
            });
    }
    // the best hypothesis (index 0) of every row
    let old = v.codes.clone();
    for (r, hyps) in states.iter().enumerate() {
        v.codes[r * jm..(r + 1) * jm].copy_from_slice(&hyps[0].codes);
    }
    let mut after = residual(w, &decode_unchecked(v), cols, xtx64).rows_obj;
    // Guard (not in the official code): the unchanged code is always a candidate, so in exact
    // arithmetic no row gets worse; f32 scores could still pick a code that is worse by
    // rounding. Such a row keeps its old codes, which makes every pass monotone.
    let mut reverted = 0;
    for r in 0..rows {
        if after[r] > before[r] {
            v.codes[r * jm..(r + 1) * jm].copy_from_slice(&old[r * jm..(r + 1) * jm]);
            after[r] = before[r];
            reverted += 1;
        }
    }
    let changed = v.codes.iter().zip(&old).filter(|(a, b)| a != b).count();
    BeamPass {
        before: before.iter().sum(),
        after: after.iter().sum(),
        changed,
        reverted,
    }
}

/// `n[k] = C_m[k] XᵀX_jj C_m[k]ᵀ` for every entry k (f64 sums, stored f32), parallel over
/// fixed chunks of entries.
fn codeword_norms(ctx: &Ctx, j: usize, m: usize, cn: &mut [f32]) {
    let spec = ctx.v.spec;
    let (g, k, cols) = (spec.group, spec.codebook_size(), ctx.v.cols);
    let book = &ctx.v.codebooks[m * k * g..(m + 1) * k * g];
    let mut xss = vec![0f64; g * g];
    for a in 0..g {
        for b in 0..g {
            xss[a * g + b] = ctx.xtx[(j * g + a) * cols + j * g + b] as f64;
        }
    }
    cn.par_chunks_mut(1024)
        .zip(book.par_chunks(1024 * g))
        .for_each(|(o, c)| {
            for (o, c) in o.iter_mut().zip(c.chunks_exact(g)) {
                let mut s = 0f64;
                for a in 0..g {
                    let mut t = 0f64;
                    for b in 0..g {
                        t += xss[a * g + b] * c[b] as f64;
                    }
                    s += c[a] as f64 * t;
                }
                *o = s as f32;
            }
        });
}

/// For hypothesis `hyp` of row r at position (j, m): the query coefficients `a = −2s·R XᵀX[:, j]`
/// (into `a [G]`), and `(base, s²)` where `base = R XᵀX Rᵀ` is the carried score without the
/// part of codebook m, so that entry k scores `base + s²·n[k] + ⟨a, C_m[k]⟩`.
fn prepare(ctx: &Ctx, r: usize, hyp: &Hyp, j: usize, m: usize, a: &mut [f32]) -> (f64, f32) {
    let spec = ctx.v.spec;
    let (g, k, mm, cols) = (
        spec.group,
        spec.codebook_size(),
        spec.num_codebooks,
        ctx.v.cols,
    );
    let s = ctx.v.scales[r];
    let c_old = hyp.codes[j * mm + m] as usize;
    let c_old = &ctx.v.codebooks[(m * k + c_old) * g..(m * k + c_old + 1) * g];
    let mut p_old = [0f32; 64];
    let mut heap;
    let p_old: &mut [f32] = if g <= 64 {
        &mut p_old[..g]
    } else {
        heap = vec![0f32; g];
        &mut heap
    };
    for (p, &c) in p_old.iter_mut().zip(c_old) {
        *p = c * s;
    }
    let (mut old_norm, mut old_dot) = (0f64, 0f64);
    for (i, ai) in a.iter_mut().enumerate() {
        // column j·G+i of XᵀX, contiguous in the transposed copy
        let col = &ctx.xt[(j * g + i) * cols..(j * g + i + 1) * cols];
        let mut rx = dot(&hyp.e, col);
        let mut pp = 0f64;
        for (t, &p) in p_old.iter().enumerate() {
            rx += p * col[j * g + t];
            pp += p as f64 * col[j * g + t] as f64;
        }
        old_norm += p_old[i] as f64 * pp;
        old_dot += c_old[i] as f64 * rx as f64;
        *ai = -2.0 * s * rx;
    }
    (hyp.loss + 2.0 * s as f64 * old_dot - old_norm, s * s)
}

/// Advances the rows `r0..` of one chunk by position (j, m), beam size 1: every row's query,
/// then one blocked argmin over all of them (the codebook is streamed once per chunk).
#[allow(clippy::too_many_arguments)]
fn step_chunk_greedy(
    ctx: &Ctx,
    r0: usize,
    st: &mut [Vec<Hyp>],
    j: usize,
    m: usize,
    ct: &[f32],
    cn: &[f32],
) {
    let (g, k, mm) = (
        ctx.v.spec.group,
        ctx.v.spec.codebook_size(),
        ctx.v.spec.num_codebooks,
    );
    let mut coef = vec![0f32; st.len() * g];
    let mut pre = Vec::with_capacity(st.len());
    for (i, (hyps, a)) in st.iter().zip(coef.chunks_exact_mut(g)).enumerate() {
        pre.push(prepare(ctx, r0 + i, &hyps[0], j, m, a));
    }
    let qs: Vec<Query> = coef
        .chunks_exact(g)
        .zip(&pre)
        .map(|(a, &(_, alpha))| Query { alpha, a })
        .collect();
    let mut best = vec![(0u32, 0f32); st.len()];
    argmin_block(ct, cn, k, g, &qs, &mut best);
    for (i, ((hyps, &(code, delta)), &(base, _))) in st.iter_mut().zip(&best).zip(&pre).enumerate()
    {
        let hyp = &mut hyps[0];
        hyp.codes[j * mm + m] = code;
        hyp.loss = base + delta as f64;
        refresh(ctx, r0 + i, hyp, j);
    }
}

/// Advances one row's beam (size > 1) by position (j, m): all hypotheses × entries scored, the
/// `beam` lowest kept.
#[allow(clippy::too_many_arguments)]
fn step_row_beam(
    ctx: &Ctx,
    r: usize,
    hyps: &mut Vec<Hyp>,
    j: usize,
    m: usize,
    ct: &[f32],
    cn: &[f32],
    buf: &mut Vec<f32>,
) {
    let (g, k, mm) = (
        ctx.v.spec.group,
        ctx.v.spec.codebook_size(),
        ctx.v.spec.num_codebooks,
    );
    buf.resize(hyps.len() * k, 0.0);
    let mut a = vec![0f32; g];
    let mut base = Vec::with_capacity(hyps.len());
    for (h, hyp) in hyps.iter().enumerate() {
        let (b, alpha) = prepare(ctx, r, hyp, j, m, &mut a);
        base.push(b);
        scores(
            ct,
            cn,
            k,
            &Query { alpha, a: &a },
            &mut buf[h * k..(h + 1) * k],
        );
    }
    // top-`beam` of all hypotheses × entries, sorted by score; ties → lower hypothesis, then
    // lower entry (a stable sort of the flat index; the official topk leaves ties open)
    let keep = ctx.beam.min(hyps.len() * k);
    let mut top: Vec<(f64, usize)> = Vec::with_capacity(keep + 1);
    for (h, &b) in base.iter().enumerate() {
        for (kk, &d) in buf[h * k..(h + 1) * k].iter().enumerate() {
            let sc = b + d as f64;
            if top.len() < keep || sc < top[top.len() - 1].0 {
                let at = top.partition_point(|t| t.0 <= sc);
                top.insert(at, (sc, h * k + kk));
                top.truncate(keep);
            }
        }
    }
    let new: Vec<Hyp> = top
        .iter()
        .map(|&(sc, flat)| {
            let mut hyp = hyps[flat / k].clone();
            hyp.codes[j * mm + m] = (flat % k) as u32;
            hyp.loss = sc;
            refresh(ctx, r, &mut hyp, j);
            hyp
        })
        .collect();
    *hyps = new;
}

/// `e[group j] = W_r[group j] − Ŵ_r[group j]` from the hypothesis' codes (decode order).
fn refresh(ctx: &Ctx, r: usize, hyp: &mut Hyp, j: usize) {
    let spec = ctx.v.spec;
    let (g, mm, cols) = (spec.group, spec.num_codebooks, ctx.v.cols);
    let mut what = [0f32; 64];
    let mut heap;
    let out: &mut [f32] = if g <= 64 {
        &mut what[..g]
    } else {
        heap = vec![0f32; g];
        &mut heap
    };
    decode_group(
        &spec,
        &ctx.v.codebooks,
        &hyp.codes[j * mm..(j + 1) * mm],
        ctx.v.scales[r],
        out,
    );
    let wr = &ctx.w[r * cols + j * g..r * cols + (j + 1) * g];
    for ((e, &x), &y) in hyp.e[j * g..(j + 1) * g].iter_mut().zip(wr).zip(out.iter()) {
        *e = x - y;
    }
}
