//! `lowbit finetune` on the tiny random Llama of `common`, its INT2 GPTQ student as the
//! compressed checkpoint: P-only keeps every code and lowers the KL to the teacher; τ = 0 keeps
//! every code; PV changes at most ⌈τ·n⌉ codes per layer and step; a stopped run resumes to the
//! same losses and bytes; bad recipes and mismatched checkpoints are clear errors.

mod common;

use common::*;
use std::path::{Path, PathBuf};

const FORMAT: &str = "int2:block=16,asym";

struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    teacher: PathBuf,
    student: PathBuf,
    text: PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let (text, _) = texts(&root);
    let teacher = root.join("teacher");
    tiny_model(&teacher, None);
    let student = root.join("student");
    ok(&compress(&teacher, &student, "gptq", FORMAT, &text, &[]));
    Setup {
        _tmp: tmp,
        root,
        teacher,
        student,
        text,
    }
}

/// `lowbit finetune` with small settings plus `sets`; returns the process output.
fn finetune(
    su: &Setup,
    recipe: &str,
    run: &str,
    sets: &[&str],
    extra: &[&str],
) -> std::process::Output {
    let out = su.root.join("runs");
    let mut args = vec![
        "finetune",
        "--recipe",
        recipe,
        "--student",
        s(&su.student),
        "--teacher",
        s(&su.teacher),
        "--data-text",
        s(&su.text),
        "--out",
        s(&out),
        "--run-name",
        run,
        "--progress",
        "quiet",
        "--json",
    ];
    let base = [
        "train.steps=6",
        "train.seq_len=32",
        "train.batch_size=2",
        "train.lr=3e-3",
        "eval.every_steps=1",
        "eval.batches=1",
        "checkpoint.every_steps=3",
    ];
    for kv in base.iter().chain(sets) {
        args.push("--set");
        args.push(kv);
    }
    args.extend_from_slice(extra);
    lowbit(&args)
}

fn run_dir(su: &Setup, run: &str) -> PathBuf {
    su.root.join("runs").join(run)
}

fn metrics(dir: &Path) -> Vec<serde_json::Value> {
    jsonl(&dir.join("metrics.jsonl"))
}

fn codes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    checkpoint_parts(dir)
        .into_iter()
        .map(|(n, p)| (n, p.codes))
        .collect()
}

#[test]
fn p_only_keeps_codes_and_lowers_the_kl() {
    let su = setup();
    ok(&finetune(&su, "p-only-2bit", "p", &[], &[]));
    let dir = run_dir(&su, "p");
    let m = metrics(&dir);
    let kl: Vec<f64> = m
        .iter()
        .filter_map(|r| r["extra"]["val_kl"].as_f64())
        .collect();
    assert_eq!(kl.len(), 6);
    assert!(kl[5] < kl[0], "held-out KL {kl:?}");
    let before = codes(&su.student);
    assert!(!before.is_empty());
    assert_eq!(codes(&dir.join("step-00000006")), before);
    // The step-6 checkpoint is a compressed checkpoint eval reads and export writes out dense
    // (the same NLL from stock-layout weights).
    let step = dir.join("step-00000006");
    let coded = nll(&step, &su.text);
    let hf = su.root.join("hf");
    ok(&lowbit(&[
        "export",
        "--checkpoint",
        s(&step),
        "--format",
        "hf",
        "--out",
        s(&hf),
    ]));
    assert!(
        (nll(&hf, &su.text) - coded).abs() < 1e-4,
        "export changes the model"
    );
}

/// `finetune.groups` come first: a group freezing every scale and zero point leaves them as
/// they were while the rest trains.
#[test]
fn parameter_groups_freeze_what_they_match() {
    let su = setup();
    let freeze = [
        "finetune.groups=[{ pattern = \"*.weight_scale\", lr = { scale = 0.0 } }, { pattern = \"*.weight_zero_point\", lr = { scale = 0.0 } }]",
    ];
    ok(&finetune(&su, "p-only-2bit", "g", &freeze, &[]));
    let parts = |d: &Path| -> Vec<(Vec<f32>, Vec<f32>)> {
        checkpoint_parts(d)
            .into_iter()
            .map(|(_, p)| (p.scales, p.zeros))
            .collect()
    };
    let dir = run_dir(&su, "g").join("step-00000006");
    assert_eq!(parts(&dir), parts(&su.student));
    let norm = |d: &Path| {
        lowbit_nn::hf::read_safetensors(&d.join("model.safetensors")).unwrap()["model.norm.weight"]
            .clone()
    };
    assert_ne!(norm(&dir), norm(&su.student), "the norms still train");
}

#[test]
fn tau_zero_keeps_codes_and_pv_changes_at_most_tau() {
    let su = setup();
    let before = codes(&su.student);
    ok(&finetune(
        &su,
        "pv-2bit",
        "t0",
        &[
            "finetune.method=\"pv\"",
            "finetune.tau=0.0",
            "finetune.code_lr=10.0",
        ],
        &[],
    ));
    assert_eq!(codes(&run_dir(&su, "t0").join("step-00000006")), before);
    let tau = 0.05;
    ok(&finetune(
        &su,
        "pv-2bit",
        "t5",
        &[
            "finetune.method=\"pv\"",
            "finetune.tau=0.05",
            "finetune.code_lr=10.0",
        ],
        &[],
    ));
    let after = codes(&run_dir(&su, "t5").join("step-00000006"));
    assert_ne!(after, before, "a huge code step changes codes");
    let mut seen = 0.0;
    for r in metrics(&run_dir(&su, "t5")) {
        for (k, v) in r["extra"].as_object().unwrap() {
            let Some(layer) = k.strip_prefix("codes_changed/") else {
                continue;
            };
            let (_, parts) = checkpoint_parts(&su.student)
                .into_iter()
                .find(|(n, _)| n.ends_with(layer))
                .unwrap();
            let n = parts.codes.len() as f64;
            let cap = (tau * n).ceil() / n;
            let f = v.as_f64().unwrap();
            assert!(f <= cap + 1e-12, "{k}: {f} > ⌈τn⌉/n = {cap}");
            seen += f;
        }
    }
    assert!(seen > 0.0);
}

#[test]
fn a_stopped_run_resumes_bit_identically() {
    let su = setup();
    let sets = ["finetune.code_lr=0.5", "finetune.tau=0.1"];
    ok(&finetune(&su, "pv-2bit", "full", &sets, &[]));
    let stopped = finetune(&su, "pv-2bit", "part", &sets, &["--stop-after", "3"]);
    assert!(
        run_dir(&su, "part").join("step-00000003").is_dir(),
        "{}",
        String::from_utf8_lossy(&stopped.stderr)
    );
    ok(&finetune(
        &su,
        "pv-2bit",
        "part",
        &sets,
        &["--resume", "auto"],
    ));
    let losses = |run: &str| -> Vec<(u64, String, String)> {
        metrics(&run_dir(&su, run))
            .iter()
            .map(|r| {
                (
                    r["step"].as_u64().unwrap(),
                    r["loss"].to_string(),
                    r["extra"]["codes_changed"].to_string(),
                )
            })
            .collect()
    };
    let (a, b) = (losses("full"), losses("part"));
    assert_eq!(a, b);
    assert!(
        a.iter().any(|(_, _, c)| c != "0.0"),
        "codes changed somewhere: {a:?}"
    );
    let file = |run: &str| {
        std::fs::read(run_dir(&su, run).join("step-00000006/model.safetensors")).unwrap()
    };
    assert_eq!(file("full"), file("part"));
}

#[test]
fn bad_recipes_and_mismatched_checkpoints_are_clear_errors() {
    let su = setup();
    let e = err(&finetune(&su, "pv-2bit", "x", &["finetune.bogus=1"], &[]));
    assert!(
        e.contains("finetune.bogus") && e.contains("unknown field"),
        "{e}"
    );
    let e = err(&finetune(&su, "pv-2bit", "x", &["finetune.tau=2.0"], &[]));
    assert!(e.contains("finetune.tau") && e.contains("[0, 1]"), "{e}");
    let e = err(&finetune(&su, "no-such-recipe", "x", &[], &[]));
    assert!(e.contains("no such recipe") && e.contains("pv-2bit"), "{e}");
    // The teacher as the student: not compressed.
    let mut swapped = vec![
        "finetune",
        "--student",
        s(&su.teacher),
        "--teacher",
        s(&su.teacher),
    ];
    swapped.extend(["--data-text", s(&su.text)]);
    let e = err(&lowbit(&swapped));
    assert!(e.contains("not a compressed checkpoint"), "{e}");
    // Another network as the teacher.
    let other = root().join("tests/fixtures/hf/gqa-untied");
    let args = [
        "finetune",
        "--student",
        s(&su.student),
        "--teacher",
        s(&other),
        "--data-text",
        s(&su.text),
    ];
    let e = err(&lowbit(&args));
    assert!(e.contains("does not match") || e.contains("differs"), "{e}");
}
