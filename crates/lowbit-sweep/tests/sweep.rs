//! Sweeps end to end on the bundled fixture corpus and the `tiny` preset: 2 sizes × 2 budgets ×
//! 2 recipes, a few steps each. An interrupted sweep resumes its run, a finished sweep skips
//! every run without touching its files, the summary CSV is in the fitting schema; bad plans
//! are errors naming the file and the key.

use lowbit_scaling::load_points;
use lowbit_sweep::{
    LrRule, PlannedRun, RunStatus, SweepError, SweepOptions, SweepReport, expand,
    non_embedding_params, parse_plan, run_sweep,
};
use lowbit_train::checkpoint::sha256_hex;
use lowbit_train::metrics::read_metrics;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const PLAN: &str = r#"
description = "test: 2 sizes × 2 budgets × 2 recipes"
recipes = ["bf16", "nvfp4"]

[[sizes]]
preset = "tiny"

[[sizes]]
name = "tiny-l1"
preset = "tiny"
n_layers = 1

[tokens]
total = [384, 768]

[train]
batch_size = 4
seq_len = 32
lr = 3e-3
set = [
    "data.corpus=tests/fixtures/tiny-corpus",
    "data.vocab_size=300",
    "checkpoint.every_steps=2",
    "checkpoint.keep_last=10",
    "eval.every_steps=100",
    "eval.batches=2",
    "log.every_steps=1",
]
"#;

fn plan_runs(text: &str, out: &Path) -> Vec<PlannedRun> {
    let path = Path::new("test-plan.toml");
    let plan = parse_plan(text, path).expect("plan parses");
    expand(&plan, path, &root().join("recipes"), out).expect("plan expands")
}

fn sweep(runs: &[PlannedRun], out: &Path, stop_after: Option<u64>) -> SweepReport {
    let mut o = SweepOptions::new(root(), out);
    o.stop_after_steps = stop_after;
    let mut events = 0;
    let r = run_sweep("test", runs, &o, &mut |_| events += 1).expect("sweep runs");
    assert_eq!(events, 2 * r.runs.len(), "a start and a done event per run");
    r
}

fn metrics_hashes(runs: &[PlannedRun]) -> Vec<String> {
    runs.iter()
        .map(|r| sha256_hex(&std::fs::read(r.dir.join("metrics.jsonl")).expect("metrics")))
        .collect()
}

#[test]
fn sweep_resumes_interrupted_runs_skips_finished_ones_and_writes_the_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    let runs = plan_runs(PLAN, &out);
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "tiny_tok384_bf16",
            "tiny_tok384_nvfp4",
            "tiny_tok768_bf16",
            "tiny_tok768_nvfp4",
            "tiny-l1_tok384_bf16",
            "tiny-l1_tok384_nvfp4",
            "tiny-l1_tok768_bf16",
            "tiny-l1_tok768_nvfp4",
        ]
    );
    // Steps = tokens / (batch · seq_len) = 384 / 128, 768 / 128.
    let steps: Vec<u64> = runs.iter().map(|r| r.steps).collect();
    assert_eq!(steps, [3, 3, 6, 6, 3, 3, 6, 6]);

    // 1. Interrupted in its first run after 2 steps: a checkpoint, no summary.
    let first = sweep(&runs, &out, Some(2));
    assert!(first.interrupted);
    assert_eq!(first.runs.len(), 1);
    assert_eq!(first.runs[0].status, RunStatus::Interrupted { at_step: 2 });
    assert!(first.summary_csv.is_none());
    assert!(runs[0].dir.join("step-00000002").is_dir());
    assert!(!out.join("summary.csv").exists());

    // 2. Rerun: the interrupted run resumes from step 2, the others train from scratch.
    let second = sweep(&runs, &out, None);
    assert!(!second.interrupted);
    assert_eq!(second.runs[0].status, RunStatus::Resumed { from_step: 2 });
    for o in &second.runs[1..] {
        assert_eq!(o.status, RunStatus::Trained, "{}", o.run);
    }
    // The resumed run's history is one consistent sequence of steps.
    let m = read_metrics(&runs[0].dir.join("metrics.jsonl")).unwrap();
    let logged: Vec<u64> = m.iter().map(|r| r.step).collect();
    assert_eq!(logged, [1, 2, 3]);

    // The summary: fitting schema, one row per run, the final validation loss of each run.
    let csv = out.join("summary.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        "run,format,n_params,tokens,loss,weight_format,act_format,sparsity,gmse"
    );
    let points = load_points(&csv).expect("the summary loads as fitting data");
    assert_eq!(points.len(), 8);
    for (p, r) in points.iter().zip(&runs) {
        assert_eq!(p.run, r.name);
        assert_eq!(p.format, r.format);
        assert_eq!(p.n_params, non_embedding_params(&r.dims) as f64);
        assert_eq!(p.tokens, (r.steps * 128) as f64);
        let m = read_metrics(&r.dir.join("metrics.jsonl")).unwrap();
        let last = m.last().unwrap();
        assert_eq!(last.step, r.steps);
        // metrics.jsonl is read back through serde_json, whose float parsing may be 1 ulp off.
        let v = last.val_loss.unwrap();
        assert!(
            (p.loss - v).abs() <= 1e-12 * v,
            "{}: {} vs {v}",
            r.name,
            p.loss
        );
        match r.format.as_str() {
            "bf16" => {
                assert_eq!(p.weight_format.as_deref(), Some("none"));
                assert_eq!(p.gmse, None);
            }
            _ => {
                assert_eq!(p.weight_format.as_deref(), Some("nvfp4"));
                assert_eq!(p.act_format.as_deref(), Some("nvfp4"));
                // NVFP4's Gaussian MSE is about 0.009 (formats-and-scaling.md §7.4).
                let g = p.gmse.unwrap();
                assert!((0.008..0.010).contains(&g), "gmse {g}");
            }
        }
    }
    // Two sizes: one block fewer is fewer parameters.
    assert!(points[4].n_params < points[0].n_params);
    assert!(out.join("sweep.json").is_file());

    // 3. Rerun a finished sweep: every run is skipped, nothing is rewritten.
    let before = metrics_hashes(&runs);
    let third = sweep(&runs, &out, None);
    assert!(third.runs.iter().all(|o| o.status == RunStatus::Skipped));
    assert!(third.runs.iter().all(|o| o.warnings.is_empty()));
    assert_eq!(metrics_hashes(&runs), before);
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), text);
}

#[test]
fn non_embedding_params_match_the_model() {
    use burn::module::Module;
    let tmp = tempfile::tempdir().unwrap();
    let runs = plan_runs(PLAN, tmp.path());
    for r in [&runs[0], &runs[4]] {
        let vocab = r.recipe.data.vocab_size;
        let cfg = lowbit_train::trainer::llama_config(&r.recipe, vocab).unwrap();
        let device = burn::tensor::Device::flex();
        let model = lowbit_train::trainer::init_model(&cfg, 1, &device).unwrap();
        let embedding = (2 * vocab * r.dims.d_model) as u64; // untied embedding + LM head
        assert_eq!(
            model.num_params() as u64 - embedding,
            non_embedding_params(&r.dims),
            "{}",
            r.name
        );
    }
}

#[test]
fn budgets_per_parameter_and_lr_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = PLAN
        .replace("total = [384, 768]", "per_param = [0.5]")
        .replace(
            "lr = 3e-3",
            "lr = 4e-3\nlr_rule = \"inverse-width\"\nlr_base_d_model = 32",
        );
    let runs = plan_runs(&plan, tmp.path());
    assert_eq!(runs[0].name, "tiny_tpp0.5_bf16");
    for r in &runs {
        let want = ((0.5 * r.n_params as f64) / 128.0).round() as u64;
        assert_eq!(r.steps, want.max(1));
        // d_model 64 is twice the base width: half the lr.
        assert_eq!(r.lr, 2e-3);
        assert_eq!(r.recipe.train.lr, 2e-3);
        assert_eq!(r.recipe.train.steps, r.steps);
    }

    let per_size = PLAN
        .replace("lr = 3e-3", "lr_rule = \"per-size\"")
        .replace(
            "preset = \"tiny\"\n\n[[sizes]]",
            "preset = \"tiny\"\nlr = 1e-3\n\n[[sizes]]",
        )
        .replace("n_layers = 1", "n_layers = 1\nlr = 5e-3");
    let path = Path::new("p.toml");
    let p = parse_plan(&per_size, path).unwrap();
    assert_eq!(p.train.lr_rule, LrRule::PerSize);
    let runs = expand(&p, path, &root().join("recipes"), tmp.path()).unwrap();
    assert_eq!(runs[0].lr, 1e-3);
    assert_eq!(runs[7].lr, 5e-3);
}

fn plan_error(text: &str) -> String {
    let path = Path::new("sweeps/bad.toml");
    match parse_plan(text, path) {
        Ok(plan) => match expand(
            &plan,
            path,
            &root().join("recipes"),
            Path::new("/tmp/unused"),
        ) {
            Ok(_) => panic!("plan accepted:\n{text}"),
            Err(e) => e.to_string(),
        },
        Err(e) => {
            assert!(matches!(e, SweepError::Plan { .. }), "{e:?}");
            e.to_string()
        }
    }
}

#[test]
fn bad_plans_name_the_file_and_the_key() {
    let cases: [(String, &[&str]); 8] = [
        (
            PLAN.replace("batch_size = 4", "batch_sise = 4"),
            &["sweeps/bad.toml", "batch_sise", "unknown field", "fix:"],
        ),
        (
            PLAN.replace("batch_size = 4", "batch_size = \"four\""),
            &["sweeps/bad.toml", "train.batch_size", "fix:"],
        ),
        (
            PLAN.replace("total = [384, 768]", "total = [384, -1]"),
            &["sweeps/bad.toml", "tokens.total[1]", "positive"],
        ),
        (
            PLAN.replace("total = [384, 768]", "total = [384]\nper_param = [2]"),
            &["sweeps/bad.toml", "`tokens`", "exactly one"],
        ),
        (
            PLAN.replace(
                "\"eval.batches=2\",",
                "\"eval.batches=2\", \"train.steps=7\",",
            ),
            &[
                "sweeps/bad.toml",
                "train.set[6]",
                "train.steps",
                "set by the sweep",
            ],
        ),
        (
            PLAN.replace("n_layers = 1", "n_layers = 1\nlr = 1e-3"),
            &["sweeps/bad.toml", "sizes[1].lr", "per-size"],
        ),
        (
            PLAN.replace("[\"bf16\", \"nvfp4\"]", "[\"bf16\", \"nvfp5\"]"),
            &[
                "sweeps/bad.toml",
                "recipes[1]",
                "no such recipe `nvfp5`",
                "nvfp4",
            ],
        ),
        (
            PLAN.replace("data.vocab_size=300", "data.vocab_sise=300"),
            &["sweeps/bad.toml", "recipes[0]", "data.vocab_sise", "--set"],
        ),
    ];
    for (text, needles) in &cases {
        let msg = plan_error(text);
        for n in *needles {
            assert!(msg.contains(n), "`{n}` not in: {msg}");
        }
    }
}

/// The committed `recipes/sweeps/tiny.toml`, unchanged but for a tiny step budget and the bundled
/// fixture corpus: every one of its 27 (size × budget × recipe) points trains through the
/// trainer and lands in the summary.
#[test]
fn the_committed_tiny_plan_runs_end_to_end_with_a_tiny_budget() {
    let path = root().join("recipes/sweeps/tiny.toml");
    let mut plan = lowbit_sweep::load_plan(&path).expect("the committed plan parses");
    assert_eq!(plan.recipes, ["bf16", "nvfp4", "int4-quest"]);
    assert_eq!(plan.sizes.len(), 3);
    plan.tokens.total = Some(vec![64.0, 128.0, 192.0]);
    plan.train.batch_size = 2;
    plan.train.seq_len = 32;
    plan.train.set.extend(
        [
            "data.corpus=tests/fixtures/tiny-corpus",
            "data.vocab_size=300",
            "eval.batches=1",
        ]
        .map(String::from),
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("tiny");
    let runs = expand(&plan, &path, &root().join("recipes"), &out).expect("plan expands");
    assert_eq!(runs.len(), 27);
    let r = run_sweep(
        &plan.description,
        &runs,
        &SweepOptions::new(root(), &out),
        &mut |_| {},
    )
    .expect("sweep runs");
    assert!(!r.interrupted);
    let points = load_points(&r.summary_csv.expect("summary written")).expect("fitting schema");
    assert_eq!(points.len(), 27);
    let mut formats: Vec<&str> = points.iter().map(|p| p.format.as_str()).collect();
    formats.sort();
    formats.dedup();
    assert_eq!(formats, ["bf16", "int4-quest", "nvfp4"]);
    assert!(points.iter().all(|p| p.loss.is_finite() && p.loss > 0.0));
}
