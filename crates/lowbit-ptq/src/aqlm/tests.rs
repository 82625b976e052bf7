//! Properties of AQLM that hold on any data: the name parser and its errors, decode =
//! codes·codebooks·scales, the SIMD argmin = the plain one bit for bit = brute force (ties →
//! lowest index), beam = K is exhaustive, no beam-search pass ever raises the objective,
//! calibration-level properties are in `tests_calibrate.rs`.

use super::nearest::{Query, argmin_block, scores};
use super::*;
use crate::PtqError;
use crate::test_support::{aqlm_problem as problem, noise};

pub(super) fn opts(name: &str) -> AqlmOptions {
    AqlmOptions {
        max_epochs: 4,
        steps_per_epoch: 20,
        relative_tolerance: None,
        ..AqlmOptions::for_format(name).unwrap()
    }
}

pub(super) fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn parser_accepts_and_rejects() {
    for (name, m, b, g) in [
        ("vq:1x16g8", 1, 16, 8),
        ("vq:2x8g8", 2, 8, 8),
        ("vq:8x8g32", 8, 8, 32),
    ] {
        let s = VqSpec::parse(name).unwrap();
        assert_eq!((s.num_codebooks, s.nbits, s.group), (m, b, g));
        assert_eq!(s.to_string(), name);
        assert_eq!(name.parse::<VqSpec>().unwrap(), s);
    }
    for bad in [
        "",
        "2x8g8",
        "vq:",
        "vq:2x8",
        "vq:28g8",
        "vq:x8g8",
        "vq:2xg8",
        "vq:2x8g",
        "vq:0x8g8",
        "vq:2x0g8",
        "vq:2x17g8",
        "vq:2x8g0",
        "vq:2x8g8x",
        "vq:-1x8g8",
        "vq:+2x8g8",
        "vq:2x8g8 ",
        "vq:99999999999999999999999x8g8",
        "vq:2x99999999999g8",
        "vq:17x8g8",
        "vq:2x8g2048",
        "VQ:2x8g8",
    ] {
        let e = VqSpec::parse(bad).unwrap_err();
        assert!(
            matches!(&e, lowbit_formats::FormatError::VqName { name, .. } if name == bad),
            "{bad}: {e}"
        );
        assert!(AqlmOptions::for_format(bad).is_err());
    }
    // bits per weight: M·B/G + codebooks + scales
    let s = VqSpec::parse("vq:2x8g8").unwrap();
    let want = 2.0 + 2.0 * 256.0 * 8.0 * 16.0 / (4096.0 * 4096.0) + 16.0 / 4096.0;
    assert!((s.bits_per_weight(4096, 4096) - want).abs() < 1e-12);
}

#[test]
fn decode_is_codes_times_codebooks_times_scales() {
    let spec = VqSpec::parse("vq:3x4g4").unwrap();
    let (rows, cols, k) = (5, 12, 16);
    let codes: Vec<u32> = noise(rows * 3 * 3, 1)
        .iter()
        .map(|v| ((v + 1.0) * 8.0) as u32 % k)
        .collect();
    let books = noise(3 * 16 * 4, 2);
    let scales: Vec<f32> = noise(rows, 3).iter().map(|v| v + 1.5).collect();
    let v = VqWeight::new(
        spec,
        rows,
        cols,
        codes.clone(),
        books.clone(),
        scales.clone(),
    )
    .unwrap();
    let got = decode(&v).unwrap();
    for r in 0..rows {
        for j in 0..3 {
            for i in 0..4 {
                let mut acc = 0f32;
                for m in 0..3 {
                    acc += books[(m * 16 + codes[(r * 3 + j) * 3 + m] as usize) * 4 + i];
                }
                assert_eq!(
                    got[r * cols + j * 4 + i].to_bits(),
                    (acc * scales[r]).to_bits()
                );
            }
        }
    }
    // bad codes / lengths are typed errors
    let mut bad = codes.clone();
    bad[4] = 16;
    assert!(matches!(
        VqWeight::new(spec, rows, cols, bad, books.clone(), scales.clone()),
        Err(PtqError::InvalidOption { .. })
    ));
    assert!(matches!(
        VqWeight::new(
            spec,
            rows,
            cols,
            codes.clone(),
            books[1..].to_vec(),
            scales.clone()
        ),
        Err(PtqError::Shape {
            what: "codebooks",
            ..
        })
    ));
    assert!(matches!(
        VqWeight::new(spec, rows, 10, codes, books, scales),
        Err(PtqError::GroupSize { group: 4, cols: 10 })
    ));
}

#[test]
fn argmin_kernels_agree_with_brute_force() {
    for (k, g) in [
        (256usize, 8usize),
        (16, 8),
        (4, 8),
        (2, 3),
        (1024, 4),
        (64, 16),
    ] {
        let mut c = noise(k * g, k as u64 + g as u64);
        // exact duplicates and a zero entry: ties must go to the lowest index
        if k >= 8 {
            let (a, b) = (3 * g, (k - 2) * g);
            let row: Vec<f32> = c[a..a + g].to_vec();
            c[b..b + g].copy_from_slice(&row);
            c[g..2 * g].iter_mut().for_each(|v| *v = 0.0);
        }
        let ct = kmeans::transpose(&c, k, g);
        let n: Vec<f32> = c.chunks(g).map(|x| x.iter().map(|v| v * v).sum()).collect();
        let mut data = noise(37 * g, 99);
        if k >= 8 {
            data[..g].copy_from_slice(&c[3 * g..4 * g]); // a point on a duplicated entry
            data[g..2 * g].iter_mut().for_each(|v| *v = 0.0);
        }
        let coef: Vec<f32> = data.iter().map(|x| -2.0 * x).collect();
        let qs: Vec<Query> = coef.chunks(g).map(|a| Query { alpha: 1.0, a }).collect();
        let mut got = vec![(0u32, 0f32); qs.len()];
        argmin_block(&ct, &n, k, g, &qs, &mut got);
        for (q, &(idx, val)) in qs.iter().zip(&got) {
            let mut all = vec![0f32; k];
            scores(&ct, &n, k, q, &mut all);
            let mut plain = vec![0f32; k];
            for (kk, p) in plain.iter_mut().enumerate() {
                *p = q.alpha * n[kk];
                for (i, &ai) in q.a.iter().enumerate() {
                    *p = ai.mul_add(ct[i * k + kk], *p);
                }
            }
            assert_eq!(bits(&all), bits(&plain), "k {k} g {g}");
            let best = (0..k).fold(0, |b, kk| if plain[kk] < plain[b] { kk } else { b });
            assert_eq!((idx as usize, val.to_bits()), (best, plain[best].to_bits()));
        }
    }
}

#[test]
fn beam_of_k_is_exhaustive() {
    // one group, M = 2: beam = K keeps every first code, so the pass finds the optimum pair
    let (rows, cols) = (6, 8);
    let (w, xtx) = problem(rows, cols, 5);
    let spec = VqSpec::parse("vq:2x3g8").unwrap();
    let books: Vec<f32> = noise(2 * 8 * 8, 6).iter().map(|v| 0.3 * v).collect();
    let scales: Vec<f32> = w
        .chunks(cols)
        .map(|r| r.iter().map(|v| v * v).sum::<f32>().sqrt())
        .collect();
    let codes: Vec<u32> = (0..rows * 2).map(|i| (i * 5 % 8) as u32).collect();
    let mut v = VqWeight::new(spec, rows, cols, codes, books.clone(), scales.clone()).unwrap();
    beam_search(&w, &xtx, &mut v, 8, None).unwrap();
    for r in 0..rows {
        let mut best = (f64::INFINITY, 0, 0);
        for a in 0..8u32 {
            for b in 0..8u32 {
                let one = VqWeight::new(spec, 1, cols, vec![a, b], books.clone(), vec![scales[r]])
                    .unwrap();
                let o = objective(
                    &w[r * cols..(r + 1) * cols],
                    &decode(&one).unwrap(),
                    1,
                    cols,
                    &xtx,
                )
                .unwrap();
                if o < best.0 {
                    best = (o, a, b);
                }
            }
        }
        assert_eq!(
            (v.codes[2 * r], v.codes[2 * r + 1]),
            (best.1, best.2),
            "row {r}"
        );
    }
}

#[test]
fn beam_search_never_raises_the_objective() {
    let (rows, cols) = (48, 32);
    let (w, xtx) = problem(rows, cols, 7);
    for name in ["vq:1x6g8", "vq:2x4g8", "vq:3x3g4", "vq:1x5g2"] {
        for beam in [1, 2, 4] {
            for shuffle in [false, true] {
                let o = AqlmOptions {
                    beam_size: beam,
                    shuffle,
                    seed: 3,
                    kmeans_init: if shuffle {
                        KmeansInit::Random
                    } else {
                        KmeansInit::Spaced
                    },
                    ..opts(name)
                };
                let r = aqlm(&w, rows, cols, &xtx, &o).unwrap();
                assert_eq!(r.trace.len(), 4, "{name}");
                let mut prev = r.obj_init;
                for e in &r.epochs {
                    let p = e.search.unwrap();
                    assert!(p.after <= p.before, "{name} beam {beam}: {p:?}");
                    assert_eq!(e.obj_after_adam, Some(p.before));
                    // the step-0 loss is the objective the pass left (f32 GEMM: up to rounding)
                    assert!(
                        (e.obj_start / prev - 1.0).abs() < 1e-5,
                        "{name}: Adam start"
                    );
                    prev = p.after;
                }
                let passes: Vec<f64> = r.epochs.iter().map(|e| e.search.unwrap().after).collect();
                assert_eq!(passes, r.trace);
                assert!(*r.trace.last().unwrap() < r.obj_init, "{name} beam {beam}");
                assert_eq!(decode(&r.weight()).unwrap(), r.w_hat);
                // standalone passes from the result: monotone, and a fixed point stays put
                let mut v = r.weight();
                for _ in 0..3 {
                    let p = beam_search(&w, &xtx, &mut v, beam, None).unwrap();
                    assert!(p.after <= p.before, "{name} beam {beam}: {p:?}");
                }
            }
        }
    }
}
