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

/// Checkpoint `step` with bigger files (so a save takes a while) that record `iter`.
fn save_iter(store: &CheckpointStore, step: u64, iter: u64) -> std::path::PathBuf {
    let model = vec![iter as u8; 1 << 16];
    let state = format!("{{\"step\":{step},\"iter\":{iter}}}");
    let mut files: Vec<(String, Vec<u8>)> = (0..8)
        .map(|k| (format!("shard-{k}.safetensors"), model.clone()))
        .collect();
    files.push(("state.json".into(), state.into_bytes()));
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    store.save(step, &refs).unwrap()
}

fn iter_of(dir: &std::path::Path) -> u64 {
    let s = std::fs::read_to_string(dir.join("state.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    v["iter"].as_u64().unwrap()
}

/// Re-saving an existing step never leaves an instant without that step's directory (the old
/// store deleted it before renaming the new one in): a watcher thread polls for it throughout.
#[test]
fn resave_never_leaves_the_step_missing() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let run = tempfile::tempdir().unwrap();
    let store = CheckpointStore::new(run.path(), 2);
    save_iter(&store, 1, 0);
    let manifest = run.path().join("step-00000001/manifest.json");
    let done = AtomicBool::new(false);
    let (polls, misses) = (AtomicU64::new(0), AtomicU64::new(0));
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                polls.fetch_add(1, Ordering::Relaxed);
                if !manifest.exists() {
                    misses.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        for iter in 1..=100 {
            let dir = save_iter(&store, 1, iter);
            assert_eq!(iter_of(&dir), iter);
        }
        done.store(true, Ordering::SeqCst);
    });
    assert!(polls.load(Ordering::Relaxed) > 100, "the watcher ran");
    assert_eq!(misses.load(Ordering::Relaxed), 0, "instants without step 1");
    let r = store.resume_point().unwrap().unwrap();
    assert_eq!((r.step, iter_of(&r.dir)), (1, 100));
    // Nothing but the committed step and LATEST is left behind.
    let mut names: Vec<String> = std::fs::read_dir(run.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["LATEST", "step-00000001"]);
}

/// The state a crash between the two renames of the rename-aside fallback leaves (the old
/// directory aside, the new one still temporary): resume uses the aside one, and the next save
/// renames it back before writing.
#[test]
fn a_step_renamed_aside_is_resumed_and_restored() {
    let run = tempfile::tempdir().unwrap();
    let store = CheckpointStore::new(run.path(), 3);
    save_iter(&store, 1, 1);
    save_iter(&store, 2, 2);
    let (dir, aside) = (
        run.path().join("step-00000002"),
        run.path().join(".old-step-00000002"),
    );
    std::fs::rename(&dir, &aside).unwrap();
    std::fs::create_dir(run.path().join(".tmp-step-00000002")).unwrap();
    assert!(store.has_checkpoints());
    let r = store.resume_point().unwrap().unwrap();
    assert_eq!(
        (r.step, r.dir.clone(), r.warnings.len()),
        (2, aside.clone(), 0)
    );
    save_iter(&store, 3, 3);
    assert!(!aside.exists() && Manifest::verify(&dir).is_ok());
    assert_eq!(iter_of(&dir), 2);
    let steps: Vec<u64> = store.list().into_iter().map(|(s, _)| s).collect();
    assert_eq!(steps, vec![1, 2, 3]);
    assert!(!run.path().join(".tmp-step-00000002").exists());
}

/// Re-saves step 1 of the store in `LOWBIT_RESAVE_DIR` until killed, when that variable is set
/// (the child of `kill_9_during_resaves_keeps_the_step`); otherwise re-saves a few times and
/// checks each re-save replaced the contents.
#[test]
fn resave_child() {
    if let Ok(dir) = std::env::var("LOWBIT_RESAVE_DIR") {
        let store = CheckpointStore::new(&dir, 2);
        for iter in 1.. {
            save_iter(&store, 1, iter);
        }
    }
    let run = tempfile::tempdir().unwrap();
    let store = CheckpointStore::new(run.path(), 2);
    for iter in 0..3 {
        let d = save_iter(&store, 1, iter);
        Manifest::verify(&d).unwrap();
        assert_eq!(iter_of(&d), iter);
    }
}

/// `kill -9` at many instants of a process that does nothing but re-save step 1: every time,
/// step 1 is still there and verifies (the old store lost it when killed between deleting the
/// old directory and renaming the new one in).
#[test]
fn kill_9_during_resaves_keeps_the_step() {
    use std::process::{Command, Stdio};
    let run = tempfile::tempdir().unwrap();
    let store = CheckpointStore::new(run.path(), 2);
    save_iter(&store, 1, 0);
    let exe = std::env::current_exe().unwrap();
    for i in 0..24u64 {
        let mut child = Command::new(&exe)
            .args(["resave_child", "--exact", "--test-threads=1", "-q"])
            .env("LOWBIT_RESAVE_DIR", run.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the child has re-saved at least once, then a varying extra delay.
        let t = std::time::Instant::now();
        let state = run.path().join("step-00000001/state.json");
        let resaved = || {
            let s = std::fs::read_to_string(&state).unwrap_or_default();
            serde_json::from_str::<serde_json::Value>(&s).is_ok_and(|v| v["iter"] != 0)
        };
        while !resaved() {
            assert!(t.elapsed().as_secs() < 60, "the child never re-saved");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        std::thread::sleep(std::time::Duration::from_micros(1 + (i * 7919) % 20_000));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let r = store.resume_point().unwrap().expect("step 1 survives");
        assert_eq!(r.step, 1);
        Manifest::verify(&r.dir).unwrap();
        // Start the next child from a committed iteration 0 again (recovery happens on save).
        save_iter(&store, 1, 0);
        assert_eq!(store.list().len(), 1);
    }
}
