//! Properties of [`crate::gptq`] that hold on any data: H = I is round-to-nearest bit for bit,
//! the `Current` group source does not depend on the lazy block size, the two group sources
//! agree when every group starts a lazy block, dead columns quantize to +0, and GPTQ beats RTN
//! on correlated inputs.

use crate::test_support::gptq_problem as problem;
use crate::{
    FormatQuantizer, GptqOptions, GroupSource, PtqError, gptq, relative_output_error, rtn,
};

fn eye(n: usize) -> Vec<f32> {
    (0..n * n)
        .map(|i| (i % (n + 1) == 0) as u8 as f32)
        .collect()
}

#[test]
fn identity_hessian_is_rtn() {
    let (rows, cols) = (6, 64);
    let (w, _) = problem(rows, cols, 3);
    for name in [
        "int4",
        "int3:block=16,asym",
        "nvfp4",
        "mxfp4",
        "nf4:block=32",
        "po2-nf4",
    ] {
        for (act_order, static_groups) in [(false, false), (true, true), (true, false)] {
            for group_source in [GroupSource::Current, GroupSource::Gptq] {
                let mut q = FormatQuantizer::parse(name).unwrap();
                let o = GptqOptions {
                    block_size: 48,
                    act_order,
                    static_groups,
                    group_source,
                    ..GptqOptions::default()
                };
                let r = gptq(&w, rows, cols, &eye(cols), &mut q, &o).unwrap();
                let mut fq = w.clone();
                q.format().fake_quant(&mut fq, cols).unwrap();
                let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&r.w_hat), bits(&fq), "{name} {o:?}");
            }
        }
    }
}

#[test]
fn current_source_is_blocksize_independent() {
    let (rows, cols) = (8, 64);
    let (w, h) = problem(rows, cols, 11);
    for name in ["int4", "nvfp4", "int4:block=16,asym"] {
        let run = |bs: usize, src: GroupSource| {
            let mut q = FormatQuantizer::parse(name).unwrap();
            let o = GptqOptions {
                block_size: bs,
                group_source: src,
                ..GptqOptions::default()
            };
            gptq(&w, rows, cols, &h, &mut q, &o).unwrap()
        };
        let base = run(64, GroupSource::Current);
        for bs in [1, 16, 32, 48, 64, 128] {
            let r = run(bs, GroupSource::Current);
            assert_eq!(r.codes, base.codes, "{name} block {bs}");
            let d = r.w_hat.iter().zip(&base.w_hat).map(|(a, b)| (a - b).abs());
            assert!(d.fold(0f32, f32::max) < 1e-5, "{name} block {bs}");
        }
        // every group start is a lazy-block start (block 1 or block = g): the official
        // reading agrees
        let g = FormatQuantizer::parse(name).unwrap().format().block_size();
        for bs in [1, g] {
            assert_eq!(
                run(bs, GroupSource::Gptq).codes,
                base.codes,
                "{name} gptq block {bs}"
            );
        }
    }
}

#[test]
fn gptq_beats_rtn_and_dead_columns_are_zero() {
    let (rows, cols) = (8, 64);
    let (w, mut h) = problem(rows, cols, 5);
    for &d in &[3usize, 40] {
        for t in 0..cols {
            h[d * cols + t] = 0.0;
            h[t * cols + d] = 0.0;
        }
    }
    for name in ["int4", "int4:asym", "nvfp4", "mxfp4"] {
        for act_order in [false, true] {
            let mut q = FormatQuantizer::parse(name).unwrap();
            let o = GptqOptions {
                block_size: 32,
                act_order,
                static_groups: act_order,
                ..GptqOptions::default()
            };
            let r = gptq(&w, rows, cols, &h, &mut q, &o).unwrap();
            assert!(r.dead[3] && r.dead[40] && r.dead.iter().filter(|&&d| d).count() == 2);
            for &d in &[3usize, 40] {
                assert!(
                    (0..rows).all(|row| r.w_hat[row * cols + d].to_bits() == 0),
                    "{name}"
                );
            }
            let rt = rtn(&w, rows, cols, &mut FormatQuantizer::parse(name).unwrap()).unwrap();
            let eg = relative_output_error(&w, &r.w_hat, rows, cols, &h).unwrap();
            let er = relative_output_error(&w, &rt.w_hat, rows, cols, &h).unwrap();
            assert!(eg < er, "{name} act_order {act_order}: {eg} vs {er}");
            if act_order {
                // dead columns have H_ii = 1 after the fix; the perm sorts diag H descending
                let mut sorted = r.perm.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, (0..cols).collect::<Vec<_>>());
            }
        }
    }
}

#[test]
fn bad_inputs_are_typed_errors() {
    let (rows, cols) = (4, 32);
    let w: Vec<f32> = (0..rows * cols).map(|i| (i as f32).cos()).collect();
    let eye: Vec<f32> = (0..cols * cols)
        .map(|i| (i % (cols + 1) == 0) as u8 as f32)
        .collect();
    let o = GptqOptions::default();
    let mut q = FormatQuantizer::parse("int4").unwrap();
    // group 32 does not divide 48
    let w48 = vec![0.5f32; rows * 48];
    let eye48: Vec<f32> = (0..48 * 48).map(|i| (i % 49 == 0) as u8 as f32).collect();
    let e = gptq(&w48, rows, 48, &eye48, &mut q, &o).unwrap_err();
    assert!(
        matches!(
            e,
            PtqError::GroupSize {
                group: 32,
                cols: 48
            }
        ),
        "{e}"
    );
    // wrong-size / non-square H
    let e = gptq(&w, rows, cols, &eye[..cols * (cols - 1)], &mut q, &o).unwrap_err();
    assert!(
        matches!(
            e,
            PtqError::Shape {
                what: "hessian",
                ..
            }
        ),
        "{e}"
    );
    // weight of the wrong size
    let e = gptq(&w[1..], rows, cols, &eye, &mut q, &o).unwrap_err();
    assert!(matches!(e, PtqError::Shape { what: "weight", .. }), "{e}");
    // non-finite inputs
    let mut wn = w.clone();
    wn[7] = f32::NAN;
    let e = gptq(&wn, rows, cols, &eye, &mut q, &o).unwrap_err();
    assert!(
        matches!(
            e,
            PtqError::NonFinite {
                what: "weight",
                index: 7,
                ..
            }
        ),
        "{e}"
    );
    let mut hn = eye.clone();
    hn[3] = f32::INFINITY;
    let e = gptq(&w, rows, cols, &hn, &mut q, &o).unwrap_err();
    assert!(
        matches!(
            e,
            PtqError::NonFinite {
                what: "hessian",
                index: 3,
                ..
            }
        ),
        "{e}"
    );
    // indefinite H (an eigenvalue −1 that 1 % damping cannot lift)
    let mut hi = eye.clone();
    hi[1] = 2.0;
    hi[cols] = 2.0;
    let e = gptq(&w, rows, cols, &hi, &mut q, &o).unwrap_err();
    assert!(
        matches!(
            e,
            PtqError::NotPositiveDefinite {
                stage: "damped H",
                index: 1,
                ..
            }
        ),
        "{e}"
    );
    // group size other than the format's block; bad options
    let e = gptq(
        &w,
        rows,
        cols,
        &eye,
        &mut q,
        &GptqOptions {
            group_size: Some(16),
            ..o.clone()
        },
    );
    assert!(matches!(
        e,
        Err(PtqError::GroupMismatch {
            group: 16,
            block: 32,
            ..
        })
    ));
    let e = gptq(
        &w,
        rows,
        cols,
        &eye,
        &mut q,
        &GptqOptions {
            block_size: 0,
            ..o.clone()
        },
    );
    assert!(matches!(e, Err(PtqError::InvalidOption { .. })));
    let e = gptq(
        &w,
        rows,
        cols,
        &eye,
        &mut q,
        &GptqOptions {
            damp: f32::NAN,
            ..o
        },
    );
    assert!(matches!(e, Err(PtqError::InvalidOption { .. })));
}
