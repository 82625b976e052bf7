//! Every committed recipe parses and validates; extends / --set compose; bad recipes give one
//! error naming the file, the key and the fix.

use lowbit_train::recipe::{EstimatorName, HadamardMode, load_recipe};
use std::path::{Path, PathBuf};

fn recipes_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../recipes")
}

fn in_repo_root<T>(f: impl FnOnce() -> T) -> T {
    // Grid files (grids/*.toml) are looked up relative to the repository root, like the CLI.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::env::set_current_dir(root).expect("cd to repo root");
    f()
}

#[test]
fn every_required_recipe_loads() {
    in_repo_root(|| {
        for name in [
            "base",
            "bf16",
            "nvfp4",
            "mxfp4",
            "int4-quest",
            "nvfp4-po2",
            "mpo2",
            "sfp4",
            "split87",
            "int8",
            "sparse-2of4",
            "tiny",
            "judge-target",
            "judge-draft",
        ] {
            let r = load_recipe(name, &recipes_dir(), &[]).unwrap_or_else(|e| panic!("{e}"));
            assert!(r.train.steps > 0 && !r.description.is_empty(), "{name}");
        }
        let q = load_recipe("int4-quest", &recipes_dir(), &[]).unwrap();
        assert_eq!(q.compression.estimator, EstimatorName::Trust);
        assert_eq!(q.compression.hadamard, HadamardMode::Half);
        assert_eq!(q.train.beta2, 0.95, "inherited from base");
        let t = load_recipe("tiny", &recipes_dir(), &[]).unwrap();
        assert_eq!((t.train.steps, t.train.lr, t.train.seed), (20, 3e-3, 1));
        // The main job uses the PO2(NF4) partner learned on the default corpus.
        let p = load_recipe("nvfp4-po2", &recipes_dir(), &[]).unwrap();
        assert_eq!(p.compression.weight.as_deref(), Some("po2-nf4-default"));
        assert_eq!(
            p.compression.weight_grid_file.as_deref(),
            Some("grids/po2-nf4-default.toml")
        );
    });
}

#[test]
fn set_overrides_are_type_checked() {
    in_repo_root(|| {
        let sets = vec![
            "train.lr=3e-4".to_string(),
            "data.corpus=sotu".into(),
            "train.steps=7".into(),
        ];
        let r = load_recipe("nvfp4", &recipes_dir(), &sets).unwrap();
        assert_eq!(
            (r.train.lr, r.data.corpus.as_str(), r.train.steps),
            (3e-4, "sotu", 7)
        );
        let e = load_recipe("nvfp4", &recipes_dir(), &["train.steps=many".into()]).unwrap_err();
        assert_eq!(e.origin, "--set train.steps=many");
        assert_eq!(e.key.as_deref(), Some("train.steps"));
        let e =
            load_recipe("nvfp4", &recipes_dir(), &["train.learning_rate=1".into()]).unwrap_err();
        assert!(
            e.to_string().contains("unknown field") && e.origin.starts_with("--set"),
            "{e}"
        );
        assert!(load_recipe("nvfp4", &recipes_dir(), &["no-equals".into()]).is_err());
        // `none` switches a quantizer off: W4A4 → weight-only.
        let r = load_recipe("nvfp4", &recipes_dir(), &["compression.input=none".into()]).unwrap();
        assert_eq!(r.compression.input, None);
        assert_eq!(r.compression.weight.as_deref(), Some("nvfp4"));
    });
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
}

#[test]
fn bad_recipes_name_file_key_and_fix() {
    in_repo_root(|| {
        let dir = tempfile::tempdir().unwrap();
        let base = std::fs::read_to_string(recipes_dir().join("base.toml")).unwrap();
        write(dir.path(), "base", &base);
        let cases = [
            (
                "typo",
                "extends = \"base\"\n[train]\nstpes = 3\n",
                "typo.toml",
                "train.stpes",
                "unknown field",
            ),
            (
                "wrongtype",
                "extends = \"base\"\n[train]\nlr = \"fast\"\n",
                "wrongtype.toml",
                "train.lr",
                "invalid type",
            ),
            (
                "badfmt",
                "extends = \"base\"\n[compression]\nweight = \"nvfp5\"\n",
                "badfmt.toml",
                "compression.weight",
                "unknown format",
            ),
            (
                "block",
                "extends = \"base\"\n[model]\nd_ff = 700\n[compression]\nweight = \"nvfp4\"\n",
                "block.toml",
                "compression.weight",
                "model.layers.0.mlp.down_proj",
            ),
            (
                "heads",
                "extends = \"base\"\n[model]\nn_kv_heads = 3\n",
                "heads.toml",
                "model.n_kv_heads",
                "multiple",
            ),
            (
                "nobase",
                "extends = \"nothere\"\n",
                "nobase.toml",
                "extends",
                "no such recipe",
            ),
        ];
        for (name, text, file, key, needle) in cases {
            write(dir.path(), name, text);
            let e = load_recipe(name, dir.path(), &[]).unwrap_err();
            let msg = e.to_string();
            assert!(e.origin.ends_with(file), "{name}: origin {}", e.origin);
            assert_eq!(e.key.as_deref(), Some(key), "{name}: {msg}");
            assert!(
                msg.contains(needle) && msg.contains("fix:"),
                "{name}: {msg}"
            );
        }
        // An error in the base file is blamed on the base file.
        write(
            dir.path(),
            "base2",
            "extends = \"base\"\n[train]\nwarmup_frac = 2.0\n",
        );
        write(dir.path(), "child", "extends = \"base2\"\n");
        let e = load_recipe("child", dir.path(), &[]).unwrap_err();
        assert!(e.origin.ends_with("base2.toml"), "{e}");
        // Cycles are caught.
        write(dir.path(), "a", "extends = \"b\"\n");
        write(dir.path(), "b", "extends = \"a\"\n");
        assert!(
            load_recipe("a", dir.path(), &[])
                .unwrap_err()
                .to_string()
                .contains("cycle")
        );
    });
}

#[test]
fn weight_decay_rule_is_a_recipe_choice() {
    use lowbit_train::recipe::WeightDecayRule;
    in_repo_root(|| {
        let t = load_recipe("tiny", &recipes_dir(), &[]).unwrap();
        assert_eq!(
            t.train.weight_decay_rule,
            WeightDecayRule::Linear,
            "default"
        );
        for (v, want) in [
            ("linear", WeightDecayRule::Linear),
            ("quest", WeightDecayRule::Quest),
            ("nanogpt", WeightDecayRule::Nanogpt),
        ] {
            let sets = vec![format!("train.weight_decay_rule={v}")];
            let r = load_recipe("tiny", &recipes_dir(), &sets).unwrap();
            assert_eq!(r.train.weight_decay_rule, want);
        }
        let sets = vec!["train.weight_decay_rule=gpt2".to_string()];
        let e = load_recipe("tiny", &recipes_dir(), &sets)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("train.weight_decay_rule") && e.contains("nanogpt"),
            "{e}"
        );
    });
}
