//! End-to-end test of `lowbit data tokenize` on the bundled fixture corpus.

use std::process::Command;

#[test]
fn tokenize_fixture_corpus_and_reject_empty_one() {
    let cache = tempfile::tempdir().unwrap();
    let run = |corpus: &str| {
        Command::new(env!("CARGO_BIN_EXE_lowbit"))
            .args([
                "data",
                "tokenize",
                "--corpus",
                corpus,
                "--vocab-size",
                "300",
                "--cache",
            ])
            .arg(cache.path())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap()
    };
    let o = run("tests/fixtures/tiny-corpus");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("12 documents") && out.contains("vocab 300"),
        "{out}"
    );
    let shard_dirs = std::fs::read_dir(cache.path()).unwrap().count();
    assert_eq!(shard_dirs, 1);
    let empty = tempfile::tempdir().unwrap();
    let o = run(empty.path().to_str().unwrap());
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("prepare.sh"));
}
