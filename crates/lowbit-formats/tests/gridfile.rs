//! Grid files: built-ins parse, save/load round-trips, a directory of grid files extends the
//! format names (e.g. a learned `mpo2`), and bad files are rejected with the key and the fix.

use lowbit_formats::{Format, GridFile, GridRegistry};

#[test]
fn builtins_load_and_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["po2-nf4", "split87", "sfp4"] {
        let f = GridFile::builtin(name).unwrap();
        let p = dir.path().join(format!("{name}.toml"));
        f.save(&p).unwrap();
        assert_eq!(GridFile::load(&p).unwrap(), f);
        let fmt = f.to_format().unwrap();
        assert_eq!(fmt.block(), 16);
    }
    assert_eq!(GridFile::builtin("sfp4").unwrap().grids.len(), 3);
}

#[test]
fn a_grid_directory_adds_formats() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = GridFile::builtin("split87").unwrap();
    f.name = "mpo2".into();
    f.learned_from = Some("test".into());
    f.save(&dir.path().join("mpo2.toml")).unwrap();
    assert!(Format::parse("mpo2").is_err());
    let reg = GridRegistry::builtin().with_dir(dir.path()).unwrap();
    let m = Format::parse_with("mpo2", &reg).unwrap();
    let s = Format::parse("split87").unwrap();
    let x: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin()).collect();
    let (mut a, mut b) = (x.clone(), x);
    m.fake_quant(&mut a, 64).unwrap();
    s.fake_quant(&mut b, 64).unwrap();
    assert_eq!(a, b, "same grids, same result");
    assert!(reg.names().contains(&"mpo2".to_string()));
    assert_eq!(
        Format::parse_with("mpo2:block=32", &reg)
            .unwrap()
            .block_size(),
        32
    );
}

#[test]
fn bad_grid_files_name_the_key() {
    let cases = [
        (
            "name = 'x'\nelement_bits = 4\nblock_size = 16\nscale = 'e4m3-global'\ngrids = [[1.0, 0.0]]\n",
            "grids[0]",
        ),
        (
            "name = 'x'\nelement_bits = 1\nblock_size = 16\nscale = 'e4m3-global'\ngrids = [[1.0, 0.0]]\n",
            "ascending",
        ),
        (
            "name = 'x'\nelement_bits = 1\nblock_size = 16\nscale = 'e5m2'\ngrids = [[0.0, 1.0]]\n",
            "scale",
        ),
        (
            "name = 'x'\nelement_bits = 1\nblock_size = 16\nscale = 'f32'\ngrids = [[0.0, 1.0]]\nbogus = 1\n",
            "bogus",
        ),
    ];
    for (text, needle) in cases {
        let e = GridFile::from_toml(text, "grids/x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("grids/x.toml") && e.contains(needle), "{e}");
    }
}
