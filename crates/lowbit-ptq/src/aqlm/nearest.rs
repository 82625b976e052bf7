//! The two inner kernels of AQLM: candidate scores of every codebook entry
//! `score[k] = α·n[k] + Σ_i a_i·C[k][i]` (k-means: α = 1, n = ‖c‖², a = −2x; beam search:
//! α = s², n = c XᵀX_jj cᵀ, a = −2s·(R XᵀX[:, j]) — the expansion of the official
//! `_beam_search_squared_errors`), and the dot product.
//!
//! The codebook is stored transposed, `[G, K]`, so every line of the score loop is an
//! independent fused multiply-add per k that the compiler vectorises. Every multiply-add is an
//! explicit `mul_add` (one rounding, defined bit for bit on every platform) and no reduction is
//! reordered between the SIMD and the plain build, so both give the same bits; AVX2+FMA is only
//! picked at run time for speed (half the instructions of a separate multiply and add).

/// One scoring query: `score[k] = alpha · n[k] + Σ_i a[i] · ct[i·K + k]`.
pub(crate) struct Query<'a> {
    pub alpha: f32,
    pub a: &'a [f32],
}

/// Codebook entries scored per chunk (`KC` f32 per query stay in L1 while the `G` lines of
/// the transposed codebook chunk are reused by up to `QB` queries).
const KC: usize = 512;
const QB: usize = 8;

#[inline(always)]
fn score_chunk(ct: &[f32], n: &[f32], k: usize, lo: usize, q: &Query, buf: &mut [f32]) {
    let len = buf.len();
    for (b, &v) in buf.iter_mut().zip(&n[lo..lo + len]) {
        *b = q.alpha * v;
    }
    for (i, &ai) in q.a.iter().enumerate() {
        let line = &ct[i * k + lo..i * k + lo + len];
        for (b, &c) in buf.iter_mut().zip(line) {
            *b = ai.mul_add(c, *b);
        }
    }
}

#[inline(always)]
fn argmin_generic(ct: &[f32], n: &[f32], k: usize, queries: &[Query], out: &mut [(u32, f32)]) {
    let k8 = k / 8 * 8;
    for (qs, os) in queries.chunks(QB).zip(out.chunks_mut(QB)) {
        // per query and lane: the best score and its entry; the 8 lanes of an entry block and
        // the accumulators stay in registers (no score buffer), and a block of the transposed
        // codebook is reused by up to QB queries while it is in L1
        let mut bv = [[f32::INFINITY; 8]; QB];
        let mut bi = [[0u32; 8]; QB];
        for kb in (0..k8).step_by(8) {
            let nn = &n[kb..kb + 8];
            for (q, (bv, bi)) in qs.iter().zip(bv.iter_mut().zip(bi.iter_mut())) {
                let mut acc = [0f32; 8];
                for l in 0..8 {
                    acc[l] = q.alpha * nn[l];
                }
                for (i, &ai) in q.a.iter().enumerate() {
                    let line = &ct[i * k + kb..i * k + kb + 8];
                    for l in 0..8 {
                        acc[l] = ai.mul_add(line[l], acc[l]);
                    }
                }
                for l in 0..8 {
                    // strict <: within a lane the earlier entry wins a tie
                    if acc[l] < bv[l] {
                        bv[l] = acc[l];
                        bi[l] = (kb + l) as u32;
                    }
                }
            }
        }
        for (q, ((o, bv), bi)) in qs.iter().zip(os.iter_mut().zip(&bv).zip(&bi)) {
            let mut best = (0u32, f32::INFINITY);
            for l in 0..8 {
                // across lanes: the lowest score, ties → the lowest entry (reference 4b, 5)
                if bv[l] < best.1 || (bv[l] == best.1 && bi[l] < best.0) {
                    best = (bi[l], bv[l]);
                }
            }
            if k8 < k {
                let mut buf = [0f32; 8];
                let tail = &mut buf[..k - k8];
                score_chunk(ct, n, k, k8, q, tail);
                for (t, &v) in tail.iter().enumerate() {
                    if v < best.1 {
                        best = ((k8 + t) as u32, v);
                    }
                }
            }
            *o = best;
        }
    }
}

#[inline(always)]
fn scores_generic(ct: &[f32], n: &[f32], k: usize, q: &Query, out: &mut [f32]) {
    for lo in (0..k).step_by(KC) {
        let len = KC.min(k - lo);
        score_chunk(ct, n, k, lo, q, &mut out[lo..lo + len]);
    }
}

#[inline(always)]
fn dot_generic(a: &[f32], b: &[f32]) -> f32 {
    // eight independent partial sums (vectorisable), combined in a fixed order
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] = x[l].mul_add(y[l], acc[l]);
        }
    }
    let mut tail = 0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail = x.mul_add(*y, tail);
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::Query;

    /// [`super::argmin_generic`] with explicit vectors: the same fused multiply-adds in the
    /// same order (so the same bits), the compare-and-select of the running best branch-free.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn argmin(
        ct: &[f32],
        n: &[f32],
        k: usize,
        queries: &[Query],
        out: &mut [(u32, f32)],
    ) {
        let g = queries.first().map_or(0, |q| q.a.len());
        if k % 8 != 0
            || n.len() < k
            || ct.len() < g * k
            || queries.iter().any(|q| q.a.len() != g)
            || out.len() < queries.len()
        {
            return super::argmin_generic(ct, n, k, queries, out);
        }
        // SAFETY: the lengths were checked above (every load reads 8 floats at kb + i·k with
        // kb + 8 ≤ k, i < g).
        unsafe {
            match g {
                4 => argmin_g::<4>(ct, n, k, queries, out),
                8 => argmin_g::<8>(ct, n, k, queries, out),
                16 => argmin_g::<16>(ct, n, k, queries, out),
                _ => super::argmin_generic(ct, n, k, queries, out),
            }
        }
    }

    /// Entries per chunk: the chunk of the transposed codebook (G·KC floats) stays in L2 while
    /// every query of the block sweeps it.
    const KC: usize = 2048;

    /// The argmin for a group size known at compile time: the query's G coefficients stay
    /// broadcast in registers for a whole chunk of entries, and per query only the running
    /// best (value, index) vectors are loaded and stored once per chunk.
    ///
    /// # Safety
    /// AVX2 and FMA; `k % 8 == 0`, `n.len() ≥ k`, `ct.len() ≥ G·k`, every `q.a.len() == G`,
    /// `out.len() ≥ queries.len()`.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn argmin_g<const G: usize>(
        ct: &[f32],
        n: &[f32],
        k: usize,
        queries: &[Query],
        out: &mut [(u32, f32)],
    ) {
        use std::arch::x86_64::*;
        // SAFETY: see the function's contract.
        unsafe {
            let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            let mut bv = vec![_mm256_set1_ps(f32::INFINITY); queries.len()];
            let mut bi = vec![_mm256_setzero_si256(); queries.len()];
            for lo in (0..k).step_by(KC) {
                let hi = (lo + KC).min(k);
                for (q, (bvq, biq)) in queries.iter().zip(bv.iter_mut().zip(bi.iter_mut())) {
                    let mut av = [_mm256_setzero_ps(); G];
                    for (v, &x) in av.iter_mut().zip(q.a) {
                        *v = _mm256_set1_ps(x);
                    }
                    let alpha = _mm256_set1_ps(q.alpha);
                    let (mut best, mut besti) = (*bvq, *biq);
                    for kb in (lo..hi).step_by(8) {
                        let mut acc = _mm256_mul_ps(alpha, _mm256_loadu_ps(n.as_ptr().add(kb)));
                        for (i, &a) in av.iter().enumerate() {
                            let line = _mm256_loadu_ps(ct.as_ptr().add(i * k + kb));
                            acc = _mm256_fmadd_ps(a, line, acc);
                        }
                        let idx = _mm256_castsi256_ps(_mm256_add_epi32(
                            _mm256_set1_epi32(kb as i32),
                            lane,
                        ));
                        let lt = _mm256_cmp_ps::<_CMP_LT_OQ>(acc, best);
                        best = _mm256_blendv_ps(best, acc, lt);
                        besti = _mm256_castps_si256(_mm256_blendv_ps(
                            _mm256_castsi256_ps(besti),
                            idx,
                            lt,
                        ));
                    }
                    *bvq = best;
                    *biq = besti;
                }
            }
            for (o, (bv, bi)) in out.iter_mut().zip(bv.iter().zip(&bi)) {
                let (mut v, mut ix) = ([0f32; 8], [0u32; 8]);
                _mm256_storeu_ps(v.as_mut_ptr(), *bv);
                _mm256_storeu_si256(ix.as_mut_ptr().cast(), *bi);
                let mut best = (0u32, f32::INFINITY);
                for l in 0..8 {
                    // the lowest score, ties → the lowest entry (reference 4b, 5)
                    if v[l] < best.1 || (v[l] == best.1 && ix[l] < best.0) {
                        best = (ix[l], v[l]);
                    }
                }
                *o = best;
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn scores(ct: &[f32], n: &[f32], k: usize, q: &Query, out: &mut [f32]) {
        super::scores_generic(ct, n, k, q, out)
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        super::dot_generic(a, b)
    }
}

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// For each query, the index of the lowest score over all `k` entries (ties → lowest index)
/// and that score. `ct` is the codebook `[G, k]`, `n` the per-entry term `[k]`.
pub(crate) fn argmin_block(
    ct: &[f32],
    n: &[f32],
    k: usize,
    _g: usize,
    queries: &[Query],
    out: &mut [(u32, f32)],
) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 and FMA were detected at run time.
        return unsafe { avx2::argmin(ct, n, k, queries, out) };
    }
    argmin_generic(ct, n, k, queries, out)
}

/// All `k` scores of one query into `out [k]`.
pub(crate) fn scores(ct: &[f32], n: &[f32], k: usize, q: &Query, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 and FMA were detected at run time.
        return unsafe { avx2::scores(ct, n, k, q, out) };
    }
    scores_generic(ct, n, k, q, out)
}

/// `Σ a_t b_t` in f32 with eight partial sums of fused multiply-adds (same bits with and
/// without AVX2).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 and FMA were detected at run time.
        return unsafe { avx2::dot(a, b) };
    }
    dot_generic(a, b)
}
