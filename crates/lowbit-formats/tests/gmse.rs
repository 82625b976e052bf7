//! GMSE of the built-in formats agrees with the spec's Monte-Carlo table (§7.4, 1024 × 4096
//! N(0,1) samples) within 2%, and its standard error is below 0.5% of the estimate.

use lowbit_formats::gmse::{GMSE_COLS, gaussian_samples, gmse_on};
use lowbit_formats::{Format, gmse};

#[test]
fn gmse_matches_the_spec_table() {
    let x = gaussian_samples(1 << 22, 0);
    for (name, spec) in [
        ("nvfp4", 0.00904),
        ("mxfp4", 0.01321),
        ("mxfp4-rceil", 0.01331),
        ("e2m1:scale=f32", 0.00886),
        ("e2m1:scale=f32,block=32", 0.01022),
        ("int4:block=16", 0.00726),
        ("int4", 0.00941),
        ("int4:block=128", 0.01378),
        ("int4:asym", 0.00652),
        ("nf4", 0.00845),
        ("nf4:block=16", 0.00653),
        ("int8:block=4096", 0.00008),
        ("unstructured:ratio=0.5", 0.07127),
        ("2of4", 0.13220),
    ] {
        let g = gmse_on(&Format::parse(name).unwrap(), &x, GMSE_COLS).unwrap();
        let rel = (g.gmse - spec).abs() / spec;
        // The spec prints 5 decimals: INT8's 0.00008 is only known to ±0.000005.
        let printed = (g.gmse - spec).abs() <= 0.000005;
        assert!(
            rel < 0.02 || printed,
            "{name}: GMSE {} vs spec {spec} ({:.2}% off)",
            g.gmse,
            rel * 100.0
        );
        // One scale per 4096-value row makes INT8's row MSEs vary more: 2^22 samples give ~0.53%.
        let se_limit = if name == "int8:block=4096" {
            0.01
        } else {
            0.005
        };
        assert!(g.se / g.gmse < se_limit, "{name}: SE {} too large", g.se);
    }
}

#[test]
fn gmse_is_deterministic_and_seed_dependent() {
    let f = Format::parse("nvfp4").unwrap();
    let a = gmse(&f, 1 << 16, 1).unwrap();
    assert_eq!(a, gmse(&f, 1 << 16, 1).unwrap());
    assert_ne!(a.gmse, gmse(&f, 1 << 16, 2).unwrap().gmse);
    assert!((a.effective_bits() - (-0.5 * a.gmse.log2())).abs() < 1e-12);
}
