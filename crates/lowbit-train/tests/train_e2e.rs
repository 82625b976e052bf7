//! End-to-end trainer tests on the `tiny` recipe and the bundled fixture corpus: bit-identical
//! resume, the non-finite guard, corrupt-checkpoint fallback, TensorBoard events, and HF export
//! that evaluates to the logged validation loss.

use lowbit_data::{Sampler, TokenDataset};
use lowbit_train::metrics::read_metrics;
use lowbit_train::recipe::{NonFinitePolicy, Recipe, load_recipe};
use lowbit_train::trainer::{
    Progress, Resume, TrainError, TrainOptions, TrainState, load_dataset, validation_loss,
};
use lowbit_train::{CheckpointStore, train};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The tiny recipe with a short schedule, and its tokenized corpus (prepared once).
fn setup(steps: u64) -> (Recipe, String, &'static TokenDataset) {
    static DATA: OnceLock<TokenDataset> = OnceLock::new();
    let sets = [
        format!("train.steps={steps}"),
        "checkpoint.every_steps=2".to_string(),
        "checkpoint.keep_last=10".to_string(),
        "eval.every_steps=3".to_string(),
    ];
    let r = load_recipe("tiny", &root().join("recipes"), &sets).expect("tiny recipe");
    let data = DATA.get_or_init(|| load_dataset(&r.data, &root()).expect("fixture corpus"));
    let text = toml::to_string(&r).expect("recipe to TOML");
    (r, text, data)
}

fn opts(dir: &Path) -> TrainOptions {
    let mut o = TrainOptions::new(dir);
    o.progress = Progress::Quiet;
    o
}

fn file_sha(p: &Path) -> String {
    lowbit_train::checkpoint::sha256_hex(&std::fs::read(p).expect("read"))
}

#[test]
fn resume_is_bit_identical() {
    let (r, text, data) = setup(6);
    let tmp = tempfile::tempdir().unwrap();
    let straight = tmp.path().join("straight");
    let s = train(&r, &text, data, &opts(&straight)).expect("straight run");
    assert_eq!(s.steps, 6);
    assert!(!s.interrupted);

    // Interrupted after 3 steps (checkpoint written on stop), then resumed to the end.
    let split = tmp.path().join("split");
    let mut o = opts(&split);
    o.stop_after = Some(3);
    let a = train(&r, &text, data, &o).expect("first half");
    assert!(a.interrupted);
    assert_eq!(a.steps, 3);
    // A fresh start refuses a run directory that has checkpoints.
    assert!(train(&r, &text, data, &opts(&split)).is_err());
    let mut o = opts(&split);
    o.resume = Resume::Auto;
    let b = train(&r, &text, data, &o).expect("resumed half");
    assert_eq!(b.steps, 6);

    let m1 = read_metrics(&straight.join("metrics.jsonl")).unwrap();
    let m2 = read_metrics(&split.join("metrics.jsonl")).unwrap();
    assert_eq!(m1.len(), 6);
    assert_eq!(m1.len(), m2.len());
    for (x, y) in m1.iter().zip(&m2) {
        assert_eq!(x.step, y.step);
        assert_eq!(x.loss.to_bits(), y.loss.to_bits(), "step {}", x.step);
        assert_eq!(x.grad_norm.to_bits(), y.grad_norm.to_bits());
        assert_eq!(x.val_loss.map(f64::to_bits), y.val_loss.map(f64::to_bits));
    }
    for f in ["model.safetensors", "optimizer.safetensors"] {
        assert_eq!(
            file_sha(&straight.join("step-00000006").join(f)),
            file_sha(&split.join("step-00000006").join(f)),
            "{f}"
        );
    }
    // The loss went down on this tiny corpus.
    assert!(m1[5].loss < m1[0].loss, "{} → {}", m1[0].loss, m1[5].loss);
    // state.json records where the run is.
    let st = TrainState::read(&split.join("step-00000006/state.json")).unwrap();
    assert_eq!(st.step, 6);
    assert_eq!(st.optimizer_steps, 6);
    assert_eq!(
        st.tokens_seen,
        6 * (r.train.batch_size * r.train.seq_len) as u64
    );
    assert_eq!(st.rng.data_seed, r.train.seed);
}

#[test]
fn non_finite_loss_refuses_the_step() {
    let (mut r, text, data) = setup(4);
    let tmp = tempfile::tempdir().unwrap();
    // stop: the step is refused, the last good state (step 2) is saved, the run errors.
    let mut o = opts(&tmp.path().join("stop"));
    o.inject_nan_at = Some(3);
    let e = train(&r, &text, data, &o).unwrap_err();
    match &e {
        TrainError::NonFinite { step, .. } => assert_eq!(*step, 3),
        other => panic!("expected NonFinite, got {other}"),
    }
    assert!(e.to_string().contains("step 3: non-finite loss"), "{e}");
    let st = TrainState::read(&tmp.path().join("stop/step-00000002/state.json")).unwrap();
    assert_eq!((st.step, st.optimizer_steps), (2, 2));

    // skip: the step is refused, logged, and training continues with the next batch.
    r.train.on_non_finite = NonFinitePolicy::Skip;
    let dir = tmp.path().join("skip");
    let mut o = opts(&dir);
    o.inject_nan_at = Some(3);
    let s = train(&r, &text, data, &o).expect("skip run");
    assert_eq!(s.steps, 4);
    let m = read_metrics(&dir.join("metrics.jsonl")).unwrap();
    let bad: Vec<_> = m
        .iter()
        .filter(|x| x.extra.contains_key("non_finite"))
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].step, 3);
    let st = TrainState::read(&dir.join("step-00000004/state.json")).unwrap();
    assert_eq!((st.step, st.optimizer_steps), (4, 3));
}

/// A NaN *activation* (a poisoned embedding row in step 3's forward pass; the tiny recipe's
/// NVFP4 input quantizer refuses it with `NonFinite`) goes through the same guard as a NaN loss,
/// under both policies.
#[test]
fn non_finite_activation_reaches_the_guard() {
    let (mut r, text, data) = setup(4);
    assert!(
        r.compression.input.is_some(),
        "the forward must quantize inputs"
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut o = opts(&tmp.path().join("stop"));
    o.inject_nan_activation_at = Some(3);
    let e = train(&r, &text, data, &o).unwrap_err();
    match &e {
        TrainError::NonFinite { step, what, .. } => {
            assert_eq!(*step, 3);
            assert!(what.contains("activation or weight"), "{what}");
        }
        other => panic!("expected NonFinite, got {other}"),
    }
    let st = TrainState::read(&tmp.path().join("stop/step-00000002/state.json")).unwrap();
    assert_eq!((st.step, st.optimizer_steps), (2, 2));
    let m = read_metrics(&tmp.path().join("stop/metrics.jsonl")).unwrap();
    let last = m.last().unwrap();
    assert_eq!(last.step, 3);
    assert!(last.extra.contains_key("non_finite") && last.loss.is_nan());

    r.train.on_non_finite = NonFinitePolicy::Skip;
    let dir = tmp.path().join("skip");
    let mut o = opts(&dir);
    o.inject_nan_activation_at = Some(3);
    let s = train(&r, &text, data, &o).expect("skip run");
    assert_eq!(s.steps, 4);
    let m = read_metrics(&dir.join("metrics.jsonl")).unwrap();
    let bad: Vec<u64> = m
        .iter()
        .filter(|x| x.extra.contains_key("non_finite"))
        .map(|x| x.step)
        .collect();
    assert_eq!(bad, vec![3]);
    let st = TrainState::read(&dir.join("step-00000004/state.json")).unwrap();
    assert_eq!((st.step, st.optimizer_steps), (4, 3));
    // The refused step's gradients never reached the model: every later loss is finite.
    assert!(m.iter().filter(|x| x.step != 3).all(|x| x.loss.is_finite()));
}

/// A refused *final* step (NaN loss, and NaN activation) still runs the final evaluation and
/// writes the final checkpoint.
#[test]
fn refused_last_step_still_evaluates_and_checkpoints() {
    let (mut r, text, data) = setup(3);
    r.train.on_non_finite = NonFinitePolicy::Skip;
    let tmp = tempfile::tempdir().unwrap();
    for (name, activation) in [("loss", false), ("activation", true)] {
        let dir = tmp.path().join(name);
        let mut o = opts(&dir);
        if activation {
            o.inject_nan_activation_at = Some(3);
        } else {
            o.inject_nan_at = Some(3);
        }
        let s = train(&r, &text, data, &o).expect("run");
        assert_eq!(s.steps, 3, "{name}");
        let v = s.val_loss.expect("a final validation loss");
        assert!(v.is_finite(), "{name}: {v}");
        assert_eq!(
            s.checkpoint.as_deref(),
            Some(dir.join("step-00000003").as_path())
        );
        let st = TrainState::read(&dir.join("step-00000003/state.json")).unwrap();
        assert_eq!((st.step, st.optimizer_steps), (3, 2), "{name}");
        assert_eq!(st.last_val_loss.map(f64::to_bits), Some(v.to_bits()));
        let m = read_metrics(&dir.join("metrics.jsonl")).unwrap();
        let last = m.last().unwrap();
        assert_eq!(last.step, 3);
        assert!(last.extra.contains_key("non_finite"), "{name}");
        assert_eq!(last.val_loss.map(f64::to_bits), Some(v.to_bits()));
    }
}

#[test]
fn corrupt_latest_checkpoint_falls_back() {
    let (r, text, data) = setup(4);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut o = opts(&dir);
    o.stop_after = Some(4);
    train(&r, &text, data, &o).unwrap();
    // Flip a byte of the newest model file: the manifest no longer verifies.
    let f = dir.join("step-00000004/model.safetensors");
    let mut bytes = std::fs::read(&f).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x40;
    std::fs::write(&f, bytes).unwrap();
    let rp = CheckpointStore::new(&dir, 10)
        .resume_point()
        .unwrap()
        .unwrap();
    assert_eq!(rp.step, 2);
    assert!(
        rp.warnings.iter().any(|w| w.contains("step-00000004")),
        "{:?}",
        rp.warnings
    );
    let mut o = opts(&dir);
    o.resume = Resume::Auto;
    let s = train(&r, &text, data, &o).unwrap();
    assert_eq!(s.steps, 4);
    assert!(s.warnings.iter().any(|w| w.contains("step-00000004")));
}

/// Checks every TFRecord frame of a TensorBoard event file (length + masked CRC-32C of the
/// length and of the payload) and returns the payloads.
fn tfrecords(bytes: &[u8]) -> Vec<&[u8]> {
    fn crc32c(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0x82f6_3b78
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let masked = |c: u32| (c.rotate_right(15)).wrapping_add(0xa282_ead8);
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let len_bytes = &bytes[i..i + 8];
        let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
        let len_crc = u32::from_le_bytes(bytes[i + 8..i + 12].try_into().unwrap());
        assert_eq!(len_crc, masked(crc32c(len_bytes)), "length CRC at {i}");
        let data = &bytes[i + 12..i + 12 + len];
        let data_crc = u32::from_le_bytes(bytes[i + 12 + len..i + 16 + len].try_into().unwrap());
        assert_eq!(data_crc, masked(crc32c(data)), "data CRC at {i}");
        out.push(data);
        i += 16 + len;
    }
    out
}

#[test]
fn tensorboard_events_and_hf_export_evaluate() {
    let (r, text, data) = setup(3);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let s = train(&r, &text, data, &opts(&dir)).unwrap();
    // TensorBoard: well-formed frames whose payloads carry the scalar tags.
    let tb = dir.join("tb");
    let event = std::fs::read_dir(&tb)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().contains("tfevents"))
        .expect("an events file");
    let bytes = std::fs::read(event).unwrap();
    let recs = tfrecords(&bytes);
    let has = |tag: &str| {
        recs.iter()
            .filter(|d| d.windows(tag.len()).any(|w| w == tag.as_bytes()))
            .count()
    };
    assert_eq!(
        recs.iter()
            .filter(|d| d.windows(6).any(|w| w == b"\x0a\x04loss"))
            .count(),
        3,
        "3 loss scalars"
    );
    assert_eq!(has("grad_norm"), 3);
    assert_eq!(has("val_loss"), 1);

    // Quantization health of every compressed layer is logged on eval steps.
    let m = read_metrics(&dir.join("metrics.jsonl")).unwrap();
    let ev = m
        .iter()
        .find(|r| r.val_loss.is_some())
        .expect("an eval record");
    let mse = ev.extra["health/input_rel_mse"];
    assert!(mse > 0.0 && mse < 0.1, "{mse}");
    assert!(
        ev.extra
            .contains_key("health/layers.1.mlp.down_proj/weight_clipped")
    );
    assert_eq!(has("health/layers.0.self_attn.q_proj/input_rel_mse"), 1);

    // The checkpoint is an HF directory: loading it as such gives the logged validation loss.
    let device = burn::tensor::Device::flex();
    let loaded = lowbit_nn::hf::load_dir(&dir, &device).expect("load run dir as HF");
    assert!(loaded.dir.ends_with("step-00000003"));
    assert!(loaded.tokenizer.is_some());
    let sampler = Sampler {
        seed: r.train.seed,
        batch: r.train.batch_size,
        seq_len: r.train.seq_len,
    };
    let v = validation_loss(&loaded.model, data, &sampler, r.eval.batches, &device).unwrap();
    assert_eq!(
        v.to_bits(),
        s.val_loss.unwrap().to_bits(),
        "{v} vs {:?}",
        s.val_loss
    );
}
