//! End-to-end tests of `lowbit train` on the `tiny` recipe: a run and its summary, recipe errors,
//! SIGINT writing a final checkpoint, and `kill -9` at an arbitrary instant (checkpoints are
//! written every step) leaving a loadable checkpoint that `--resume auto` continues from.

use lowbit_train::CheckpointStore;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn lowbit(args: &[&str], out: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lowbit"));
    c.arg("train")
        .args(["--recipe", "tiny", "--progress", "quiet", "--out"])
        .arg(out)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn run(args: &[&str], out: &Path) -> Output {
    lowbit(args, out).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn trains_and_prints_a_summary() {
    let out = tempfile::tempdir().unwrap();
    let o = run(&["--run-name", "a", "--json"], out.path());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&o.stdout).trim()).unwrap();
    assert_eq!(v["steps"], 20);
    let val = v["val_loss"].as_f64().unwrap();
    assert!(val.is_finite() && val < (300f64).ln(), "{val}");
    assert!((v["val_ppl"].as_f64().unwrap() - val.exp()).abs() < 1e-9);
    let run_dir = out.path().join("a");
    for f in ["recipe.resolved.toml", "metrics.jsonl", "LATEST", "tb"] {
        assert!(run_dir.join(f).exists(), "{f}");
    }
    for f in [
        "model.safetensors",
        "optimizer.safetensors",
        "state.json",
        "manifest.json",
        "config.json",
        "tokenizer.json",
    ] {
        assert!(run_dir.join("step-00000020").join(f).is_file(), "{f}");
    }
    // A second fresh run into the same directory is refused, with the fix.
    let o = run(&["--run-name", "a"], out.path());
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("--resume auto"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn recipe_errors_name_the_key() {
    let out = tempfile::tempdir().unwrap();
    let o = run(&["--set", "train.stpes=3"], out.path());
    assert!(!o.status.success());
    let e = text(&o.stderr);
    assert!(
        e.contains("train.stpes") && e.contains("unknown field"),
        "{e}"
    );
    let o = run(&["--set", "train.steps=abc"], out.path());
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("train.steps"),
        "{}",
        text(&o.stderr)
    );
    let o = run(&["--set", "data.corpus=/no/such/dir"], out.path());
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("/no/such/dir"),
        "{}",
        text(&o.stderr)
    );
    // A device this build cannot use is refused before any data preparation.
    let o = run(&["--device", "tpu"], out.path());
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("cpu, cuda, cuda:N, wgpu"),
        "{}",
        text(&o.stderr)
    );
    let o = run(&["--device", "cpu,cpu"], out.path());
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("CUDA devices"),
        "{}",
        text(&o.stderr)
    );
    if !cfg!(feature = "cuda") {
        let o = run(&["--device", "cuda:0,cuda:1"], out.path());
        assert!(!o.status.success());
        assert!(
            text(&o.stderr).contains("--features cuda"),
            "{}",
            text(&o.stderr)
        );
    }
}

fn wait_for(child: &mut Child, what: impl Fn() -> bool) {
    let t = Instant::now();
    while !what() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("lowbit exited early: {status}");
        }
        assert!(t.elapsed() < Duration::from_secs(120), "timed out");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn latest_step(dir: &Path) -> u64 {
    CheckpointStore::new(dir, 100)
        .resume_point()
        .expect("a verifiable checkpoint")
        .expect("some checkpoint")
        .step
}

#[test]
fn sigint_writes_a_final_checkpoint() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("int");
    let mut child = lowbit(
        &[
            "--run-name",
            "int",
            "--set",
            "train.steps=100000",
            "--set",
            "checkpoint.every_steps=100000",
            "--set",
            "log.every_steps=1",
        ],
        out.path(),
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let metrics = dir.join("metrics.jsonl");
    wait_for(&mut child, || {
        std::fs::read_to_string(&metrics).is_ok_and(|s| s.lines().count() >= 5)
    });
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("--resume auto"),
        "{}",
        text(&o.stderr)
    );
    // The checkpoint holds the last completed step, which the metrics also end at.
    let step = latest_step(&dir);
    let last = lowbit_train::metrics::read_metrics(&metrics)
        .unwrap()
        .last()
        .unwrap()
        .step;
    assert!(step >= 5);
    assert_eq!(step, last);
}

#[test]
fn kill_9_during_checkpointing_leaves_a_loadable_checkpoint() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("k9");
    let args = [
        "--run-name",
        "k9",
        "--set",
        "train.steps=60",
        "--set",
        "checkpoint.every_steps=1",
        "--set",
        "checkpoint.keep_last=2",
        "--set",
        "eval.every_steps=1000",
    ];
    // Kill at a few different moments: each time a checkpoint is being written or pruned
    // (one is written every step), yet a verified one must remain.
    for (i, after) in [3u64, 9, 17].into_iter().enumerate() {
        let resume = if i == 0 {
            vec![]
        } else {
            vec!["--resume", "auto"]
        };
        let mut child = lowbit(&[&args[..], &resume[..]].concat(), out.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for(&mut child, || {
            CheckpointStore::new(&dir, 100)
                .list()
                .last()
                .is_some_and(|(s, _)| *s >= after)
        });
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert!(latest_step(&dir) >= after - 1);
    }
    let o = run(&[&args[..], &["--resume", "auto"]].concat(), out.path());
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(latest_step(&dir), 60);
}

#[test]
fn resume_with_a_changed_recipe_needs_the_flag() {
    let out = tempfile::tempdir().unwrap();
    let base = [
        "--run-name",
        "rc",
        "--set",
        "train.steps=2",
        "--set",
        "eval.every_steps=1000",
    ];
    let o = run(&base, out.path());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let longer = [&base[..], &["--set", "train.steps=4", "--resume", "auto"]].concat();
    let changed = [&longer[..], &["--set", "compression.weight=int4"]].concat();
    let o = run(&changed, out.path());
    assert!(!o.status.success());
    let e = text(&o.stderr);
    assert!(
        e.contains("compression.weight")
            && e.contains("--allow-recipe-change")
            && !e.contains("train.steps"),
        "{e}"
    );
    let o = run(
        &[&changed[..], &["--allow-recipe-change"]].concat(),
        out.path(),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let e = text(&o.stderr);
    assert!(
        e.lines()
            .any(|l| l.starts_with("warning:") && l.contains("compression.weight")),
        "{e}"
    );
    assert_eq!(latest_step(&out.path().join("rc")), 4);
}

/// `kill -9` while a checkpoint step is being *re-saved*: SIGINT right after a periodic
/// checkpoint (written every step) makes the run save that step again; the kill lands at
/// varying delays after the re-save starts. The newest committed step must survive each time.
#[test]
fn kill_9_during_a_resave_keeps_the_step() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("rs");
    let args = [
        "--run-name",
        "rs",
        "--set",
        "train.steps=100000",
        "--set",
        "checkpoint.every_steps=1",
        "--set",
        "checkpoint.keep_last=2",
        "--set",
        "eval.every_steps=100000",
    ];
    for (i, delay_us) in [0u64, 300, 1000, 3000].into_iter().enumerate() {
        let resume = if i == 0 {
            vec![]
        } else {
            vec!["--resume", "auto"]
        };
        let mut child = lowbit(&[&args[..], &resume[..]].concat(), out.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let store = CheckpointStore::new(&dir, 100);
        let start = store.list().last().map_or(0, |(s, _)| *s);
        wait_for(&mut child, || {
            store.list().last().is_some_and(|(s, _)| *s >= start + 2)
        });
        let st = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        // The step the stop re-saves: the newest committed one once a temporary directory for
        // an existing step appears (or the child finishes first).
        let t = Instant::now();
        let resaving = loop {
            let newest = store.list().last().map(|(s, _)| *s);
            if let Some(n) = newest
                && dir.join(format!(".tmp-step-{n:08}")).exists()
            {
                break Some(n);
            }
            if child.try_wait().unwrap().is_some() || t.elapsed() > Duration::from_secs(60) {
                break None;
            }
        };
        std::thread::sleep(Duration::from_micros(delay_us));
        let _ = child.kill(); // SIGKILL (a no-op if it has exited)
        child.wait().unwrap();
        if let Some(n) = resaving {
            assert!(latest_step(&dir) >= n, "step {n} lost during its re-save");
        }
    }
    // The run continues from there.
    let target = latest_step(&dir) + 3;
    let steps = format!("train.steps={target}");
    let o = run(
        &[&args[..], &["--resume", "auto", "--set", &steps]].concat(),
        out.path(),
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(latest_step(&dir), target);
}
