//! A resume must not change the model: a recipe that differs from the checkpoint's outside the
//! allow-list (`recipe::RESUME_MAY_CHANGE`) is an error naming every differing key, unless
//! `allow_recipe_change` (`--allow-recipe-change`), which resumes and warns with the keys. Also:
//! `train.weight_decay_rule` reaches the optimizer.

use lowbit_data::TokenDataset;
use lowbit_nn::hf::read_safetensors;
use lowbit_train::recipe::{Recipe, load_recipe};
use lowbit_train::train;
use lowbit_train::trainer::{Progress, Resume, TrainError, TrainOptions, load_dataset};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The tiny recipe with `extra` overrides, its TOML, and the (shared) tokenized corpus.
fn setup(extra: &[&str]) -> (Recipe, String, &'static TokenDataset) {
    static DATA: OnceLock<TokenDataset> = OnceLock::new();
    let mut sets = vec![
        "train.steps=4".to_string(),
        "checkpoint.every_steps=2".to_string(),
        "eval.every_steps=1000".to_string(),
    ];
    sets.extend(extra.iter().map(|s| s.to_string()));
    let r = load_recipe("tiny", &root().join("recipes"), &sets).expect("tiny recipe");
    let data = DATA.get_or_init(|| load_dataset(&r.data, &root()).expect("fixture corpus"));
    let text = toml::to_string(&r).expect("recipe to TOML");
    (r, text, data)
}

fn opts(dir: &Path, resume: Resume) -> TrainOptions {
    let mut o = TrainOptions::new(dir);
    o.progress = Progress::Quiet;
    o.resume = resume;
    o
}

/// A run interrupted after 2 steps (checkpoint `step-00000002`).
fn half_run(dir: &Path) {
    let (r, text, data) = setup(&[]);
    let mut o = opts(dir, Resume::Never);
    o.stop_after = Some(2);
    assert!(train(&r, &text, data, &o).expect("first half").interrupted);
}

#[test]
fn changed_format_is_refused_naming_every_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    half_run(&dir);
    let (r, text, data) = setup(&["compression.weight=int4", "train.lr=1e-3"]);
    let e = train(&r, &text, data, &opts(&dir, Resume::Auto)).unwrap_err();
    match &e {
        TrainError::RecipeChanged { keys, .. } => {
            assert_eq!(keys, "compression.weight, train.lr");
        }
        other => panic!("expected RecipeChanged, got {other}"),
    }
    let msg = e.to_string();
    assert!(
        msg.contains("step-00000002") && msg.contains("--allow-recipe-change"),
        "{msg}"
    );
    // Nothing was trained or written: the run still ends at step 2.
    let st = lowbit_train::trainer::TrainState::read(&dir.join("step-00000002/state.json"));
    assert_eq!(st.unwrap().step, 2);
    assert!(!dir.join("step-00000003").exists() && !dir.join("step-00000004").exists());
    // Resume::From is checked the same way.
    let from = Resume::From(dir.join("step-00000002"));
    let e = train(&r, &text, data, &opts(&tmp.path().join("other"), from)).unwrap_err();
    assert!(matches!(e, TrainError::RecipeChanged { .. }), "{e}");
}

#[test]
fn allow_listed_changes_resume_with_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    half_run(&dir);
    let (r, text, data) = setup(&[
        "train.steps=6",
        "log.every_steps=2",
        "checkpoint.keep_last=5",
    ]);
    let s = train(&r, &text, data, &opts(&dir, Resume::Auto)).expect("longer run");
    assert_eq!(s.steps, 6);
    let note = s
        .warnings
        .iter()
        .find(|w| w.contains("train.steps"))
        .expect("the change is reported");
    assert!(
        note.contains("checkpoint.keep_last") && note.contains("log.every_steps"),
        "{note}"
    );
}

#[test]
fn allow_recipe_change_resumes_and_warns_with_the_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    half_run(&dir);
    let (r, text, data) = setup(&["compression.weight=int4"]);
    let mut o = opts(&dir, Resume::Auto);
    o.allow_recipe_change = true;
    let s = train(&r, &text, data, &o).expect("allowed");
    assert_eq!(s.steps, 4);
    assert!(
        s.warnings
            .iter()
            .any(|w| w.contains("compression.weight") && w.contains("--allow-recipe-change")),
        "{:?}",
        s.warnings
    );
}

/// One step under each `train.weight_decay_rule` from the same start (one, so that no decay
/// difference feeds back through a second forward pass): the parameters every rule decays (block
/// linears) and none does (norms) end equal, the token embedding differs only under
/// `nanogpt` and `lm_head` only under `quest` (which does not decay it).
#[test]
fn weight_decay_rule_reaches_the_optimizer() {
    let tmp = tempfile::tempdir().unwrap();
    let mut end = std::collections::BTreeMap::new();
    for rule in ["linear", "quest", "nanogpt"] {
        let set = format!("train.weight_decay_rule={rule}");
        let (r, text, data) = setup(&[&set, "train.steps=1", "train.weight_decay=0.5"]);
        let dir = tmp.path().join(rule);
        train(&r, &text, data, &opts(&dir, Resume::Never)).expect("run");
        end.insert(
            rule,
            read_safetensors(&dir.join("step-00000001/model.safetensors")).unwrap(),
        );
    }
    let same = |a: &str, b: &str, t: &str| end[a][t].data == end[b][t].data;
    for t in [
        "model.layers.0.self_attn.q_proj.weight",
        "model.layers.1.mlp.down_proj.weight",
        "model.norm.weight",
    ] {
        assert!(
            same("linear", "quest", t) && same("linear", "nanogpt", t),
            "{t}"
        );
    }
    let emb = "model.embed_tokens.weight";
    assert!(same("linear", "quest", emb) && !same("linear", "nanogpt", emb));
    let head = "lm_head.weight";
    assert!(same("linear", "nanogpt", head) && !same("linear", "quest", head));
}
