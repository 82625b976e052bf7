//! Checkpoints carry their grid files by content (issue 12, item 5): a `tiny` run on the
//! `po2-nf4-default` grid-file format, copied to a directory with no `grids/` beside it, still
//! evaluates, generates and feeds `grids learn` exactly as in place; a same-named grid file with
//! other levels in the working directory is reported and not used, by those commands and by
//! `train --resume`; a `config.json` written before grids were carried (paths only) still loads
//! from its path, as it did.

use lowbit_formats::GridFile;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FAMILY: &str = "po2-nf4-default";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn lowbit(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lowbit"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn corpus() -> PathBuf {
    repo().join("tests/fixtures/tiny-corpus")
}

/// A `tiny` training command on the grid-file format, `steps` steps, a checkpoint every 2.
fn train_args(out: &Path, run: &str, steps: u64) -> Vec<String> {
    let mut v: Vec<String> = [
        "train",
        "--recipe",
        "tiny",
        "--progress",
        "quiet",
        "--json",
        "--out",
        p(out),
        "--run-name",
        run,
    ]
    .map(String::from)
    .to_vec();
    for s in [
        format!("compression.weight={FAMILY}"),
        format!("compression.input={FAMILY}"),
        format!("data.corpus={}", p(&corpus())),
        format!("train.steps={steps}"),
        "checkpoint.every_steps=2".into(),
        "checkpoint.keep_last=5".into(),
        "eval.every_steps=2".into(),
    ] {
        v.push("--set".into());
        v.push(s);
    }
    v
}

fn run_train(cwd: &Path, args: &[String]) -> Output {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    lowbit(cwd, &a)
}

/// The repository's grid file with the learned partner reshaped, x → x·|x|/max|x| (still
/// ascending, same largest magnitude, so the block scales stay and the rounding changes; a
/// uniform rescale would be absorbed by the scales): same name, other levels.
fn changed_grid_file(dir: &Path) {
    let mut f = GridFile::load(&repo().join("grids").join(format!("{FAMILY}.toml"))).unwrap();
    assert_eq!(f.name, FAMILY);
    let m = f.grids[1].iter().fold(0.0f32, |a, x| a.max(x.abs()));
    for x in &mut f.grids[1] {
        *x *= x.abs() / m;
    }
    std::fs::create_dir_all(dir.join("grids")).unwrap();
    f.save(&dir.join("grids").join(format!("{FAMILY}.toml")))
        .unwrap();
}

fn eval_nll(cwd: &Path, ck: &Path) -> (f64, String) {
    let text = corpus().join(first_txt());
    let o = lowbit(
        cwd,
        &[
            "eval",
            "--checkpoint",
            p(ck),
            "--text-file",
            p(&text),
            "--max-tokens",
            "200",
            "--json",
        ],
    );
    let v: Value = serde_json::from_str(ok(&o).trim()).unwrap();
    (v["nll"].as_f64().unwrap(), stderr(&o))
}

fn first_txt() -> PathBuf {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    v.sort();
    PathBuf::from(v[0].file_name().unwrap())
}

fn generate(cwd: &Path, ck: &Path) -> String {
    ok(&lowbit(
        cwd,
        &[
            "generate",
            "--checkpoint",
            p(ck),
            "--prompt",
            "the king",
            "--max-new-tokens",
            "8",
        ],
    ))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.path().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn warns_about_both(err: &str) {
    assert!(err.contains("warning"), "{err}");
    assert!(err.contains(&format!("grid `{FAMILY}`")), "{err}");
    // Names the file on disk and where the carried copy came from.
    assert!(
        err.contains(&format!("grids/{FAMILY}.toml defines other levels")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "(read from grids/{FAMILY}.toml when the run started)"
        )),
        "{err}"
    );
}

#[test]
fn a_copied_checkpoint_evaluates_elsewhere_with_its_own_grids() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    ok(&run_train(&repo(), &train_args(&runs, "g", 2)));
    let step = runs.join("g/step-00000002");
    let (in_place, err) = eval_nll(&repo(), &step);
    assert!(!err.contains("warning"), "{err}");
    let gen_in_place = generate(&repo(), &step);

    // Copied into a directory with no grids/ beside it, evaluated from another one.
    let copy = tmp.path().join("copied/step");
    copy_dir(&step, &copy);
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    assert_eq!(eval_nll(&elsewhere, &copy).0, in_place);
    assert_eq!(generate(&elsewhere, &copy), gen_in_place);

    // A same-named file with other levels in the working directory: reported, not used.
    changed_grid_file(&elsewhere);
    let (nll, err) = eval_nll(&elsewhere, &copy);
    assert_eq!(nll, in_place);
    warns_about_both(&err);
    let o = lowbit(
        &elsewhere,
        &[
            "generate",
            "--checkpoint",
            p(&copy),
            "--prompt",
            "the king",
            "--max-new-tokens",
            "8",
        ],
    );
    assert_eq!(ok(&o), gen_in_place);
    warns_about_both(&stderr(&o));
    let learned = elsewhere.join("learned.toml");
    let o = lowbit(
        &elsewhere,
        &[
            "grids",
            "learn",
            "--checkpoint",
            p(&copy),
            "--family",
            "po2-nf4",
            "--data",
            p(&corpus()),
            "--batches",
            "1",
            "--max-blocks",
            "128",
            "--max-iters",
            "5",
            "--out",
            p(&learned),
        ],
    );
    assert!(ok(&o).contains("wrote"));
    warns_about_both(&stderr(&o));
    assert_eq!(GridFile::load(&learned).unwrap().grids.len(), 2);

    // A config.json from before grids were carried names paths: read from the working
    // directory, as it always was (the changed file really changes the model).
    let cfg_path = copy.join("config.json");
    let mut cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    let policy = cfg["lowbit_compression"].as_object_mut().unwrap();
    assert_eq!(
        policy["grids"].as_array().map(Vec::len),
        Some(1),
        "{policy:?}"
    );
    policy.remove("grids");
    policy.insert(
        "grid_files".into(),
        serde_json::json!([format!("grids/{FAMILY}.toml")]),
    );
    std::fs::write(&cfg_path, serde_json::to_string(&cfg).unwrap()).unwrap();
    assert_eq!(eval_nll(&repo(), &copy).0, in_place);
    assert_ne!(eval_nll(&elsewhere, &copy).0, in_place);
}

#[test]
fn resume_uses_the_checkpoints_grids() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    copy_dir(&repo().join("recipes"), &work.join("recipes"));
    std::fs::create_dir_all(work.join("grids")).unwrap();
    let name = format!("{FAMILY}.toml");
    std::fs::copy(
        repo().join("grids").join(&name),
        work.join("grids").join(&name),
    )
    .unwrap();
    let runs = tmp.path().join("runs");
    let summary = |o: &Output| -> Value { serde_json::from_str(ok(o).trim()).unwrap() };
    let full = summary(&run_train(&work, &train_args(&runs, "full", 4)));

    // The same run resumed from step 2 after grids/ changed: it continues on the carried grids,
    // bit for bit, and says the file on disk was not used.
    changed_grid_file(&work);
    let mut args = train_args(&runs, "resumed", 4);
    args.extend([
        "--resume".into(),
        p(&runs.join("full/step-00000002")).into(),
    ]);
    let o = run_train(&work, &args);
    let resumed = summary(&o);
    warns_about_both(&stderr(&o));
    assert_eq!(resumed["steps"], 4);
    assert_eq!(resumed["final_loss"], full["final_loss"]);
    assert_eq!(resumed["val_loss"], full["val_loss"]);
    let weights = |run: &str| std::fs::read(runs.join(run).join("step-00000004/model.safetensors"));
    assert!(weights("full").unwrap() == weights("resumed").unwrap());
    // The resumed run's checkpoints still carry the original copy.
    let cfg = std::fs::read_to_string(runs.join("resumed/step-00000004/config.json")).unwrap();
    let orig = std::fs::read_to_string(repo().join("grids").join(&name)).unwrap();
    let v: Value = serde_json::from_str(&cfg).unwrap();
    assert_eq!(v["lowbit_compression"]["grids"][0]["toml"], orig.as_str());
}
