//! The fast paths equal the slow references bit for bit, encode∘decode equals fake_quant, and
//! bad input gives the documented errors.

mod common;

use common::{FORMATS, cases};
use lowbit_formats::{Format, FormatError};

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn fast_fake_quant_equals_reference() {
    for name in FORMATS {
        let f = Format::parse(name).unwrap();
        for seed in 0..3 {
            for c in cases(seed) {
                let mut fast = c.x.clone();
                let mut slow = c.x.clone();
                f.fake_quant(&mut fast, c.cols).unwrap();
                f.fake_quant_reference(&mut slow, c.cols).unwrap();
                let (bf, bs) = (bits(&fast), bits(&slow));
                if let Some(i) = bf.iter().zip(&bs).position(|(a, b)| a != b) {
                    panic!(
                        "{name} / {} (seed {seed}): index {i}: x = {:e}, fast {:e}, reference {:e}",
                        c.name, c.x[i], fast[i], slow[i]
                    );
                }
            }
        }
    }
}

#[test]
fn encode_equals_reference_and_decodes_to_fake_quant() {
    for name in FORMATS {
        let f = Format::parse(name).unwrap();
        for c in cases(7) {
            let e = f.encode(&c.x, c.cols).unwrap();
            let r = f.encode_reference(&c.x, c.cols).unwrap();
            assert!(e == r, "{name} / {}: encodings differ", c.name);
            let mut fq = c.x.clone();
            f.fake_quant(&mut fq, c.cols).unwrap();
            assert!(
                bits(&f.decode(&e).unwrap()) == bits(&fq),
                "{name} / {}: decode != fake_quant",
                c.name
            );
        }
    }
}

#[test]
fn fake_quant_is_idempotent_for_single_grid_formats() {
    // Re-quantizing a quantized tensor must not move it (a cheap consistency check of scales).
    for name in ["mxfp4", "int4", "int8", "nf4"] {
        let f = Format::parse(name).unwrap();
        for c in cases(3) {
            let mut once = c.x.clone();
            f.fake_quant(&mut once, c.cols).unwrap();
            let mut twice = once.clone();
            f.fake_quant(&mut twice, c.cols).unwrap();
            // Values, not bits: re-rounding may turn −0 into +0 (x/s + 0 = +0 in IEEE).
            assert!(once == twice, "{name} / {}", c.name);
        }
    }
}

#[test]
fn non_finite_input_is_rejected_by_both_paths() {
    for name in FORMATS {
        let f = Format::parse(name).unwrap();
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut x = vec![1.0f32; 64];
            x[9] = bad;
            let mut y = x.clone();
            let e1 = f.fake_quant(&mut x, 64).unwrap_err();
            let e2 = f.fake_quant_reference(&mut y, 64).unwrap_err();
            assert!(
                matches!(e1, FormatError::NonFinite { index: 9, .. }),
                "{name}: {e1}"
            );
            assert_eq!(e1.to_string(), e2.to_string());
            assert!(f.encode(&x, 64).is_err());
        }
    }
}

#[test]
fn partial_blocks_are_an_error() {
    for name in FORMATS {
        let f = Format::parse(name).unwrap();
        if f.block_size() == 1 {
            continue; // unstructured sparsity accepts any row length
        }
        let cols = f.block_size() * 3 + 1;
        let mut x = vec![0.5f32; cols * 2];
        let e = f.fake_quant(&mut x, cols).unwrap_err();
        assert!(
            matches!(e, FormatError::BlockMismatch { .. }),
            "{name}: {e}"
        );
        assert!(e.to_string().contains("block"), "{e}");
        let mut y = vec![0.5f32; 10];
        assert!(matches!(
            f.fake_quant(&mut y, 4).unwrap_err(),
            FormatError::ShapeMismatch { .. } | FormatError::BlockMismatch { .. }
        ));
    }
}

#[test]
fn corrupt_encodings_are_rejected() {
    let f = Format::parse("nvfp4").unwrap();
    let x: Vec<f32> = (0..64).map(|i| i as f32).collect();
    let mut e = f.encode(&x, 64).unwrap();
    e.scales.pop();
    assert!(f.decode(&e).is_err());
    let g = Format::parse("2of4+int4").unwrap();
    let mut e = g.encode(&x, 64).unwrap();
    e.mask = None;
    assert!(g.decode(&e).is_err());
}
