//! [`crate::GptqResult::coded_parts`]: the parts decode to Ŵ bit for bit for every format
//! [`crate::FormatQuantizer`] drives, with and without act-order + static groups, and for
//! H = I they are the encoder's own parts (`format.coded_parts(format.encode(w))`).

use crate::test_support::{gptq_problem as problem, noise};
use crate::{FormatQuantizer, GptqOptions, GroupQuantizer, PtqError, gptq};

/// INT sym/asym, NVFP4, MXFP4 (FLOOR/RCEIL), NF4, E2M1 with f32 scales, PO2 / SFP4 / Split87
/// multi-grid families.
const FORMATS: [&str; 12] = [
    "int4",
    "int4:asym",
    "int3:block=16,asym",
    "int8:block=16",
    "nvfp4",
    "mxfp4",
    "mxfp4-rceil",
    "nf4",
    "e2m1",
    "po2-nf4",
    "sfp4",
    "split87",
];

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn opts(act_order: bool, block_size: usize) -> GptqOptions {
    GptqOptions {
        block_size,
        act_order,
        static_groups: act_order,
        ..GptqOptions::default()
    }
}

#[test]
fn parts_decode_to_w_hat_bit_for_bit() {
    for name in FORMATS {
        let mut q = FormatQuantizer::parse(name).unwrap();
        let g = q.group_size();
        let (rows, cols) = (6, 4 * g);
        let (mut w, h) = problem(rows, cols, 11);
        w[3] = 0.0;
        w[cols + 5] = -0.0;
        w[2 * cols + 1] = 9.0; // an outlier
        for act in [false, true] {
            let r = gptq(&w, rows, cols, &h, &mut q, &opts(act, 48)).unwrap();
            let p = r.coded_parts(&q).unwrap();
            assert_eq!(p.codes.len(), rows * cols, "{name}");
            assert_eq!(p.blocks(), rows * cols / g, "{name}");
            assert_eq!(bits(&p.decode()), bits(&r.w_hat), "{name} act-order {act}");
        }
    }
}

#[test]
fn identity_hessian_gives_the_encoders_parts() {
    for name in FORMATS {
        let mut q = FormatQuantizer::parse(name).unwrap();
        let g = q.group_size();
        let (rows, cols) = (5, 3 * g);
        let w: Vec<f32> = noise(rows * cols, 3).iter().map(|v| 3.0 * v).collect();
        let h: Vec<f32> = (0..cols * cols)
            .map(|i| if i % (cols + 1) == 0 { 1.0 } else { 0.0 })
            .collect();
        let f = q.format().clone();
        let want = f.coded_parts(&f.encode(&w, cols).unwrap()).unwrap();
        for act in [false, true] {
            let r = gptq(&w, rows, cols, &h, &mut q, &opts(act, 128)).unwrap();
            let got = r.coded_parts(&q).unwrap();
            // f32 fields compared by bits via the decode and the scale lists.
            assert_eq!(got.codes, want.codes, "{name}");
            assert_eq!(bits(&got.scales), bits(&want.scales), "{name}");
            assert_eq!(bits(&got.zeros), bits(&want.zeros), "{name}");
            assert_eq!(got.table_of_block, want.table_of_block, "{name}");
            assert_eq!(
                got.global.map(f32::to_bits),
                want.global.map(f32::to_bits),
                "{name}"
            );
            assert_eq!(got, want, "{name} act-order {act}");
        }
    }
}

#[test]
fn act_order_without_static_groups_is_a_typed_error() {
    let mut q = FormatQuantizer::parse("int4").unwrap();
    let (rows, cols) = (4, 64);
    let (w, h) = problem(rows, cols, 5);
    let o = GptqOptions {
        act_order: true,
        ..GptqOptions::default()
    };
    let r = gptq(&w, rows, cols, &h, &mut q, &o).unwrap();
    let e = r.coded_parts(&q).unwrap_err();
    assert!(matches!(e, PtqError::NotContiguous { .. }), "{e}");
    // Another format's quantizer is rejected, not misread.
    let other = FormatQuantizer::parse("nvfp4").unwrap();
    let r = gptq(&w, rows, cols, &h, &mut q, &GptqOptions::default()).unwrap();
    assert!(r.coded_parts(&other).is_err());
}
