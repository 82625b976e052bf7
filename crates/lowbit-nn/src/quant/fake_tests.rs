//! Tensor fake quantization against the golden vectors of the independent NumPy oracle
//! (`tools/gen_golden.py` → `tests/golden/*.json`), bit for bit: the dispatched [`fake_quant`]
//! (what layers call; on `flex` the host quantizer) and, for every format that has one, the
//! tensor-op path [`fake_quant_tensor`] (what GPU backends run), on every stored case of every
//! format name the oracle covers. Nothing here compares a path with the host function.

use burn::tensor::{Device, Tensor};
use lowbit_formats::{Format, GridRegistry};
use serde_json::Value;
use std::path::PathBuf;

use super::fake::{fake_quant, fake_quant_host, fake_quant_tensor, has_tensor_path};
use crate::NnError;

/// Formats on the tensor path.
const TENSOR_FORMATS: [&str; 12] = [
    "nvfp4",
    "mxfp4",
    "int4",
    "int4:asym",
    "int8",
    "int2:block=16",
    "int3:asym,block=16",
    "int8:asym,block=64",
    "nf4",
    "nf4:block=16,scale=e4m3-global",
    "nf4:block=32,scale=e8m0",
    "e2m1:block=16,scale=f32",
];

/// Formats that take the documented host fallback.
const HOST_FORMATS: [&str; 6] = [
    "mxfp4-rceil",
    "mxfp4-even",
    "split87",
    "po2-nf4",
    "sfp4",
    "2of4+int4",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every per-format golden file with the format it was written for (its `lowbit` name, grid
/// files resolved through `grids/` as the CLI does).
fn golden_formats() -> Vec<(String, Format, Value)> {
    let dir = root().join("tests/golden");
    let reg = GridRegistry::builtin()
        .with_dir(&root().join("grids"))
        .unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| !p.ends_with("casts.json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let g: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            let name = g["lowbit"].as_str().unwrap().to_string();
            let f = Format::parse_with(&name, &reg).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, f, g)
        })
        .collect()
}

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn bits_of(t: Tensor<2>) -> Vec<u32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

/// Asserts bit equality with a readable first difference.
fn assert_bits(got: &[u32], want: &[u32], x: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
        panic!(
            "{what}: index {i}, x = {:e}, got {:e}, golden {:e}",
            x[i],
            f32::from_bits(got[i]),
            f32::from_bits(want[i])
        );
    }
}

#[test]
fn tensor_paths_match_golden_vectors() {
    let d = Device::flex();
    let (mut dispatched, mut tensor) = (0, 0);
    for (name, format, g) in golden_formats() {
        let on_tensor_path = has_tensor_path(&format);
        for c in g["cases"].as_array().unwrap() {
            let label = format!("{name} / {}", c["name"].as_str().unwrap());
            let rows = c["rows"].as_u64().unwrap() as usize;
            let cols = c["cols"].as_u64().unwrap() as usize;
            let x: Vec<f32> = u32s(&c["x"]).into_iter().map(f32::from_bits).collect();
            let want = u32s(&c["dequant"]);
            let t = Tensor::<1>::from_floats(x.as_slice(), &d).reshape([rows, cols]);
            let got = fake_quant(t.clone(), &format).unwrap_or_else(|e| panic!("{label}: {e}"));
            assert_bits(&bits_of(got), &want, &x, &format!("{label}: fake_quant"));
            dispatched += 1;
            if on_tensor_path {
                let got = fake_quant_tensor(t, &format).unwrap_or_else(|e| panic!("{label}: {e}"));
                assert_bits(
                    &bits_of(got),
                    &want,
                    &x,
                    &format!("{label}: fake_quant_tensor"),
                );
                tensor += 1;
            }
        }
    }
    assert!(dispatched >= 700, "only {dispatched} golden cases");
    assert!(
        tensor >= 250,
        "only {tensor} golden cases on the tensor path"
    );
}

#[test]
fn path_classification() {
    for name in TENSOR_FORMATS {
        assert!(has_tensor_path(&Format::parse(name).unwrap()), "{name}");
    }
    for name in HOST_FORMATS {
        assert!(!has_tensor_path(&Format::parse(name).unwrap()), "{name}");
    }
}

#[test]
fn three_dim_tensor_keeps_shape() {
    let d = Device::flex();
    let format = Format::parse("nvfp4").unwrap();
    let x = Tensor::<3>::ones([2, 3, 32], &d);
    let y = fake_quant(x, &format).unwrap();
    assert_eq!(y.dims(), [2, 3, 32]);
}

#[test]
fn errors_are_typed() {
    let d = Device::flex();
    let format = Format::parse("nvfp4").unwrap();
    let x = Tensor::<2>::ones([2, 24], &d);
    assert!(matches!(
        fake_quant(x, &format),
        Err(NnError::BlockMismatch {
            cols: 24,
            block: 16
        })
    ));
    let x = Tensor::<1>::from_floats(
        [
            1.0f32,
            f32::NAN,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
        ],
        &d,
    );
    assert!(matches!(
        fake_quant_tensor(x.clone(), &format),
        Err(NnError::NonFinite)
    ));
    assert!(matches!(fake_quant(x, &format), Err(NnError::NonFinite)));
    assert!(matches!(
        fake_quant_tensor(
            Tensor::<2>::ones([2, 32], &d),
            &Format::parse("split87").unwrap()
        ),
        Err(NnError::NoTensorPath { .. })
    ));
    let x = Tensor::<2>::ones([2, 32], &d);
    let split = Format::parse("split87").unwrap();
    assert!(fake_quant_host(x.slice([0..2, 0..16]), &split).is_ok());
}

#[test]
fn fake_quant_composes_with_ste_on_autodiff() {
    let d = Device::flex().autodiff();
    let format = Format::parse("nvfp4").unwrap();
    let v: Vec<f32> = (0..32).map(|i| (i as f32 - 15.5) / 3.0).collect();
    let x = Tensor::<1>::from_floats(v.as_slice(), &d)
        .reshape([2, 16])
        .require_grad();
    let q = fake_quant(x.clone().detach(), &format).unwrap();
    let out = crate::quant::estimator::ste(x.clone(), q);
    let grads = out.clone().sum().backward();
    let g: Vec<f32> = x
        .grad(&grads)
        .unwrap()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    assert_eq!(g, vec![1.0; 32]);
    let mut want = v.clone();
    format.fake_quant(&mut want, 16).unwrap();
    let got: Vec<f32> = out
        .detach()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    assert_eq!(got, want);
}
