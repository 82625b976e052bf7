//! The worked examples of shared/specs/formats-and-scaling.md (§2, §3, §4), the one place where
//! expected numbers are typed by hand (the spec computed them with ml_dtypes + numpy).

use lowbit_formats::elem::e2m1::e2m1_to_f32;
use lowbit_formats::{Format, pack};

const V32: [f32; 32] = [
    0.1, -0.7, 2.5, 0.03, -1.2, 0.45, 3.3, -0.05, 0.8, -2.2, 0.0, 1.6, -0.33, 0.27, -4.1, 0.9, 7.5,
    -0.5, 0.25, 1.0, -3.0, 0.6, 0.0, -5.2, 2.0, 0.1, -0.1, 4.4, 5.5, -6.6, 0.75, -1.25,
];
const X16: [f32; 16] = [
    0.1, -0.7, 2.5, 0.03, -1.2, 0.45, 3.3, -0.05, 0.8, -2.2, 0.0, 1.6, -0.33, 0.27, -4.1, 0.9,
];
const Y16: [f32; 16] = [
    10.0, -0.5, 0.25, 7.0, -3.0, 1.0, 0.0, -9.5, 2.0, 0.1, -0.1, 4.4, 5.5, -6.6, 0.75, -1.25,
];

fn fq(name: &str, x: &[f32]) -> Vec<f32> {
    let mut y = x.to_vec();
    Format::parse(name)
        .unwrap()
        .fake_quant(&mut y, x.len())
        .unwrap();
    y
}

fn mse(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum::<f64>()
        / a.len() as f64
}

fn close(a: &[f32], b: &[f32], tol: f32) {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol, "index {i}: {x} vs {y}");
    }
}

#[test]
fn mxfp4_worked_example() {
    let floor = fq("mxfp4", &V32);
    let expect = [
        0.0, -0.5, 2.0, 0.0, -1.0, 0.5, 3.0, -0.0, 1.0, -2.0, 0.0, 1.5, -0.5, 0.5, -4.0, 1.0, 6.0,
        -0.5, 0.0, 1.0, -3.0, 0.5, 0.0, -6.0, 2.0, 0.0, -0.0, 4.0, 6.0, -6.0, 1.0, -1.0,
    ];
    assert_eq!(floor, expect);
    assert!((mse(&V32, &floor) - 0.140788).abs() < 1e-6);
    let e = Format::parse("mxfp4").unwrap().encode(&V32, 32).unwrap();
    assert_eq!(e.scales, vec![0x7F]);
    let rceil = fq("mxfp4-rceil", &V32);
    assert!((mse(&V32, &rceil) - 0.106413).abs() < 1e-6);
    assert_eq!(
        Format::parse("mxfp4-rceil")
            .unwrap()
            .encode(&V32, 32)
            .unwrap()
            .scales,
        vec![0x80]
    );
    assert_eq!(fq("mxfp4-even", &V32), rceil);
}

#[test]
fn nvfp4_example_a() {
    let f = Format::parse("nvfp4").unwrap();
    let e = f.encode(&X16, 16).unwrap();
    assert_eq!(e.scales, vec![0x7E]);
    assert_eq!(
        e.codes,
        vec![0xA0, 0x06, 0x1C, 0x86, 0xD2, 0x40, 0x19, 0x3F]
    );
    let codes = pack::unpack(&e.codes, 4, 16).unwrap();
    let vals: Vec<f32> = codes.iter().map(|&c| e2m1_to_f32(c)).collect();
    assert_eq!(
        vals,
        [
            0.0, -1.0, 4.0, 0.0, -2.0, 0.5, 4.0, -0.0, 1.0, -3.0, 0.0, 2.0, -0.5, 0.5, -6.0, 1.5
        ]
    );
    let expect = [
        0.0, -0.683333, 2.733333, 0.0, -1.366667, 0.341667, 2.733333, -0.0, 0.683333, -2.05, 0.0,
        1.366667, -0.341667, 0.341667, -4.1, 1.025,
    ];
    close(&f.decode(&e).unwrap(), &expect, 1e-6);
}

#[test]
fn nvfp4_example_b() {
    let x: Vec<f32> = X16.iter().chain(&Y16).copied().collect();
    let f = Format::parse("nvfp4").unwrap();
    let e = f.encode(&x, 32).unwrap();
    assert_eq!(e.scales, vec![0x73, 0x7E]);
    let codes = pack::unpack(&e.codes, 4, 32).unwrap();
    let vals: Vec<f32> = codes.iter().map(|&c| e2m1_to_f32(c)).collect();
    assert_eq!(
        vals[..16],
        [
            0.0, -1.0, 4.0, 0.0, -2.0, 0.5, 6.0, -0.0, 1.0, -3.0, 0.0, 2.0, -0.5, 0.5, -6.0, 1.5
        ]
    );
    assert_eq!(
        vals[16..],
        [
            6.0, -0.5, 0.0, 4.0, -2.0, 0.5, 0.0, -6.0, 1.0, 0.0, -0.0, 3.0, 3.0, -4.0, 0.5, -0.5
        ]
    );
    let d = f.decode(&e).unwrap();
    assert!((mse(&x[..16], &d[..16]) - 0.040764).abs() < 1e-6);
    assert!((mse(&x[16..], &d[16..]) - 0.099983).abs() < 1e-6);
}

#[test]
fn int_and_nf4_examples() {
    let s = fq("int4:block=16", &X16);
    assert!((mse(&X16, &s) - 0.026206).abs() < 1e-6);
    let a = fq("int4:block=16,asym", &X16);
    assert!((mse(&X16, &a) - 0.021020).abs() < 1e-6);
    let e = Format::parse("int4:block=16,asym")
        .unwrap()
        .encode(&X16, 16)
        .unwrap();
    let q = pack::unpack(&e.codes, 4, 16).unwrap();
    assert_eq!(q, [8, 7, 13, 8, 6, 9, 15, 8, 10, 4, 8, 11, 7, 9, 0, 10]);
    assert_eq!(e.scales[4], 8, "zero point");
    let i8 = fq("int8:block=16", &X16);
    let maxerr = X16
        .iter()
        .zip(&i8)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!((maxerr - 0.014567).abs() < 1e-6);
    let n = Format::parse("nf4:block=16")
        .unwrap()
        .encode(&X16, 16)
        .unwrap();
    let codes = pack::unpack(&n.codes, 4, 16).unwrap();
    assert_eq!(codes, [7, 5, 13, 7, 4, 8, 14, 7, 9, 2, 7, 12, 6, 8, 0, 10]);
    assert!((mse(&X16, &fq("nf4:block=16", &X16)) - 0.016560).abs() < 1e-6);
}

#[test]
fn selector_lives_in_the_sign_bit() {
    // Spec §5 item 3: scale 176 = 0x73 marked for grid 1 is stored as 0xF3.
    // Split87 on a block whose amax is negative must pick grid 1 (the −8 side).
    let mut x = vec![0.3f32; 16];
    x[0] = -4.0;
    x[1] = 2.9; // no grid-0 advantage
    let e = Format::parse("split87").unwrap().encode(&x, 16).unwrap();
    assert_eq!(e.scales[0] & 0x80, 0x80, "grid 1 selected");
    let mut y = vec![0.3f32; 16];
    y[0] = 4.0;
    let e = Format::parse("split87").unwrap().encode(&y, 16).unwrap();
    assert_eq!(e.scales[0] & 0x80, 0, "grid 0 selected");
}
