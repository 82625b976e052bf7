//! LSQ through the trainer (Esser et al. 2020, §2.1; spec algorithms.md §2): after
//! `init_model` every weight step is LSQ's `2·mean|v|/sqrt(Q_P)` per row of the weight the
//! quantizer sees (here Hadamard-rotated), every input step is what the layer config gives it,
//! and a short W4A4 int4 run lowers the loss with every step staying positive.

use burn::tensor::Device;
use lowbit_nn::hf::{read_safetensors, state_dict};
use lowbit_train::metrics::read_metrics;
use lowbit_train::recipe::load_recipe;
use lowbit_train::trainer::{Progress, TrainOptions, init_model, llama_config, load_dataset};
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The orthonormal Sylvester Hadamard entry `H_b[i][j] = (−1)^popcount(i & j) / sqrt(b)`.
fn hadamard(b: usize, i: usize, j: usize) -> f64 {
    let sign = if (i & j).count_ones() % 2 == 0 {
        1.0
    } else {
        -1.0
    };
    sign / (b as f64).sqrt()
}

/// LSQ's initial step of every row of `w` (`[rows, cols]`), rotated blockwise by `H_b` first,
/// `b` = the largest power of two dividing `cols`, at most 128 (QuEST's block; spec §2).
fn lsq_steps(w: &[f32], cols: usize, qp: f64) -> Vec<f64> {
    let b = (1usize << cols.trailing_zeros()).min(128);
    w.chunks(cols)
        .map(|row| {
            let mut sum = 0.0;
            for blk in 0..cols / b {
                for j in 0..b {
                    let v: f64 = (0..b)
                        .map(|k| row[blk * b + k] as f64 * hadamard(b, k, j))
                        .sum();
                    sum += v.abs();
                }
            }
            2.0 * (sum / cols as f64) / qp.sqrt()
        })
        .collect()
}

#[test]
fn lsq_steps_start_at_the_formula_and_stay_positive() {
    let sets = [
        "compression.weight=int4",
        "compression.input=int4",
        "compression.estimator=lsq",
        "compression.hadamard=half",
        "train.steps=8",
        "eval.every_steps=1000",
        "checkpoint.every_steps=1000",
    ]
    .map(String::from);
    let r = load_recipe("tiny", &root().join("recipes"), &sets).expect("recipe");
    let data = load_dataset(&r.data, &root()).expect("fixture corpus");
    let cfg = llama_config(&r, data.tokenizer.vocab_size()).unwrap();
    let device = Device::flex().autodiff();
    let sd = state_dict(&init_model(&cfg, r.train.seed, &device).unwrap()).unwrap();
    let fresh = state_dict(&cfg.init(&device).unwrap()).unwrap();

    let qp = 7.0; // int4, symmetric: Q_P = 2^(4−1) − 1
    let mut n_weight = 0;
    let mut n_input = 0;
    for (name, t) in &sd {
        if let Some(layer) = name.strip_suffix(".weight_step") {
            let w = &sd[&format!("{layer}.weight")];
            assert_eq!(t.shape, vec![w.shape[0], 1], "{name}");
            let want = lsq_steps(&w.to_f32(), w.shape[1], qp);
            for (r, (&got, want)) in t.to_f32().iter().zip(&want).enumerate() {
                assert!(
                    (got as f64 - want).abs() <= 1e-5 * want,
                    "{name}[{r}]: {got} vs LSQ init {want}"
                );
            }
            n_weight += 1;
        } else if name.ends_with(".input_step") {
            assert_eq!(t.data, fresh[name].data, "{name} keeps the config's init");
            assert!(t.to_f32().iter().all(|&s| s > 0.0));
            n_input += 1;
        }
    }
    // 2 blocks × (q, k, v, o, gate, up, down).
    assert_eq!((n_weight, n_input), (14, 14));

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lsq");
    let mut o = TrainOptions::new(&dir);
    o.progress = Progress::Quiet;
    let s = lowbit_train::train(&r, &toml::to_string(&r).unwrap(), &data, &o).expect("LSQ run");
    assert_eq!(s.steps, 8);
    let m = read_metrics(&dir.join("metrics.jsonl")).unwrap();
    assert!(
        m.last().unwrap().loss < m[0].loss,
        "{} → {}",
        m[0].loss,
        m.last().unwrap().loss
    );
    let trained = read_safetensors(&dir.join("step-00000008/model.safetensors")).unwrap();
    let mut moved = false;
    for (name, t) in trained.iter().filter(|(n, _)| n.ends_with("_step")) {
        assert!(t.to_f32().iter().all(|&s| s > 0.0), "{name}: {:?}", t.data);
        moved |= t.data != sd[name].data;
    }
    assert!(moved, "the steps are learned");
}
