//! Training the head as the official script does: split *prompts* (not rows) into train and
//! validation with a seed, fit the scaler on the training rows, fit one logistic regression per
//! C of the grid, keep the C with the best validation ROC-AUC (the first on ties), and tabulate
//! precision / recall / accuracy at thresholds placed at the 26 quantiles 0, 0.04, …, 1 of the
//! validation P(important).

use super::auc::{quantile, roc_auc};
use super::logreg::{LogReg, fit_logreg};
use super::scaler::Scaler;
use crate::error::JudgeError;
use burn::config::Config;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// The official C grid: 10^(−k/2) for k = 1..14, then 1, 3, 10, 50, 100.
pub fn official_c_grid() -> Vec<f64> {
    let mut g: Vec<f64> = (1..=14).map(|k| 10f64.powf(-(k as f64) / 2.0)).collect();
    g.extend([1.0, 3.0, 10.0, 50.0, 100.0]);
    g
}

/// How the head is trained.
#[derive(Config, Debug)]
pub struct HeadConfig {
    /// Fraction of prompts held out for validation (at least one prompt).
    #[config(default = 0.1)]
    pub val_fraction: f64,
    /// Seed of the prompt split (the official script uses 52).
    #[config(default = 52)]
    pub seed: u64,
    /// Regularisation strengths tried (default [`official_c_grid`]).
    #[config(default = "official_c_grid()")]
    pub c_grid: Vec<f64>,
    /// L-BFGS iterations per fit. sklearn stops at 100 and may warn that it did not converge;
    /// lowbit runs to the gradient tolerance (or until f64 shows no progress), so the fit is the
    /// objective's minimiser.
    #[config(default = 1000)]
    pub max_iter: u64,
    /// Gradient-norm tolerance of the 1/n-scaled objective.
    #[config(default = 1e-9)]
    pub tol: f64,
    /// Refit the chosen C on all rows (scaler included); the thresholds stay the validation ones.
    #[config(default = false)]
    pub refit_all: bool,
    /// Threshold quantiles: `n_thresholds` evenly spaced in [0, 1].
    #[config(default = 26)]
    pub n_thresholds: usize,
}

/// One row of the threshold table. "Important" is predicted iff P(important) ≥ threshold; judge
/// decoding accepts a mismatch iff P < threshold, so threshold 0 accepts none.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ThresholdRow {
    /// Quantile of the validation P(important) the threshold sits at.
    pub quantile: f64,
    /// The threshold.
    pub threshold: f64,
    /// Of validation mismatches predicted important, the fraction that are (1 if none predicted).
    pub precision: f64,
    /// Of important validation mismatches, the fraction predicted important.
    pub recall: f64,
    /// Fraction of validation mismatches predicted right.
    pub accuracy: f64,
    /// Fraction of validation mismatches predicted important.
    pub predicted_important_frac: f64,
}

/// A trained judge head.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeHead {
    /// Standardisation.
    pub scaler: Scaler,
    /// Logistic regression on standardised features.
    pub model: LogReg,
    /// Chosen C.
    pub c: f64,
    /// Feature set the head reads (`dd-dt`, `dt`, …).
    pub feature_set: String,
    /// Number of features.
    pub dim: usize,
    /// Threshold table on the validation split.
    pub thresholds: Vec<ThresholdRow>,
    /// Validation ROC-AUC at the chosen C.
    pub val_auc: f64,
    /// (C, validation ROC-AUC) for every C tried.
    pub c_search: Vec<(f64, f64)>,
}

impl JudgeHead {
    /// P(important) of one raw (unstandardised) feature row.
    pub fn prob_important(&self, row: &[f32]) -> f64 {
        self.model.predict_proba(&self.scaler.transform_row(row))
    }

    /// The threshold of the table row nearest quantile `q` (within 1e-9), if any.
    pub fn threshold_at(&self, q: f64) -> Option<f64> {
        self.thresholds
            .iter()
            .find(|r| (r.quantile - q).abs() < 1e-9)
            .map(|r| r.threshold)
    }
}

fn select(x: &[f32], cols: usize, rows: &[usize]) -> Vec<f32> {
    rows.iter()
        .flat_map(|&r| x[r * cols..(r + 1) * cols].iter().copied())
        .collect()
}

fn check_shapes(
    x: &[f32],
    rows: usize,
    cols: usize,
    y: &[bool],
    groups: &[u64],
) -> Result<(), JudgeError> {
    if rows == 0 || x.len() != rows * cols || y.len() != rows || groups.len() != rows {
        return Err(JudgeError::Input(format!(
            "{rows} rows but {} features / {cols} columns, {} labels and {} prompt ids",
            x.len(),
            y.len(),
            groups.len()
        )));
    }
    Ok(())
}

/// The prompts held out for validation: the distinct ids of `groups`, shuffled with `cfg.seed`,
/// the first ⌈`val_fraction` · #prompts⌉ of them (at least one, and at least one left to train).
pub fn split_prompts(
    groups: &[u64],
    cfg: &HeadConfig,
) -> Result<std::collections::HashSet<u64>, JudgeError> {
    if !(cfg.val_fraction > 0.0 && cfg.val_fraction < 1.0) {
        return Err(JudgeError::Input(format!(
            "val_fraction {} must be in (0, 1)",
            cfg.val_fraction
        )));
    }
    let mut ids: Vec<u64> = groups.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() < 2 {
        return Err(JudgeError::Input(format!(
            "{} prompt(s): a prompt-level validation split needs at least 2; mine more problems",
            ids.len()
        )));
    }
    ids.shuffle(&mut ChaCha8Rng::seed_from_u64(cfg.seed));
    let n_val = ((cfg.val_fraction * ids.len() as f64).ceil() as usize).clamp(1, ids.len() - 1);
    Ok(ids[..n_val].iter().copied().collect())
}

/// Trains a head on `rows × cols` features `x`, labels `y` (true = important) and the prompt of
/// each row `groups`, validating on the prompts [`split_prompts`] holds out.
pub fn train_head(
    x: &[f32],
    rows: usize,
    cols: usize,
    y: &[bool],
    groups: &[u64],
    feature_set: &str,
    cfg: &HeadConfig,
) -> Result<JudgeHead, JudgeError> {
    check_shapes(x, rows, cols, y, groups)?;
    let val_ids = split_prompts(groups, cfg)?;
    train_head_split(x, rows, cols, y, groups, &val_ids, feature_set, cfg)
}

/// [`train_head`] with the validation prompts given (`cfg.val_fraction` and `cfg.seed` unused):
/// the rows whose prompt is in `val_ids` validate, the others train.
#[allow(clippy::too_many_arguments)]
pub fn train_head_split(
    x: &[f32],
    rows: usize,
    cols: usize,
    y: &[bool],
    groups: &[u64],
    val_ids: &std::collections::HashSet<u64>,
    feature_set: &str,
    cfg: &HeadConfig,
) -> Result<JudgeHead, JudgeError> {
    check_shapes(x, rows, cols, y, groups)?;
    if cfg.c_grid.is_empty() {
        return Err(JudgeError::Input("the C grid is empty".into()));
    }
    let n_val = val_ids.len();
    let (va, tr): (Vec<usize>, Vec<usize>) = (0..rows).partition(|&r| val_ids.contains(&groups[r]));
    let ytr: Vec<bool> = tr.iter().map(|&r| y[r]).collect();
    let yva: Vec<bool> = va.iter().map(|&r| y[r]).collect();
    if ytr.iter().all(|&b| b) || ytr.iter().all(|&b| !b) {
        return Err(JudgeError::Input(
            "the training split holds only one class (all important or all unimportant); mine more problems".into(),
        ));
    }
    if yva.iter().all(|&b| b) || yva.iter().all(|&b| !b) {
        return Err(JudgeError::Input(format!(
            "the validation split ({n_val} prompts, {} rows) holds only one class, so its ROC-AUC is undefined; mine more problems or raise val_fraction",
            va.len()
        )));
    }
    let xtr_raw = select(x, cols, &tr);
    let scaler = Scaler::fit(&xtr_raw, tr.len(), cols)?;
    let xtr = scaler.transform(&xtr_raw, cols);
    let xva = scaler.transform(&select(x, cols, &va), cols);
    let mut best: Option<(f64, f64, LogReg)> = None;
    let mut c_search = Vec::with_capacity(cfg.c_grid.len());
    for &c in &cfg.c_grid {
        let m = fit_logreg(&xtr, &ytr, tr.len(), cols, c, cfg.max_iter, cfg.tol)?;
        let p: Vec<f64> = xva.chunks_exact(cols).map(|r| m.predict_proba(r)).collect();
        let auc = roc_auc(&p, &yva).unwrap_or(0.5);
        c_search.push((c, auc));
        // Equal AUCs (within rounding: AUCs are ratios of pair counts) keep the first C, as
        // `np.argmax` over the official grid does.
        if best.as_ref().is_none_or(|(_, a, _)| auc > *a + 1e-12) {
            best = Some((c, auc, m));
        }
    }
    let Some((c, val_auc, mut model)) = best else {
        return Err(JudgeError::Solver("no C was fitted".into()));
    };
    let pva: Vec<f64> = xva
        .chunks_exact(cols)
        .map(|r| model.predict_proba(r))
        .collect();
    let thresholds = table(&pva, &yva, cfg.n_thresholds.max(2));
    let mut scaler = scaler;
    if cfg.refit_all {
        scaler = Scaler::fit(x, rows, cols)?;
        model = fit_logreg(
            &scaler.transform(x, cols),
            y,
            rows,
            cols,
            c,
            cfg.max_iter,
            cfg.tol,
        )?;
    }
    Ok(JudgeHead {
        scaler,
        model,
        c,
        feature_set: feature_set.to_string(),
        dim: cols,
        thresholds,
        val_auc,
        c_search,
    })
}

fn table(p: &[f64], y: &[bool], n: usize) -> Vec<ThresholdRow> {
    (0..n)
        .map(|i| {
            let q = i as f64 / (n - 1) as f64;
            let t = quantile(p, q).unwrap_or(0.0);
            let (mut tp, mut fp, mut fneg) = (0usize, 0usize, 0usize);
            for (&pi, &yi) in p.iter().zip(y) {
                match (pi >= t, yi) {
                    (true, true) => tp += 1,
                    (true, false) => fp += 1,
                    (false, true) => fneg += 1,
                    _ => {}
                }
            }
            let n = p.len().max(1) as f64;
            let tn = p.len() - tp - fp - fneg;
            ThresholdRow {
                quantile: q,
                threshold: t,
                precision: if tp + fp == 0 {
                    1.0
                } else {
                    tp as f64 / (tp + fp) as f64
                },
                recall: if tp + fneg == 0 {
                    1.0
                } else {
                    tp as f64 / (tp + fneg) as f64
                },
                accuracy: (tp + tn) as f64 / n,
                predicted_important_frac: (tp + fp) as f64 / n,
            }
        })
        .collect()
}
