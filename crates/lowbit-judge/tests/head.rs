//! The judge head (spec §6.3) on synthetic features: a planted linear rule is recovered, C is
//! the best of the search, the threshold table is monotone, a saved head loads back exactly,
//! and broken heads or degenerate data give clear errors.

use lowbit_judge::head::{HeadConfig, JudgeHead, roc_auc, train_head};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Rows of `cols` features; important iff 2·x0 − x1 + 0.5·x2 + noise > 0.3, 8 rows per prompt.
fn planted(rows: usize, cols: usize, seed: u64) -> (Vec<f32>, Vec<bool>, Vec<u64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(rows * cols);
    let mut y = Vec::with_capacity(rows);
    for _ in 0..rows {
        let r: Vec<f32> = (0..cols)
            .map(|j| rng.random_range(-1.0..1.0) * (1.0 + j as f32) + 3.0)
            .collect();
        let s = 2.0 * (r[0] - 3.0) - (r[1] - 3.0) / 2.0 + 0.5 * (r[2] - 3.0) / 3.0;
        y.push(s + rng.random_range(-0.3..0.3) > 0.3);
        x.extend(r);
    }
    let g = (0..rows as u64).map(|r| r / 8).collect();
    (x, y, g)
}

#[test]
fn recovers_a_planted_rule_and_picks_the_best_c() {
    let (rows, cols) = (1600, 12);
    let (x, y, g) = planted(rows, cols, 1);
    let h = train_head(&x, rows, cols, &y, &g, "dd-dt", &HeadConfig::new()).unwrap();
    assert!(h.val_auc > 0.95, "validation AUC {}", h.val_auc);
    let best = h.c_search.iter().map(|c| c.1).fold(f64::MIN, f64::max);
    assert_eq!(h.val_auc, best);
    assert_eq!(h.c_search.len(), 19);
    assert_eq!(h.c_search.iter().find(|c| c.1 == best).unwrap().0, h.c);
    // The rule's signs, and the dominant feature, on held-out data.
    let w = &h.model.coef;
    assert!(w[0] > 0.0 && w[1] < 0.0 && w[2] > 0.0, "{w:?}");
    assert!(w[3..].iter().all(|v| v.abs() < w[0].abs() / 4.0), "{w:?}");
    let (xt, yt, _) = planted(800, cols, 2);
    let p: Vec<f64> = xt.chunks(cols).map(|r| h.prob_important(r)).collect();
    assert!(roc_auc(&p, &yt).unwrap() > 0.95);
    // Thresholds rise with the quantile; quantile 0 predicts everything important.
    assert_eq!(h.thresholds.len(), 26);
    assert!(
        h.thresholds
            .windows(2)
            .all(|t| t[0].threshold <= t[1].threshold)
    );
    assert_eq!(h.thresholds[0].predicted_important_frac, 1.0);
    assert_eq!(h.thresholds[0].recall, 1.0);
    assert_eq!(h.threshold_at(0.2), Some(h.thresholds[5].threshold));
    assert_eq!(h.threshold_at(0.1), None);
    // The same data and seed give the same head; another split seed another one.
    let again = train_head(&x, rows, cols, &y, &g, "dd-dt", &HeadConfig::new()).unwrap();
    assert_eq!(again, h);
    let other = train_head(
        &x,
        rows,
        cols,
        &y,
        &g,
        "dd-dt",
        &HeadConfig::new().with_seed(3),
    )
    .unwrap();
    assert_ne!(other.thresholds, h.thresholds);
}

#[test]
fn a_saved_head_loads_back_exactly_and_a_broken_one_is_refused() {
    let (rows, cols) = (400, 5);
    let (x, y, g) = planted(rows, cols, 4);
    let cfg = HeadConfig::new().with_refit_all(true);
    let h = train_head(&x, rows, cols, &y, &g, "dt", &cfg).unwrap();
    let dir = tempfile::tempdir().unwrap();
    h.save(dir.path()).unwrap();
    assert_eq!(JudgeHead::load(dir.path()).unwrap(), h);

    let json = dir.path().join("head.json");
    let text = std::fs::read_to_string(&json).unwrap();
    std::fs::write(&json, text.replace("\"dim\": 5", "\"dim\": 6")).unwrap();
    let e = JudgeHead::load(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("head.safetensors") && e.contains("coef") && e.contains("dim 6"),
        "{e}"
    );
    std::fs::write(&json, text.replace("\"dim\"", "\"dims\"")).unwrap();
    let e = JudgeHead::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("head.json"), "{e}");
    std::fs::write(&json, &text).unwrap();
    std::fs::write(dir.path().join("head.safetensors"), b"\x10\0\0\0\0\0\0\0{}").unwrap();
    let e = JudgeHead::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("head.safetensors"), "{e}");
    let e = JudgeHead::load(&dir.path().join("nowhere"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("nowhere"), "{e}");
}

#[test]
fn degenerate_data_is_refused_with_the_fix() {
    let (rows, cols) = (64, 3);
    let (x, y, g) = planted(rows, cols, 5);
    let cfg = HeadConfig::new();
    let one_prompt = vec![0u64; rows];
    let e = train_head(&x, rows, cols, &y, &one_prompt, "dd-dt", &cfg).unwrap_err();
    assert!(e.to_string().contains("at least 2"), "{e}");
    let e = train_head(&x, rows, cols, &vec![true; rows], &g, "dd-dt", &cfg).unwrap_err();
    assert!(e.to_string().contains("one class"), "{e}");
    let e = train_head(&x, rows, cols, &y[..10], &g, "dd-dt", &cfg).unwrap_err();
    assert!(e.to_string().contains("labels"), "{e}");
    let e = train_head(&[], 0, cols, &[], &[], "dd-dt", &cfg).unwrap_err();
    assert!(e.to_string().contains("0 rows"), "{e}");
    let mut nan = x.clone();
    nan[7] = f32::NAN;
    assert!(train_head(&nan, rows, cols, &y, &g, "dd-dt", &cfg).is_err());
    // A constant column is kept at scale 1 (as sklearn), not divided by zero.
    let mut c = x.clone();
    for r in 0..rows {
        c[r * cols + 2] = 4.5;
    }
    let h = train_head(&c, rows, cols, &y, &g, "dd-dt", &cfg).unwrap();
    assert_eq!(h.scaler.scale[2], 1.0);
    assert!(h.model.coef.iter().all(|v| v.is_finite()));
}
