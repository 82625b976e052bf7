//! Residual k-means initialisation (paper §3, "we initialise the codebooks with residual
//! k-means"; official `src/aq.py` `QuantizedWeight.__init__` / `init_aq_kmeans`, `src/kmeans.py`
//! `fit_kmeans`; reference choices 3–4).

use super::nearest::{Query, argmin_block};
use super::objective::ROW_CHUNK;
use super::options::{KmeansInit, VqWeight, check_cols};
use super::spec::VqSpec;
use crate::PtqError;
use crate::error::{check_finite, check_shape};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rayon::prelude::*;
use std::collections::HashSet;

/// `s_r = ‖W_r‖₂ + 1e-9` (official scale_nbits = 0 init).
const SCALE_EPS: f32 = 1e-9;

/// What one k-means run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmeansInfo {
    /// Lloyd updates performed.
    pub updates: usize,
    /// Stopped because an assignment repeated (an exact fixed point), not by the update limit.
    pub converged: bool,
    /// Centroids with no point in the final assignment.
    pub empty_clusters: usize,
    /// Data ids of the initial centroids.
    pub init_ids: Vec<usize>,
}

/// The residual k-means start of AQLM.
#[derive(Debug, Clone, PartialEq)]
pub struct KmeansStart {
    /// Codes, codebooks and scales.
    pub weight: VqWeight,
    /// One record per codebook.
    pub info: Vec<KmeansInfo>,
}

/// Nearest centroid of every point (score ‖c‖² − 2⟨x, c⟩, the official decision
/// argmax ⟨x,c⟩ − ½‖c‖²; ties → lowest index), parallel over fixed chunks of points.
fn assign(data: &[f32], g: usize, centroids: &[f32], k: usize, out: &mut [u32]) {
    let ct = transpose(centroids, k, g);
    let cn: Vec<f32> = centroids
        .chunks_exact(g)
        .map(|c| c.iter().map(|v| v * v).sum())
        .collect();
    out.par_chunks_mut(ROW_CHUNK * 8)
        .zip(data.par_chunks(ROW_CHUNK * 8 * g))
        .for_each(|(o, d)| {
            let mut coef = vec![0f32; d.len()];
            for (c, &x) in coef.iter_mut().zip(d) {
                *c = -2.0 * x;
            }
            let queries: Vec<Query> = coef
                .chunks_exact(g)
                .map(|a| Query { alpha: 1.0, a })
                .collect();
            let mut best = vec![(0u32, 0f32); queries.len()];
            argmin_block(&ct, &cn, k, g, &queries, &mut best);
            for (o, b) in o.iter_mut().zip(best) {
                *o = b.0;
            }
        });
}

/// `[k, g]` → `[g, k]`.
pub(crate) fn transpose(c: &[f32], k: usize, g: usize) -> Vec<f32> {
    let mut t = vec![0f32; k * g];
    for (kk, row) in c.chunks_exact(g).enumerate() {
        for (i, &v) in row.iter().enumerate() {
            t[i * k + kk] = v;
        }
    }
    t
}

/// Lloyd's algorithm on `data [N, g]` from the centroids `data[init_ids]` (reference choice
/// 4b–e): assignment, then means (f32 sums in data order, an empty cluster keeps its centroid,
/// as official `index_reduce_(mean, include_self=False)`), until an assignment repeats or
/// `iters` updates were made. Returns the centroids `[K, g]` and the final assignment.
pub(crate) fn kmeans(
    data: &[f32],
    g: usize,
    k: usize,
    iters: usize,
    init_ids: &[usize],
) -> (Vec<f32>, Vec<u32>, usize, bool) {
    let n = data.len() / g;
    let mut c: Vec<f32> = init_ids
        .iter()
        .flat_map(|&i| data[i * g..(i + 1) * g].iter().copied())
        .collect();
    let mut cur = vec![0u32; n];
    let mut prev: Option<Vec<u32>> = None;
    let mut updates = 0;
    loop {
        assign(data, g, &c, k, &mut cur);
        // DEVIATION (reference 4d): stop at an exact fixed point instead of the official
        // allclose(rtol 1e-6) test every 10th iteration, which no port can reproduce exactly.
        if prev.as_deref() == Some(&cur[..]) {
            return (c, cur, updates, true);
        }
        if updates == iters {
            return (c, cur, updates, false);
        }
        let mut sums = vec![0f32; k * g];
        let mut counts = vec![0u32; k];
        for (x, &a) in data.chunks_exact(g).zip(&cur) {
            let a = a as usize;
            counts[a] += 1;
            for (s, &v) in sums[a * g..(a + 1) * g].iter_mut().zip(x) {
                *s += v;
            }
        }
        for ((cc, s), &cnt) in c.chunks_exact_mut(g).zip(sums.chunks_exact(g)).zip(&counts) {
            if cnt > 0 {
                for (o, &v) in cc.iter_mut().zip(s) {
                    *o = v / cnt as f32;
                }
            }
        }
        updates += 1;
        prev = Some(cur.clone());
    }
}

/// Initial centroid ids (reference choice 4a): the candidates `⌊i·N/K⌋` (or K distinct ids
/// drawn by a partial Fisher–Yates shuffle), each moved to the next id (+1, +2, … mod N) while
/// its point equals an already chosen point exactly: from the second codebook on, the residual
/// of every singleton cluster is exactly 0 and equal centroids would tie exactly.
fn initial_ids(
    data: &[f32],
    g: usize,
    k: usize,
    rng: Option<&mut ChaCha8Rng>,
) -> Result<Vec<usize>, PtqError> {
    let n = data.len() / g;
    let cand: Vec<usize> = match rng {
        None => (0..k).map(|i| i * n / k).collect(),
        Some(rng) => {
            let mut ids: Vec<usize> = (0..n).collect();
            for i in 0..k {
                // multiply-shift: an unbiased-enough, platform-independent index in i..n
                let r = ((rng.next_u64() as u128 * (n - i) as u128) >> 64) as usize;
                ids.swap(i, i + r);
            }
            ids.truncate(k);
            ids
        }
    };
    // +0 and −0 are the same point (the reference compares Python floats)
    let key = |i: usize| -> Vec<u32> {
        data[i * g..(i + 1) * g]
            .iter()
            .map(|&v| if v == 0.0 { 0 } else { v.to_bits() })
            .collect()
    };
    let (mut chosen, mut seen, mut used) = (Vec::with_capacity(k), HashSet::new(), HashSet::new());
    for c in cand {
        let pick = (0..n)
            .map(|off| (c + off) % n)
            .find(|&i| !used.contains(&i) && !seen.contains(&key(i)));
        let Some(i) = pick else {
            return Err(PtqError::InvalidOption {
                reason: format!(
                    "k-means needs K = {k} distinct weight groups; the layer has fewer (is it constant?)"
                ),
            });
        };
        chosen.push(i);
        used.insert(i);
        seen.insert(key(i));
    }
    Ok(chosen)
}

/// Residual k-means init of AQLM: per-row scales `s_r = ‖W_r‖₂ + 1e-9`, then for
/// m = 0..M−1 k-means of the residual of `W/s` split into groups of G (in (row, group) order),
/// `C_m, b_m = kmeans(residual)`, `residual −= C_m[b_m]` (official `init_aq_kmeans`).
pub fn init_residual_kmeans(
    w: &[f32],
    rows: usize,
    cols: usize,
    spec: VqSpec,
    iters: usize,
    init: KmeansInit,
    seed: u64,
) -> Result<KmeansStart, PtqError> {
    VqSpec::new(spec.num_codebooks, spec.nbits, spec.group)?;
    check_shape("weight", w.len(), rows, cols)?;
    check_cols(cols, spec.group)?;
    check_finite("weight", w)?;
    let (g, k, m) = (spec.group, spec.codebook_size(), spec.num_codebooks);
    let j = cols / g;
    let n = rows * j;
    if k > n {
        return Err(PtqError::TooFewGroups {
            groups: n,
            codebook_size: k,
            group: g,
        });
    }
    let scales: Vec<f32> = w
        .chunks_exact(cols)
        .map(|r| (r.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt() as f32) + SCALE_EPS)
        .collect();
    let mut residual: Vec<f32> = w
        .chunks_exact(cols)
        .zip(&scales)
        .flat_map(|(r, &s)| r.iter().map(move |&v| v / s))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(1); // stream 1: k-means; the beam-search shuffles use others
    let mut codes = vec![0u32; n * m];
    let mut books = Vec::with_capacity(m * k * g);
    let mut info = Vec::with_capacity(m);
    for mm in 0..m {
        let r = match init {
            KmeansInit::Spaced => None,
            KmeansInit::Random => Some(&mut rng),
        };
        let ids = initial_ids(&residual, g, k, r)?;
        let (c, a, updates, converged) = kmeans(&residual, g, k, iters, &ids);
        let mut used = vec![false; k];
        for (p, &ai) in a.iter().enumerate() {
            codes[p * m + mm] = ai;
            used[ai as usize] = true;
            let cc = &c[ai as usize * g..(ai as usize + 1) * g];
            for (x, &v) in residual[p * g..(p + 1) * g].iter_mut().zip(cc) {
                *x -= v;
            }
        }
        books.extend_from_slice(&c);
        info.push(KmeansInfo {
            updates,
            converged,
            empty_clusters: used.iter().filter(|u| !**u).count(),
            init_ids: ids,
        });
    }
    let weight = VqWeight {
        spec,
        rows,
        cols,
        codes,
        codebooks: books,
        scales,
    };
    Ok(KmeansStart { weight, info })
}
