//! ROC-AUC and quantiles as scikit-learn's `roc_auc_score` and numpy's default (linear)
//! `quantile` compute them.

/// Area under the ROC curve of `scores` for labels `y` (true = positive): the Mann–Whitney
/// statistic with average ranks for ties; `None` when a class is absent.
pub fn roc_auc(scores: &[f64], y: &[bool]) -> Option<f64> {
    let n = scores.len().min(y.len());
    let pos = y[..n].iter().filter(|&&b| b).count();
    let neg = n - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their mean.
        let r = (i + j + 2) as f64 / 2.0;
        rank_sum += r * idx[i..=j].iter().filter(|&&k| y[k]).count() as f64;
        i = j + 1;
    }
    let u = rank_sum - (pos * (pos + 1)) as f64 / 2.0;
    Some(u / (pos as f64 * neg as f64))
}

/// The `q`-quantile of `v` by linear interpolation between order statistics (numpy's default);
/// `None` for an empty slice or q outside [0, 1].
pub fn quantile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let pos = q * (s.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(s.len() - 1);
    let f = pos - lo as f64;
    Some(s[lo] + f * (s[hi] - s[lo]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_pairs_with_half_credit_for_ties() {
        assert_eq!(roc_auc(&[0.1, 0.9], &[false, true]), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.1], &[false, true]), Some(0.0));
        assert_eq!(roc_auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        // Pairs (neg, pos): (0.1,0.35) win, (0.1,0.8) win, (0.4,0.35) lose, (0.4,0.8) win = 3/4.
        assert_eq!(
            roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]),
            Some(0.75)
        );
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn quantiles_interpolate_linearly() {
        let v = [3.0, 1.0, 2.0, 10.0];
        assert_eq!(quantile(&v, 0.0), Some(1.0));
        assert_eq!(quantile(&v, 1.0), Some(10.0));
        assert_eq!(quantile(&v, 0.5), Some(2.5));
        assert!((quantile(&v, 0.9).unwrap() - 7.9).abs() < 1e-12);
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&v, 1.5), None);
    }
}
