//! Exports a Hugging Face safetensors checkpoint (one `model.safetensors`, f32 or bf16) to a
//! compressed-tensors directory: every 2-D `*_proj.weight` inside `layers.` is encoded with a
//! lowbit format and written in that format's compressed-tensors layout; everything else is
//! copied. Also writes `OUT_DENSE/`, the same model with lowbit's decoded weights in f32 (the
//! values the export must reproduce), for `tools/check_ct_export.py --dense-reference`.
//!
//! ```text
//! cargo run -p lowbit-export --example ct_export_model -- IN_DIR OUT_DIR OUT_DENSE FORMAT [f32|bf16]
//! ```

use lowbit_export::{
    CtDtype, CtFloat, CtTensor, ct_layer_tensors, ct_quantization_config, ct_scheme_for,
    read_safetensors, write_safetensors_atomic,
};
use lowbit_formats::Format;
use std::collections::HashMap;
use std::error::Error;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [inp, out, dense, format, rest @ ..] = &args[..] else {
        return Err("usage: ct_export_model IN_DIR OUT_DIR OUT_DENSE FORMAT [f32|bf16]".into());
    };
    let (inp, out, dense) = (PathBuf::from(inp), PathBuf::from(out), PathBuf::from(dense));
    let f = Format::parse(format)?;
    let mut scheme = ct_scheme_for(&f)?;
    if let Some(d) = rest.first() {
        scheme = scheme.with_scale_dtype(if d == "f32" {
            CtFloat::F32
        } else {
            CtFloat::Bf16
        });
    }
    let tensors = read_safetensors(&inp.join("model.safetensors"))?;
    let (mut exported, mut decoded) = (Vec::new(), Vec::new());
    for (name, t) in tensors {
        let quantize = name.contains("layers.")
            && name.ends_with("_proj.weight")
            && t.shape.len() == 2
            && matches!(t.dtype, CtDtype::F32 | CtDtype::Bf16);
        if !quantize {
            decoded.push((name.clone(), t.clone()));
            exported.push((name, t));
            continue;
        }
        let (rows, cols) = (t.shape[0], t.shape[1]);
        let x = t.to_f32s();
        let parts = f.coded_parts(&f.encode(&x, cols)?)?;
        let module = name.trim_end_matches(".weight");
        exported.extend(ct_layer_tensors(module, &parts, &scheme)?);
        decoded.push((
            name.clone(),
            CtTensor::f32s(vec![rows, cols], &parts.decode()),
        ));
        println!("{module}: [{rows}, {cols}] as {}", scheme.format_name());
    }
    let meta = || Some(HashMap::from([("format".to_string(), "pt".to_string())]));
    for (dir, t) in [(&out, &exported), (&dense, &decoded)] {
        std::fs::create_dir_all(dir)?;
        write_safetensors_atomic(&dir.join("model.safetensors"), t, meta())?;
    }
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(inp.join("config.json"))?)?;
    std::fs::write(
        dense.join("config.json"),
        serde_json::to_string_pretty(&config)?,
    )?;
    config["quantization_config"] = ct_quantization_config(&scheme, &["lm_head".to_string()]);
    std::fs::write(
        out.join("config.json"),
        serde_json::to_string_pretty(&config)?,
    )?;
    Ok(())
}
