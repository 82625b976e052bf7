//! Grid files: built-ins parse, save/load round-trips, a directory of grid files extends the
//! format names (e.g. a learned `mpo2`), and bad files are rejected with the key and the fix.

use lowbit_formats::gridfile::conflicts;
use lowbit_formats::{Format, GridFile, GridRegistry, GridText};

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

/// `f` as the text of a grid file read from `source`.
fn text_of(f: &GridFile, source: &str) -> GridText {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g.toml");
    f.save(&p).unwrap();
    GridText {
        source: source.into(),
        toml: std::fs::read_to_string(&p).unwrap(),
    }
}

fn mine() -> GridFile {
    let mut f = GridFile::builtin("split87").unwrap();
    f.name = "mine".into();
    f
}

fn quantized(f: &Format) -> Vec<f32> {
    let mut x: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin()).collect();
    f.fake_quant(&mut x, 64).unwrap();
    x
}

#[test]
fn a_grid_by_content_is_a_format_without_its_file() {
    let reg = GridRegistry::builtin()
        .with_text(text_of(&mine(), "grids/mine.toml"))
        .unwrap();
    let m = Format::parse_with("mine", &reg).unwrap();
    assert_eq!(quantized(&m), quantized(&Format::parse("split87").unwrap()));
    // A carried text comes before a file of the same name loaded after it.
    let dir = tempfile::tempdir().unwrap();
    let mut other = mine();
    for x in &mut other.grids[0] {
        *x *= 0.5;
    }
    other.save(&dir.path().join("mine.toml")).unwrap();
    let both = reg.clone().with_dir(dir.path()).unwrap();
    assert_eq!(Format::parse_with("mine", &both).unwrap(), m);
    // Errors in a carried text name where it came from.
    let bad = GridText {
        source: "grids/broken.toml".into(),
        toml: "name = 'x'\n".into(),
    };
    let e = GridRegistry::builtin()
        .with_text(bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("grids/broken.toml"), "{e}");
}

#[test]
fn used_by_lists_the_files_a_format_resolves_through() {
    let a = text_of(&mine(), "grids/mine.toml");
    let mut shadowed = mine();
    shadowed.description = Some("a later file of the same name".into());
    let b = text_of(&shadowed, "elsewhere/mine.toml");
    let mut unused = mine();
    unused.name = "unused".into();
    let c = text_of(&unused, "grids/unused.toml");
    let reg = GridRegistry::builtin()
        .with_text(a.clone())
        .and_then(|r| r.with_text(b))
        .and_then(|r| r.with_text(c))
        .unwrap();
    // The first file of the name, once; parameters and compositions resolve to their family.
    assert_eq!(reg.used_by(&["mine", "mine:block=32"]), vec![a.clone()]);
    assert_eq!(reg.used_by(&["2of4+mine"]), vec![a]);
    // Fixed formats use no file; a built-in family is carried by its text.
    assert!(reg.used_by(&["nvfp4", "int4:asym", "2of4"]).is_empty());
    let sfp4 = reg.used_by(&["sfp4"]);
    assert_eq!(sfp4.len(), 1);
    assert_eq!(sfp4[0].source, "<builtin sfp4>");
    assert_eq!(sfp4[0].parse().unwrap(), GridFile::builtin("sfp4").unwrap());
}

#[test]
fn same_format_compares_levels_not_prose() {
    let f = mine();
    let mut g = f.clone();
    g.description = Some("other words".into());
    g.learned_from = Some("another run".into());
    g.objective = vec![1.0];
    assert!(f.same_format(&g));
    let mut h = f.clone();
    h.grids[1][0] = f32::from_bits(h.grids[1][0].to_bits() + 1); // one ulp
    assert!(!f.same_format(&h));
    let mut k = f.clone();
    k.block_size = 32;
    assert!(!f.same_format(&k));
}

#[test]
fn conflicts_name_both_files() {
    let stored = [text_of(&mine(), "grids/mine.toml")];
    let mut other = mine();
    for x in &mut other.grids[0] {
        *x *= 0.5;
    }
    let mut renamed = other.clone();
    renamed.name = "theirs".into();
    let others = [
        text_of(&mine(), "copy/mine.toml"),
        text_of(&other, "now/mine.toml"),
        text_of(&renamed, "now/theirs.toml"),
        GridText {
            source: "now/broken.toml".into(),
            toml: "not toml".into(),
        },
    ];
    let c = conflicts(&stored, &others);
    assert_eq!(c.len(), 1, "{c:?}");
    let msg = c[0].to_string();
    assert!(
        msg.contains("`mine`") && msg.contains("now/mine.toml") && msg.contains("grids/mine.toml"),
        "{msg}"
    );
}
