//! The V-step of additive vector quantization (AQLM codes; algorithms.md §4.2 step 5): the
//! `⌈τ·n⌉` tiles (row, group) whose decode is farthest from the target get new codes from an
//! L2 beam search towards `T_tile / s_r`, starting from their current codes.
//!
//! The beam search is the official `beam_search_l2` one (stochastic rounding off, no forced
//! update, codebooks in their natural order): with one codebook and beam 1 the exact nearest
//! codeword `argmin_k ‖c_k‖² − 2⟨t, c_k⟩`; otherwise, for each codebook `m` in turn, every
//! hypothesis puts its own `m`-th codeword back into its residual, scores all `K` codewords
//! (`‖r‖² − 2⟨r, c⟩ + ‖c‖²`, the `‖r‖²` term dropped at beam 1 where it is constant), and the
//! best `beam` (hypothesis, codeword) pairs survive (one at the last codebook). Ties go to the
//! lower (hypothesis, code) index. Scores are f32 with dot products summed left to right; the
//! fixture test (tests/fixtures/pv, `tools/pv_reference.py`) checks the codes match PyTorch's.

use super::scalar::VStepStats;
use super::select::{budget, top_k};

/// An AQLM weight on the host: `codes [rows, cols/g, M]`, `codebooks [M, K, g]`, `scales [rows]`.
#[derive(Debug, Clone, PartialEq)]
pub struct VqHost {
    /// Output rows.
    pub rows: usize,
    /// Input columns.
    pub cols: usize,
    /// Codebooks M.
    pub m: usize,
    /// Entries per codebook K.
    pub k: usize,
    /// Group size g.
    pub group: usize,
    /// Codes, `[rows, cols/g, M]`.
    pub codes: Vec<u32>,
    /// Codebooks, `[M, K, g]`.
    pub codebooks: Vec<f32>,
    /// Row scales, `[rows]`.
    pub scales: Vec<f32>,
}

impl VqHost {
    fn entry(&self, m: usize, k: usize) -> &[f32] {
        let o = (m * self.k + k) * self.group;
        &self.codebooks[o..o + self.group]
    }

    /// Tiles `rows · cols/g`.
    pub fn tiles(&self) -> usize {
        self.rows * self.cols / self.group
    }

    /// The decoded weight `[rows, cols]`: `s_r · Σ_m C_m[b_m]` (sum in codebook order, then the
    /// scale), the f32 order of `lowbit_nn::VqCodes::decode`.
    pub fn decode(&self) -> Vec<f32> {
        let gpr = self.cols / self.group;
        let mut out = vec![0f32; self.rows * self.cols];
        for t in 0..self.tiles() {
            let r = t / gpr;
            let dst = &mut out[t * self.group..(t + 1) * self.group];
            for m in 0..self.m {
                let c = self.codes[t * self.m + m] as usize;
                let e = self.entry(m, c);
                if m == 0 {
                    dst.copy_from_slice(e);
                } else {
                    dst.iter_mut().zip(e).for_each(|(d, &v)| *d += v);
                }
            }
            dst.iter_mut().for_each(|d| *d *= self.scales[r]);
        }
        out
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0, |s, (&x, &y)| s + x * y)
}

/// New codes of one tile for reference `t` (already divided by the row scale).
fn beam_search(w: &VqHost, t: &[f32], prev: &[u32], beam: usize, norms: &[f32]) -> Vec<u32> {
    let (m_all, k_all) = (w.m, w.k);
    if m_all == 1 && beam <= 1 {
        let mut best = (0u32, f32::INFINITY);
        for (k, &n) in norms.iter().enumerate().take(k_all) {
            let s = -2.0 * dot(t, w.entry(0, k)) + n;
            if s < best.1 {
                best = (k as u32, s);
            }
        }
        return vec![best.0];
    }
    // Hypotheses: (codes, residual t − Σ_m C_m[b_m]).
    let mut residual = t.to_vec();
    for (m, &c) in prev.iter().enumerate() {
        residual
            .iter_mut()
            .zip(w.entry(m, c as usize))
            .for_each(|(r, &v)| *r -= v);
    }
    let mut hyps: Vec<(Vec<u32>, Vec<f32>)> = vec![(prev.to_vec(), residual)];
    for m in 0..m_all {
        let last = m + 1 == m_all;
        let keep = if last { 1 } else { beam.max(1) };
        let mut cand: Vec<(f32, usize, usize)> = Vec::with_capacity(hyps.len() * k_all);
        let mut opened = Vec::with_capacity(hyps.len());
        for (h, (codes, res)) in hyps.iter().enumerate() {
            let mut r = res.clone();
            r.iter_mut()
                .zip(w.entry(m, codes[m] as usize))
                .for_each(|(r, &v)| *r += v);
            let rn = if beam > 1 { dot(&r, &r) } else { 0.0 };
            for k in 0..k_all {
                let s = if beam > 1 {
                    rn - 2.0 * dot(&r, w.entry(m, k)) + norms[m * k_all + k]
                } else {
                    -2.0 * dot(&r, w.entry(m, k)) + norms[m * k_all + k]
                };
                cand.push((s, h, k));
            }
            opened.push(r);
        }
        // Stable on (score, flat index h·K + k): candidates are pushed in flat order.
        cand.sort_by(|a, b| a.0.total_cmp(&b.0));
        cand.truncate(keep);
        hyps = cand
            .into_iter()
            .map(|(_, h, k)| {
                let mut codes = hyps[h].0.clone();
                codes[m] = k as u32;
                let mut r = opened[h].clone();
                if !last {
                    r.iter_mut().zip(w.entry(m, k)).for_each(|(r, &v)| *r -= v);
                }
                (codes, r)
            })
            .collect();
    }
    hyps.swap_remove(0).0
}

/// One V-step of `w` towards `target` (`rows · cols`) with beam width `beam`, changing the codes
/// of at most `⌈τ·tiles⌉` tiles; returns the selected tiles (flat `r · cols/g + j`, priority
/// order) and the counts (a tile counts as changed if any of its M codes did).
pub fn vq_vstep(w: &mut VqHost, target: &[f32], tau: f64, beam: usize) -> (Vec<usize>, VStepStats) {
    debug_assert_eq!(target.len(), w.rows * w.cols);
    let (g, gpr, tiles) = (w.group, w.cols / w.group, w.tiles());
    let current = w.decode();
    let score: Vec<f32> = (0..tiles)
        .map(|t| {
            let (a, b) = (&target[t * g..(t + 1) * g], &current[t * g..(t + 1) * g]);
            a.iter()
                .zip(b)
                .fold(0.0f32, |s, (&x, &y)| s + (x - y) * (x - y))
        })
        .collect();
    let selected = top_k(&score, budget(tau, tiles));
    let norms: Vec<f32> = (0..w.m * w.k)
        .map(|i| {
            let e = &w.codebooks[i * g..(i + 1) * g];
            dot(e, e)
        })
        .collect();
    let mut changed = 0;
    for &t in &selected {
        let s = w.scales[t / gpr];
        let reference: Vec<f32> = target[t * g..(t + 1) * g].iter().map(|&x| x / s).collect();
        let prev = w.codes[t * w.m..(t + 1) * w.m].to_vec();
        let new = beam_search(w, &reference, &prev, beam, &norms);
        if new != prev {
            changed += 1;
            w.codes[t * w.m..(t + 1) * w.m].copy_from_slice(&new);
        }
    }
    let stats = VStepStats {
        groups: tiles,
        selected: selected.len(),
        changed,
    };
    (selected, stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(m: usize, k: usize) -> VqHost {
        let (rows, cols, group) = (4, 16, 4);
        let cb: Vec<f32> = (0..m * k * group)
            .map(|i| (((i * 7919) % 97) as f32 / 48.0) - 1.0)
            .collect();
        VqHost {
            rows,
            cols,
            m,
            k,
            group,
            codes: (0..rows * cols / group * m)
                .map(|i| (i % k) as u32)
                .collect(),
            codebooks: cb,
            scales: vec![0.5, 1.0, 2.0, 1.5],
        }
    }

    /// With beam = K the two-codebook search is exhaustive: it finds the best pair.
    #[test]
    fn full_beam_is_the_brute_force_optimum() {
        let w = toy(2, 8);
        let t = [0.3f32, -0.7, 1.1, 0.2];
        let norms: Vec<f32> = (0..16)
            .map(|i| dot(w.entry(i / 8, i % 8), w.entry(i / 8, i % 8)))
            .collect();
        let got = beam_search(&w, &t, &[0, 0], 8, &norms);
        let err = |a: usize, b: usize| -> f32 {
            (0..4)
                .map(|d| t[d] - w.entry(0, a)[d] - w.entry(1, b)[d])
                .map(|e| e * e)
                .sum()
        };
        let best = (0..64)
            .map(|i| err(i / 8, i % 8))
            .fold(f32::INFINITY, f32::min);
        assert!(err(got[0] as usize, got[1] as usize) <= best + 1e-6);
    }

    /// τ = 0 changes nothing; τ = 1 with one codebook gives every tile its nearest codeword.
    #[test]
    fn tau_zero_and_nearest_codeword() {
        let mut w = toy(1, 8);
        let before = w.codes.clone();
        let t: Vec<f32> = (0..64)
            .map(|i| ((i * 13) % 17) as f32 / 8.0 - 1.0)
            .collect();
        let (_, s) = vq_vstep(&mut w, &t, 0.0, 1);
        assert_eq!((s.selected, s.changed, &w.codes), (0, 0, &before));
        let (_, s) = vq_vstep(&mut w, &t, 1.0, 1);
        assert_eq!(s.selected, 16);
        let d = w.decode();
        for tile in 0..16 {
            let sc = w.scales[tile / 4];
            let e =
                |v: &[f32]| -> f32 { (0..4).map(|j| (t[tile * 4 + j] - sc * v[j]).powi(2)).sum() };
            let best = (0..8)
                .map(|k| e(w.entry(0, k)))
                .fold(f32::INFINITY, f32::min);
            let got: f32 = (0..4)
                .map(|j| (t[tile * 4 + j] - d[tile * 4 + j]).powi(2))
                .sum();
            assert!(got <= best * (1.0 + 1e-5) + 1e-7, "tile {tile}");
        }
    }
}
