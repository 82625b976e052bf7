//! Atomic checkpoints: rotation, LATEST, verification and fallback to the previous complete one.

use lowbit_train::CheckpointStore;
use lowbit_train::checkpoint::Manifest;

fn files(step: u64) -> Vec<(String, Vec<u8>)> {
    vec![
        ("model.safetensors".into(), vec![step as u8; 1000]),
        (
            "state.json".into(),
            format!("{{\"step\":{step}}}").into_bytes(),
        ),
    ]
}

fn save(store: &CheckpointStore, step: u64) -> std::path::PathBuf {
    let f = files(step);
    let refs: Vec<(&str, &[u8])> = f.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    store.save(step, &refs).unwrap()
}

#[test]
fn rotation_keeps_the_newest_and_publishes_latest() {
    let run = tempfile::tempdir().unwrap();
    let store = CheckpointStore::new(run.path(), 2);
    assert_eq!(store.resume_point().unwrap(), None, "fresh run");
    for step in [10, 20, 30] {
        save(&store, step);
    }
    let steps: Vec<u64> = store.list().into_iter().map(|(s, _)| s).collect();
    assert_eq!(steps, vec![20, 30]);
    assert_eq!(
        std::fs::read_to_string(run.path().join("LATEST"))
            .unwrap()
            .trim(),
        "step-00000030"
    );
    let r = store.resume_point().unwrap().unwrap();
    assert_eq!((r.step, r.warnings.len()), (30, 0));
    let m = Manifest::verify(&r.dir).unwrap();
    assert_eq!(m.files["model.safetensors"].size, 1000);
    assert!(!run.path().join(".tmp-step-00000030").exists());
}

#[test]
fn corrupt_latest_falls_back_to_previous_complete() {
    let run = tempfile::tempdir().unwrap();
    let store = CheckpointStore::new(run.path(), 3);
    save(&store, 1);
    let d2 = save(&store, 2);
    // Flip a byte of the newest checkpoint's model.
    let p = d2.join("model.safetensors");
    let mut b = std::fs::read(&p).unwrap();
    b[10] ^= 1;
    std::fs::write(&p, b).unwrap();
    let r = store.resume_point().unwrap().unwrap();
    assert_eq!(r.step, 1);
    assert!(
        r.warnings[0].contains("SHA-256 mismatch"),
        "{:?}",
        r.warnings
    );
    // A crash mid-write leaves a temp dir and a step dir without manifest: both are skipped.
    std::fs::create_dir(run.path().join(".tmp-step-00000003")).unwrap();
    std::fs::create_dir(run.path().join("step-00000004")).unwrap();
    std::fs::write(
        run.path().join("step-00000004/model.safetensors"),
        b"partial",
    )
    .unwrap();
    let r = store.resume_point().unwrap().unwrap();
    assert_eq!(r.step, 1);
    // Truncation is detected too.
    std::fs::write(run.path().join("step-00000001/state.json"), b"{").unwrap();
    let e = store.resume_point().unwrap_err().to_string();
    assert!(e.contains("no complete checkpoint"), "{e}");
}

#[test]
fn rejects_path_like_file_names() {
    let run = tempfile::tempdir().unwrap();
    let store = CheckpointStore::new(run.path(), 1);
    for bad in ["../x", "manifest.json", ".hidden", ""] {
        assert!(store.save(1, &[(bad, b"x")]).is_err(), "{bad}");
    }
}
