//! End-to-end tests of `lowbit quantize` and `lowbit formats` (the binary, temp dirs).

use lowbit_formats::Format;
use lowbit_formats::scale::GlobalScale;
use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};
use std::path::Path;
use std::process::{Command, Output};

fn lowbit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lowbit"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run lowbit")
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A small checkpoint: two quantizable weights (f32 and bf16), a 1-D norm, an odd-shaped matrix
/// and an integer tensor.
fn write_checkpoint(path: &Path) -> (Vec<f32>, Vec<f32>) {
    let up: Vec<f32> = (0..4 * 64)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 13.0)
        .collect();
    let gate: Vec<f32> = (0..2 * 32)
        .map(|i| ((i * 11 % 17) as f32 - 8.0) / 4.0)
        .collect();
    let gate_bf16: Vec<u8> = gate
        .iter()
        .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
        .collect();
    let norm = f32_bytes(&[1.0; 64]);
    let odd = f32_bytes(&[0.5; 3 * 20]);
    let ids: Vec<u8> = (0..8i64).flat_map(|v| v.to_le_bytes()).collect();
    let upb = f32_bytes(&up);
    let tensors = vec![
        (
            "model.layers.0.mlp.up_proj.weight",
            TensorView::new(Dtype::F32, vec![4, 64], &upb).unwrap(),
        ),
        (
            "model.layers.0.mlp.gate_proj.weight",
            TensorView::new(Dtype::BF16, vec![2, 32], &gate_bf16).unwrap(),
        ),
        (
            "model.norm.weight",
            TensorView::new(Dtype::F32, vec![64], &norm).unwrap(),
        ),
        (
            "odd.weight",
            TensorView::new(Dtype::F32, vec![3, 20], &odd).unwrap(),
        ),
        ("ids", TensorView::new(Dtype::I64, vec![8], &ids).unwrap()),
    ];
    safetensors::serialize_to_file(tensors, None, path).unwrap();
    let gate_rounded = gate
        .iter()
        .map(|v| half::bf16::from_f32(*v).to_f32())
        .collect();
    (up, gate_rounded)
}

#[test]
fn quantize_writes_compressed_tensors_layout() {
    let dir = tempfile::tempdir().unwrap();
    let (inp, out) = (
        dir.path().join("in.safetensors"),
        dir.path().join("out.safetensors"),
    );
    let (up, gate) = write_checkpoint(&inp);
    let o = lowbit(&[
        "quantize",
        "--format",
        "nvfp4",
        "--input",
        inp.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bytes = std::fs::read(&out).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let f = Format::parse("nvfp4").unwrap();
    for (name, x, rows, cols) in [
        ("model.layers.0.mlp.up_proj.weight", &up, 4, 64),
        ("model.layers.0.mlp.gate_proj.weight", &gate, 2, 32),
    ] {
        let e = f.encode(x, cols).unwrap();
        let packed = st.tensor(&format!("{name}_packed")).unwrap();
        assert_eq!(
            (packed.dtype(), packed.shape()),
            (Dtype::U8, &[rows, cols / 2][..])
        );
        assert_eq!(packed.data(), &e.codes[..]);
        let scale = st.tensor(&format!("{name}_scale")).unwrap();
        assert_eq!(
            (scale.dtype(), scale.shape()),
            (Dtype::F8_E4M3, &[rows, cols / 16][..])
        );
        assert_eq!(scale.data(), &e.scales[..]);
        let gs = st.tensor(&format!("{name}_global_scale")).unwrap();
        let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert_eq!(gs.data(), GlobalScale::from_amax(amax).enc.to_le_bytes());
        assert!(st.tensor(name).is_err(), "original weight replaced");
    }
    // Untouched tensors are copied byte for byte.
    let src = std::fs::read(&inp).unwrap();
    let sst = SafeTensors::deserialize(&src).unwrap();
    for name in ["model.norm.weight", "odd.weight", "ids"] {
        assert_eq!(
            st.tensor(name).unwrap().data(),
            sst.tensor(name).unwrap().data(),
            "{name}"
        );
    }
}

#[test]
fn dequantize_writes_fake_quantized_f32() {
    let dir = tempfile::tempdir().unwrap();
    let (inp, out) = (
        dir.path().join("in.safetensors"),
        dir.path().join("out.safetensors"),
    );
    let (up, _) = write_checkpoint(&inp);
    for name in ["mxfp4", "int4:block=32,asym", "po2-nf4", "2of4+int4"] {
        let o = lowbit(&[
            "quantize",
            "--format",
            name,
            "--dequantize",
            "--include",
            "*.up_proj.weight",
            "--input",
            inp.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ]);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let bytes = std::fs::read(&out).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let t = st.tensor("model.layers.0.mlp.up_proj.weight").unwrap();
        let mut want = up.clone();
        Format::parse(name)
            .unwrap()
            .fake_quant(&mut want, 64)
            .unwrap();
        assert_eq!(t.dtype(), Dtype::F32);
        assert_eq!(t.data(), &f32_bytes(&want)[..], "{name}");
        // Not matched by the glob: copied as bf16.
        assert_eq!(
            st.tensor("model.layers.0.mlp.gate_proj.weight")
                .unwrap()
                .dtype(),
            Dtype::BF16
        );
    }
}

#[test]
fn bad_input_fails_cleanly_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("in.safetensors");
    write_checkpoint(&inp);
    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"definitely not a safetensors file").unwrap();
    let out = dir.path().join("out.safetensors");
    let (i, g, o) = (
        inp.to_str().unwrap(),
        garbage.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    for (args, needle) in [
        (
            vec![
                "quantize",
                "--format",
                "nvfp4",
                "--input",
                "/nonexistent.safetensors",
                "--output",
                o,
            ],
            "cannot open",
        ),
        (
            vec!["quantize", "--format", "nvfp4", "--input", g, "--output", o],
            "not a valid safetensors",
        ),
        (
            vec![
                "quantize",
                "--format",
                "nvfp4",
                "--include",
                "odd.weight",
                "--input",
                i,
                "--output",
                o,
            ],
            "not a multiple of block 16",
        ),
        (
            vec![
                "quantize",
                "--format",
                "nvfp4",
                "--include",
                "ids",
                "--input",
                i,
                "--output",
                o,
            ],
            "only 2-D F32/F16/BF16",
        ),
        (
            vec!["quantize", "--format", "nvfp9", "--input", i, "--output", o],
            "unknown format",
        ),
        (
            vec!["quantize", "--format", "2of4", "--input", i, "--output", o],
            "--dequantize",
        ),
    ] {
        let r = lowbit(&args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success(), "{args:?} succeeded");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
        assert!(!out.exists(), "no partial output for {args:?}");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers.len(), 2, "temp files left behind: {leftovers:?}");
    }
}

#[test]
fn formats_report_json_and_list() {
    let o = lowbit(&["formats", "report", "--json", "--samples", "262144"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    for name in [
        "nvfp4",
        "mxfp4",
        "mxfp4-rceil",
        "int4",
        "int8",
        "nf4",
        "po2-nf4",
        "split87",
        "sfp4",
    ] {
        let r = rows
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing"));
        for key in ["gmse", "gmse_se", "effective_bits", "bits_per_value"] {
            assert!(r[key].as_f64().is_some_and(f64::is_finite), "{name}.{key}");
        }
    }
    let nv = rows.iter().find(|r| r["name"] == "nvfp4").unwrap()["gmse"]
        .as_f64()
        .unwrap();
    assert!((nv - 0.00904).abs() / 0.00904 < 0.03, "NVFP4 GMSE {nv}");
    let l = lowbit(&["formats", "list"]);
    let text = String::from_utf8_lossy(&l.stdout);
    assert!(text.contains("nvfp4") && text.contains("4.5000"), "{text}");
}
