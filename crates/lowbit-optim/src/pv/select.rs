//! Which code groups a V-step may change: the `⌈τ·n⌉` with the largest proposed change
//! (algorithms.md §4.2 step 5; the official `beam_search_optimal_codes` with
//! `max_update_fraction = τ`, `code_selection_temperature = 0`).
//!
//! The official code takes `torch.topk(d, k, sorted=True)`; PyTorch leaves the order of equal
//! scores unspecified, lowbit breaks ties by the lower index so a run is reproducible.

use std::cmp::Ordering;

/// How many of `n` groups a step with fraction `tau` may change: `⌈τ·n⌉` (at least 1 when
/// `τ > 0` and `n > 0`; 0 when `τ = 0`), at most `n`.
pub fn budget(tau: f64, n: usize) -> usize {
    if tau <= 0.0 || n == 0 {
        return 0;
    }
    ((tau * n as f64).ceil() as usize).clamp(1, n)
}

/// Indices of the `k` largest `scores`, largest first, ties by the lower index; when `k` covers
/// every entry, all of them in index order. Entries that are NaN or `-∞` (groups that cannot
/// change, e.g. pruned weights) are never chosen, so fewer than `k` may come back.
pub fn top_k(scores: &[f32], k: usize) -> Vec<usize> {
    let order = |a: &usize, b: &usize| -> Ordering {
        scores[*b]
            .partial_cmp(&scores[*a])
            .unwrap_or(Ordering::Equal)
            .then(a.cmp(b))
    };
    let mut idx: Vec<usize> = (0..scores.len())
        .filter(|&i| scores[i] > f32::NEG_INFINITY)
        .collect();
    let k = k.min(idx.len());
    if k == 0 {
        return Vec::new();
    }
    if k == idx.len() {
        // Every group is chosen: no ranking (the official code skips it at τ = 1 too).
        return idx;
    }
    if k < idx.len() {
        idx.select_nth_unstable_by(k - 1, order);
        idx.truncate(k);
    }
    idx.sort_unstable_by(order);
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_the_ceiling_and_tau_zero_is_nothing() {
        assert_eq!(budget(0.0, 100), 0);
        assert_eq!(budget(0.01, 100), 1);
        assert_eq!(budget(0.011, 100), 2);
        assert_eq!(budget(1e-9, 100), 1);
        assert_eq!(budget(1.0, 100), 100);
        assert_eq!(budget(2.0, 7), 7);
    }

    #[test]
    fn top_k_matches_a_full_sort() {
        let s: Vec<f32> = (0..97).map(|i| ((i * 37) % 11) as f32 - 3.0).collect();
        let mut all: Vec<usize> = (0..s.len()).collect();
        all.sort_by(|&a, &b| s[b].partial_cmp(&s[a]).unwrap().then(a.cmp(&b)));
        for k in [0, 1, 5, 33, 96] {
            assert_eq!(top_k(&s, k), all[..k].to_vec(), "k = {k}");
        }
        let every: Vec<usize> = (0..97).collect();
        assert_eq!(top_k(&s, 97), every);
        assert_eq!(top_k(&s, 200), every);
        let blocked = [1.0, f32::NEG_INFINITY, 3.0, f32::NAN];
        assert_eq!(top_k(&blocked, 1), vec![2]);
        assert_eq!(top_k(&blocked, 4), vec![0, 2]);
    }
}
