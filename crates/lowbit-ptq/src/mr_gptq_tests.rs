//! [`crate::mr_gptq`]: no rotation + absmax is plain GPTQ exactly; the original-basis error is
//! the rotated-basis error; on a layer with correlated inputs and outliers MR-GPTQ beats GPTQ
//! for MXFP4 (and NVFP4); the stored weight has exact coded parts.

use crate::test_support::{gptq_problem as problem, noise};
use crate::{
    FormatQuantizer, GptqOptions, MrGptqOptions, PtqError, ScaleSearch, block_hadamard_rows, gptq,
    hessian, mr_gptq, relative_output_error, rotate_hessian,
};

/// W with 1 % outlier weights; H of inputs with correlations and three outlier channels.
fn outlier_layer(rows: usize, cols: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let w: Vec<f32> = noise(rows * cols, seed)
        .iter()
        .enumerate()
        .map(|(i, v)| if i % 97 == 5 { 8.0 * v } else { *v })
        .collect();
    let n = 4 * cols;
    let z = noise(n * cols, seed + 1);
    let mix = noise(n * 4, seed + 2);
    let mut x = vec![0f32; n * cols];
    for k in 0..n {
        for j in 0..cols {
            // 4 shared factors (correlation) + independent noise; channels 3, 50, 77 are ×12.
            let shared: f32 = (0..4)
                .map(|f| mix[k * 4 + f] * (((j * (f + 3)) % 7) as f32 - 3.0) / 3.0)
                .sum();
            let out = if [3, 50, 77].contains(&(j % 128)) {
                12.0
            } else {
                1.0
            };
            x[k * cols + j] = (z[k * cols + j] + shared) * out;
        }
    }
    (w, hessian(&x, cols, 64).unwrap())
}

#[test]
fn no_rotation_and_absmax_is_plain_gptq() {
    for name in ["int4", "nvfp4", "mxfp4", "po2-nf4"] {
        for (act, st) in [(false, false), (true, true), (false, true)] {
            let mut q = FormatQuantizer::parse(name).unwrap();
            let (rows, cols) = (6, 128);
            let (w, h) = problem(rows, cols, 21);
            let g = GptqOptions {
                block_size: 48,
                act_order: act,
                static_groups: st,
                ..GptqOptions::default()
            };
            let want = gptq(&w, rows, cols, &h, &mut q, &g).unwrap();
            let opts = MrGptqOptions {
                rotation_block: None,
                scale_search: ScaleSearch::Absmax,
                gptq: g,
            };
            let got = mr_gptq(&w, rows, cols, &h, &mut q, &opts).unwrap();
            assert_eq!(got.rotated, want, "{name}");
            assert_eq!(got.w_hat_original().unwrap(), want.w_hat);
        }
    }
}

#[test]
fn mr_gptq_beats_gptq_on_outliers() {
    let (rows, cols) = (32, 256);
    let (w, h) = outlier_layer(rows, cols, 3);
    for (name, block) in [("mxfp4", 32), ("mxfp4", 128), ("nvfp4", 16), ("nvfp4", 128)] {
        let mut q = FormatQuantizer::parse(name).unwrap();
        let plain = gptq(&w, rows, cols, &h, &mut q, &GptqOptions::default()).unwrap();
        let e_plain = relative_output_error(&w, &plain.w_hat, rows, cols, &h).unwrap();
        let opts = MrGptqOptions {
            rotation_block: Some(block),
            ..MrGptqOptions::default()
        };
        let mr = mr_gptq(&w, rows, cols, &h, &mut q, &opts).unwrap();
        let w_orig = mr.w_hat_original().unwrap();
        let e_mr = relative_output_error(&w, &w_orig, rows, cols, &h).unwrap();
        assert!(
            e_mr <= e_plain,
            "{name} R{block}: MR-GPTQ {e_mr} > GPTQ {e_plain}"
        );
        // The same error measured in the rotated basis: ‖(WR − Ŵ_rot) RᵀX‖ = ‖(W − Ŵ_rot Rᵀ) X‖.
        let w_rot = block_hadamard_rows(&w, rows, cols, block).unwrap();
        let h_rot = rotate_hessian(&h, cols, block).unwrap();
        let e_rot = relative_output_error(&w_rot, &mr.rotated.w_hat, rows, cols, &h_rot).unwrap();
        assert!((e_rot - e_mr).abs() <= 1e-4 * e_mr, "{e_rot} vs {e_mr}");
        // The stored weight is exact in the format.
        let parts = mr.coded_parts(&q).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&parts.decode()), bits(&mr.rotated.w_hat), "{name}");
    }
}

#[test]
fn act_order_and_bad_rotations() {
    let (rows, cols) = (8, 64);
    let (w, h) = outlier_layer(rows, cols, 9);
    let mut q = FormatQuantizer::parse("nvfp4").unwrap();
    let mut opts = MrGptqOptions {
        rotation_block: Some(16),
        ..MrGptqOptions::default()
    };
    opts.gptq.act_order = true;
    let r = mr_gptq(&w, rows, cols, &h, &mut q, &opts).unwrap();
    assert_eq!(r.coded_parts(&q).unwrap().decode(), r.rotated.w_hat);
    for b in [0, 24, 128] {
        opts.rotation_block = Some(b);
        let e = mr_gptq(&w, rows, cols, &h, &mut q, &opts).unwrap_err();
        assert!(matches!(e, PtqError::Rotation { .. }), "{e}");
    }
}
