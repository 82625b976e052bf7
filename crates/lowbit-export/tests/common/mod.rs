//! Fixture cases shared by the golden tests: deterministic weights, their lowbit coded parts,
//! and the JSON form `tools/ct_fixtures.py` reads (f32 values as their bit patterns).

use lowbit_export::{CtFloat, CtScheme, ct_scheme_for};
use lowbit_formats::{CodedParts, DecodeRule, Format};
use serde_json::{Value, json};
use std::path::PathBuf;

/// One fixture: a lowbit format, a shape, a data recipe and the scheme it is exported under.
pub struct Case {
    pub name: &'static str,
    pub format: &'static str,
    pub rows: usize,
    pub cols: usize,
    /// Per-row magnitude factors cycle through these powers of two (exercises the scale range).
    pub row_exps: &'static [i32],
    pub scale_dtype: Option<CtFloat>,
    pub input_global_scale: Option<f32>,
}

pub const CASES: &[Case] = &[
    Case {
        name: "nvfp4_w4a16",
        format: "nvfp4",
        rows: 8,
        cols: 64,
        row_exps: &[0],
        scale_dtype: None,
        input_global_scale: None,
    },
    Case {
        name: "nvfp4_w4a4",
        format: "nvfp4",
        rows: 4,
        cols: 32,
        row_exps: &[0, 3],
        scale_dtype: None,
        input_global_scale: Some(768.0),
    },
    Case {
        name: "nvfp4_subnormal_scales",
        format: "nvfp4",
        rows: 6,
        cols: 48,
        row_exps: &[0, -9, -12],
        scale_dtype: None,
        input_global_scale: None,
    },
    Case {
        name: "mxfp4",
        format: "mxfp4",
        rows: 8,
        cols: 64,
        row_exps: &[0],
        scale_dtype: None,
        input_global_scale: None,
    },
    Case {
        name: "mxfp4_rceil_wide",
        format: "mxfp4-rceil",
        rows: 6,
        cols: 64,
        row_exps: &[0, -120, 100, -60, 20, -126],
        scale_dtype: None,
        input_global_scale: None,
    },
    Case {
        name: "int4_sym_g32_f32",
        format: "int4:block=32",
        rows: 8,
        cols: 64,
        row_exps: &[0],
        scale_dtype: Some(CtFloat::F32),
        input_global_scale: None,
    },
    Case {
        name: "int4_asym_g16_f32",
        format: "int4:block=16,asym",
        rows: 12,
        cols: 48,
        row_exps: &[0, -3],
        scale_dtype: Some(CtFloat::F32),
        input_global_scale: None,
    },
    Case {
        name: "int8_sym_g32_bf16",
        format: "int8:block=32",
        rows: 4,
        cols: 64,
        row_exps: &[0],
        scale_dtype: Some(CtFloat::Bf16),
        input_global_scale: None,
    },
    Case {
        name: "int4_asym_g32_bf16",
        format: "int4:block=32,asym",
        rows: 9,
        cols: 64,
        row_exps: &[0, 2],
        scale_dtype: Some(CtFloat::Bf16),
        input_global_scale: None,
    },
    Case {
        name: "int8_asym_g64_f32",
        format: "int8:block=64,asym",
        rows: 3,
        cols: 128,
        row_exps: &[0],
        scale_dtype: Some(CtFloat::F32),
        input_global_scale: None,
    },
];

/// `tests/fixtures/compressed_tensors/` at the repository root.
pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/compressed_tensors")
}

/// Deterministic signed data with outliers (splitmix64 → sum of 4 uniforms − 2), no zeros.
pub fn data(case: &Case) -> Vec<f32> {
    let mut state = case.name.bytes().fold(0x9E37_79B9_7F4A_7C15u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x1000_0000_01B3)
    });
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
    };
    let mut x = Vec::with_capacity(case.rows * case.cols);
    for r in 0..case.rows {
        let f = 2f32.powi(case.row_exps[r % case.row_exps.len()]);
        for c in 0..case.cols {
            let mut v = next() + next() + next() + next() - 2.0;
            if c % 29 == 7 {
                v *= 5.0;
            }
            if v == 0.0 {
                v = 0.25;
            }
            x.push(v * f);
        }
    }
    x
}

pub fn scheme(case: &Case) -> CtScheme {
    let f = Format::parse(case.format).expect("fixture format parses");
    let mut s = ct_scheme_for(&f).expect("fixture format is expressible");
    if let Some(d) = case.scale_dtype {
        s = s.with_scale_dtype(d);
    }
    if let Some(a) = case.input_global_scale {
        s = s.with_input_global_scale(a);
    }
    s
}

pub fn parts(case: &Case) -> CodedParts {
    let f = Format::parse(case.format).expect("fixture format parses");
    let e = f.encode(&data(case), case.cols).expect("encode");
    f.coded_parts(&e).expect("coded parts")
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The JSON the fixture script reads: the parts, the scheme, and lowbit's decode.
pub fn parts_json(case: &Case) -> Value {
    let p = parts(case);
    let s = scheme(case);
    json!({
        "case": case.name,
        "lowbit_format": case.format,
        "ct_format": s.format_name(),
        "rows": p.rows,
        "cols": p.cols,
        "block": p.block,
        "code_bits": p.code_bits,
        "symmetric": p.rule != DecodeRule::ZeroPoint,
        "scale_dtype": case.scale_dtype.map(|d| d.name()),
        "input_global_scale_bits": case.input_global_scale.map(f32::to_bits),
        "codes": p.codes,
        "levels_bits": bits(&p.tables[0]),
        "scales_bits": bits(&p.scales),
        "zeros": p.zeros.iter().map(|&z| z as i64).collect::<Vec<_>>(),
        "global_dec_bits": p.global.map(f32::to_bits),
        "lowbit_decode_bits": bits(&p.decode()),
    })
}
