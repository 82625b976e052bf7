//! End-to-end test of `lowbit grids`: train the `tiny` recipe, learn a PO2(NF4) partner and an
//! MPO2 pair from its checkpoint, and show the result against the reference formats.

use lowbit_formats::GridFile;
use std::path::Path;
use std::process::{Command, Output};

fn lowbit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lowbit"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn learns_and_shows_grids_from_a_tiny_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    ok(&lowbit(&[
        "train",
        "--recipe",
        "tiny",
        "--progress",
        "quiet",
        "--run-name",
        "t",
        "--out",
        p(&runs),
    ]));
    let ck = runs.join("t");
    for family in ["po2-nf4", "mpo2"] {
        let out = tmp.path().join(format!("{family}.toml"));
        let s = ok(&lowbit(&[
            "grids",
            "learn",
            "--checkpoint",
            p(&ck),
            "--family",
            family,
            "--batches",
            "2",
            "--max-blocks",
            "512",
            "--seed",
            "3",
            "--out",
            p(&out),
        ]));
        assert!(s.contains("wrote"), "{s}");
        let f = GridFile::load(&out).unwrap();
        assert_eq!(f.name, family);
        assert_eq!(f.grids.len(), 2);
        assert!(f.objective.len() >= 2, "{:?}", f.objective);
        assert!(
            f.objective.windows(2).all(|w| w[1] <= w[0]),
            "{:?}",
            f.objective
        );
        let from = f.learned_from.clone().unwrap_or_default();
        assert!(from.contains(p(&ck)), "{from}");
        assert!(from.contains("step-00000020"), "{from}");
        if family == "po2-nf4" {
            assert_eq!(f.grids[0], GridFile::builtin("po2-nf4").unwrap().grids[0]);
        }
    }
    let plot = tmp.path().join("plots").join("mpo2");
    let s = ok(&lowbit(&[
        "grids",
        "show",
        p(&tmp.path().join("mpo2.toml")),
        "--real-blocks",
        p(&ck),
        "--batches",
        "2",
        "--max-blocks",
        "256",
        "--samples",
        "65536",
        "--plot",
        p(&plot),
    ]));
    for name in ["mpo2", "nvfp4", "mxfp4", "nf4", "split87", "sfp4"] {
        let line = s
            .lines()
            .find(|l| l.split_whitespace().take(2).eq(["gmse", name]))
            .unwrap_or_else(|| panic!("no GMSE line for {name}:\n{s}"));
        assert!(line.contains("real_rel_mse weights"), "{line}");
    }
    assert!(s.contains("occupancy on real blocks"), "{s}");
    for ext in ["png", "svg"] {
        let f = tmp.path().join("plots").join(format!("mpo2.{ext}"));
        assert!(std::fs::metadata(&f).unwrap().len() > 0, "{}", f.display());
    }
}
