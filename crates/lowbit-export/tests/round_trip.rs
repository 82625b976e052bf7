//! Round trips and error paths on larger random tensors than the golden fixtures: export →
//! read back → decode is bit-exact for every expressible format, and the emulated
//! compressed-tensors decompression keeps the fixture bounds (MXFP4 and f32-scale INT exact,
//! NVFP4 within 1 f32 ulp before its bf16 cast).

use lowbit_export::{
    CtFloat, CtScheme, ExportError, ct_dequantize, ct_layer_tensors, ct_scheme_for, read_ct_layer,
};
use lowbit_formats::Format;

fn data(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..rows * cols)
        .map(|i| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let u = (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            let row_scale = 2f32.powi((i / cols) as i32 % 7 - 3);
            if i % 97 == 5 {
                u * 40.0 * row_scale
            } else {
                u * row_scale
            }
        })
        .collect()
}

fn ulps(a: f32, b: f32) -> u64 {
    let key = |x: f32| {
        let i = x.to_bits() as i32;
        if i < 0 {
            -((i & 0x7FFF_FFFF) as i64)
        } else {
            i as i64
        }
    };
    (key(a) - key(b)).unsigned_abs()
}

#[test]
fn every_expressible_format_round_trips_bit_exactly() -> Result<(), Box<dyn std::error::Error>> {
    let (rows, cols) = (48, 256);
    for (k, name) in [
        "nvfp4",
        "mxfp4",
        "mxfp4-rceil",
        "mxfp4-even",
        "int4",
        "int4:block=128,asym",
        "int8:block=64",
        "int8:block=32,asym",
        "int4:block=256",
    ]
    .iter()
    .enumerate()
    {
        let f = Format::parse(name)?;
        let x = data(rows, cols, 17 + k as u64);
        let parts = f.coded_parts(&f.encode(&x, cols)?)?;
        let want = parts.decode();
        let mut schemes = vec![ct_scheme_for(&f)?.with_scale_dtype(CtFloat::F32)];
        if matches!(schemes[0], CtScheme::Nvfp4 { .. }) {
            schemes.push(schemes[0].with_input_global_scale(2688.0 / 3.0));
        }
        for s in schemes {
            let t = ct_layer_tensors("m", &parts, &s)?;
            let back = read_ct_layer("m", &t, &s)?;
            assert_eq!(back, parts, "{name}");
            let ct = ct_dequantize("m", &t, &s)?;
            let max = ct
                .pre_cast
                .iter()
                .zip(&want)
                .map(|(&a, &b)| ulps(a, b))
                .max();
            let bound = if matches!(s, CtScheme::Nvfp4 { .. }) {
                1
            } else {
                0
            };
            assert!(max.unwrap_or(0) <= bound, "{name}: {max:?} ulps");
            if bound == 0 {
                let same = ct
                    .weight
                    .iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{name}: not bit-exact");
            }
        }
    }
    Ok(())
}

#[test]
fn bf16_scales_round_trip_as_stored() -> Result<(), Box<dyn std::error::Error>> {
    let f = Format::parse("int4:block=32,asym")?;
    let x = data(16, 64, 3);
    let parts = f.coded_parts(&f.encode(&x, 64)?)?;
    let s = ct_scheme_for(&f)?; // bf16 by default
    let back = read_ct_layer("m", &ct_layer_tensors("m", &parts, &s)?, &s)?;
    assert_eq!(back.codes, parts.codes);
    assert_eq!(back.zeros, parts.zeros);
    for (a, b) in back.scales.iter().zip(&parts.scales) {
        assert_eq!(*a, lowbit_export::round_bf16(*b));
    }
    Ok(())
}

#[test]
fn parts_that_do_not_fit_the_scheme_are_typed_errors() -> Result<(), Box<dyn std::error::Error>> {
    let nv = Format::parse("nvfp4")?;
    let x = data(4, 64, 9);
    let parts = nv.coded_parts(&nv.encode(&x, 64)?)?;
    let nv_s = ct_scheme_for(&nv)?;
    // NVFP4 parts under the MXFP4 scheme: wrong block.
    let err = ct_layer_tensors("m", &parts, &CtScheme::Mxfp4).unwrap_err();
    assert!(matches!(err, ExportError::Mismatch { .. }), "{err}");
    // A block scale that is not an E4M3 value.
    let mut bad = parts.clone();
    bad.scales[3] = 0.3;
    let err = ct_layer_tensors("m", &bad, &nv_s).unwrap_err();
    assert!(
        matches!(
            err,
            ExportError::NotRepresentable {
                what: "weight_scale",
                ..
            }
        ),
        "{err}"
    );
    // A sparse composition.
    let sp = Format::parse("2of4+nvfp4")?;
    let sparts = sp.coded_parts(&sp.encode(&x, 64)?)?;
    assert!(ct_layer_tensors("m", &sparts, &nv_s).is_err());
    // A non-positive activation scale.
    let err = ct_layer_tensors("m", &parts, &nv_s.with_input_global_scale(-1.0)).unwrap_err();
    assert!(matches!(err, ExportError::NotRepresentable { .. }), "{err}");
    // Reading: a missing tensor and a truncated one.
    let mut t = ct_layer_tensors("m", &parts, &nv_s)?;
    t.retain(|(n, _)| n != "m.weight_global_scale");
    assert!(matches!(
        read_ct_layer("m", &t, &nv_s),
        Err(ExportError::BadTensor { .. })
    ));
    let mut t = ct_layer_tensors("m", &parts, &nv_s)?;
    t[0].1.data.pop();
    assert!(matches!(
        read_ct_layer("m", &t, &nv_s),
        Err(ExportError::BadTensor { .. })
    ));
    // INT: packed words of the wrong shape.
    let int = Format::parse("int4:block=32,asym")?;
    let is = ct_scheme_for(&int)?;
    let ip = int.coded_parts(&int.encode(&x, 64)?)?;
    let mut t = ct_layer_tensors("m", &ip, &is)?;
    t[0].1.shape = vec![4, 4];
    t[0].1.data.truncate(64);
    assert!(matches!(
        read_ct_layer("m", &t, &is),
        Err(ExportError::BadTensor { .. })
    ));
    Ok(())
}
