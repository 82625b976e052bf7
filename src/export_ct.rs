//! `lowbit export --format compressed-tensors`: the layout vLLM loads (`lowbit-export` writes
//! the per-layer tensors of the package's compressors; see its README for the exactness record).
//!
//! Every coded linear (or latent linear with a weight format, encoded here exactly as its fake
//! quantization) goes into one `config_groups.group_0` scheme: NVFP4 → `nvfp4-pack-quantized`,
//! MXFP4 → `mxfp4-pack-quantized`, INT4/INT8 → `pack-quantized`. Full-precision linears and
//! `lm_head` are listed in `ignore`. A model that quantizes its inputs online with NVFP4 over
//! NVFP4 weights exports as W4A4 (`input_activations`, one calibrated `input_global_scale` per
//! linear, see `export_calib`; the caller passes the scales). What the package cannot express
//! is refused with the list of what it can: other formats (multi-grid, NF4, VQ, sparse),
//! lowbit's online Hadamard rotation (compressed-tensors has no transform for it here), online
//! activation quantization other than NVFP4 over NVFP4, and models mixing formats or mixing
//! W4A4 with weight-only layers.

use anyhow::{Context, Result, bail};
use lowbit_export::{
    CT_EXPRESSIBLE, CtDtype, CtFloat, CtScheme, CtTensor, ct_layer_tensors, ct_quantization_config,
    ct_scheme_for, write_safetensors_atomic,
};
use lowbit_formats::{CodedParts, Format, GridRegistry};
use lowbit_nn::CompressedLinear;
use lowbit_nn::hf::{LoadedModel, StoreDtype, config_to_json, quant_registry, state_dict};
use lowbit_nn::weight::{CodedWeight, WeightRepr};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

const EXPRESSIBLE: &str = CT_EXPRESSIBLE;

/// The format name of every coded or formatted linear (`None` for full precision).
fn layer_format(l: &CompressedLinear, loaded: &LoadedModel) -> Option<String> {
    if let Some(qc) = &loaded.quantization
        && let Some(spec) = qc.layers.get(&l.name)
    {
        return Some(spec.weight.clone());
    }
    l.weight_format().map(Format::name)
}

/// The coded parts of `l` (codes as stored, or the latent weight encoded by `f`).
fn parts_of(l: &CompressedLinear, f: &Format) -> Result<CodedParts> {
    match &l.weight {
        WeightRepr::Coded(CodedWeight::Scalar(s)) => Ok(s.to_parts()?),
        WeightRepr::Coded(CodedWeight::Vq(_)) => bail!(
            "{}: vector-quantized (AQLM) weights have no compressed-tensors layout; \
             compressed-tensors can express {EXPRESSIBLE}",
            l.name
        ),
        WeightRepr::Latent(w) => {
            let t = w.weight.val();
            let [_, cols] = t.dims();
            let v = t
                .into_data()
                .try_into_vec_as::<f32>()
                .map_err(|e| anyhow::anyhow!("cannot read {}.weight: {e:?}", l.name))?;
            Ok(f.coded_parts(&f.encode(&v, cols)?)?)
        }
    }
}

/// A full-precision host tensor in the export dtype.
fn dense(shape: Vec<usize>, v: &[f32], dtype: StoreDtype) -> CtTensor {
    match dtype {
        StoreDtype::F32 => CtTensor::f32s(shape, v),
        StoreDtype::Bf16 => {
            let bytes = v
                .iter()
                .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
                .collect();
            CtTensor::bytes(CtDtype::Bf16, shape, bytes)
        }
    }
}

/// Whether `loaded` quantizes any linear's input online (then the export is W4A4 and needs
/// calibrated activation scales, or is refused).
pub fn quantizes_inputs(loaded: &LoadedModel) -> bool {
    loaded
        .model
        .linears()
        .iter()
        .any(|l| l.input_format.is_some() && layer_format(l, loaded).is_some())
}

/// Writes the compressed-tensors export of `loaded` into `out`. `input_scales` (layer name →
/// `input_global_scale`, from `export_calib::input_global_scales`) is required when a layer
/// quantizes its input online.
pub fn export(
    loaded: &LoadedModel,
    out: &Path,
    dtype: StoreDtype,
    input_scales: Option<&BTreeMap<String, f32>>,
) -> Result<()> {
    let reg = match &loaded.quantization {
        Some(qc) => quant_registry(qc)?,
        None => GridRegistry::builtin(),
    };
    let mut format: Option<String> = None;
    let mut ignore = vec!["lm_head".to_string()];
    let mut coded: Vec<&CompressedLinear> = Vec::new();
    let mut w4a4: Option<bool> = None;
    for l in loaded.model.linears() {
        let Some(name) = layer_format(l, loaded) else {
            ignore.push(l.name.clone());
            continue;
        };
        let a4 = match &l.input_format {
            Some(f) if f.name() == "nvfp4" && name == "nvfp4" => true,
            Some(f) => bail!(
                "{} quantizes its input online ({}) over `{name}` weights; compressed-tensors \
                 expresses online activation quantization only as NVFP4 over NVFP4 weights (W4A4); \
                 export --format hf --drop-input-quant for a dense model",
                l.name,
                f.name()
            ),
            None => false,
        };
        match w4a4 {
            Some(prev) if prev != a4 => bail!(
                "{} is {} but earlier layers are {}; one compressed-tensors scheme per export",
                l.name,
                if a4 { "W4A4" } else { "weight-only" },
                if prev { "W4A4" } else { "weight-only" }
            ),
            _ => w4a4 = Some(a4),
        }
        if l.hadamard_block > 0 {
            bail!(
                "{} rotates its input by a block-{} Hadamard transform (MR-GPTQ); \
                 compressed-tensors has no transform for it here; export --format hf, or compress \
                 without rotation (gptq / rtn) into {EXPRESSIBLE}",
                l.name,
                l.hadamard_block
            );
        }
        match &format {
            Some(f) if *f != name => bail!(
                "{} is `{name}` but earlier layers are `{f}`; one compressed-tensors scheme per \
                 export (compress every layer with one format)",
                l.name
            ),
            _ => format = Some(name),
        }
        coded.push(l);
    }
    let Some(fname) = format else {
        bail!("the model has no compressed linear; export --format hf instead");
    };
    let f = if fname.starts_with("vq:") {
        bail!(
            "`{fname}` (AQLM) has no compressed-tensors layout; compressed-tensors can express {EXPRESSIBLE}"
        );
    } else {
        Format::parse_with(&fname, &reg)?
    };
    let mut scheme =
        ct_scheme_for(&f).with_context(|| format!("exporting `{fname}` to compressed-tensors"))?;
    if let CtScheme::PackQuantized { .. } = scheme {
        // f32 scales decode exactly; bf16 ones are the package's default for a bf16 model.
        scheme = scheme.with_scale_dtype(match dtype {
            StoreDtype::F32 => CtFloat::F32,
            StoreDtype::Bf16 => CtFloat::Bf16,
        });
    }
    let mut tensors: Vec<(String, CtTensor)> = Vec::new();
    let mut coded_names = Vec::new();
    let mut config_scheme = scheme;
    for l in &coded {
        let parts = parts_of(l, &f)?;
        let mut s = scheme;
        if w4a4 == Some(true) {
            let g = input_scales.and_then(|m| m.get(&l.name)).with_context(|| {
                format!(
                    "{} quantizes its input online (NVFP4 W4A4): the export needs its static \
                     activation scale; add --calib-text FILE (and --calib-samples / \
                     --calib-seq-len) so the export can calibrate it",
                    l.name
                )
            })?;
            s = s.with_input_global_scale(*g);
            config_scheme = s;
        }
        tensors.extend(ct_layer_tensors(&l.name, &parts, &s)?);
        coded_names.push(format!("{}.", l.name));
    }
    for (name, t) in state_dict(&loaded.model)? {
        if coded_names.iter().any(|p| name.starts_with(p.as_str())) {
            continue;
        }
        let v = t.to_f32();
        tensors.push((name, dense(t.shape.clone(), &v, dtype)));
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    write_safetensors_atomic(&out.join("model.safetensors"), &tensors, Some(meta))?;
    let mut cfg = loaded.config.clone();
    cfg.compression = lowbit_nn::llama::CompressionPolicy::new();
    let mut v = config_to_json(&cfg, &loaded.special, dtype);
    v["quantization_config"] = ct_quantization_config(&config_scheme, &ignore);
    let text = serde_json::to_string_pretty(&v)? + "\n";
    let tmp = out.join("config.json.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, out.join("config.json"))?;
    Ok(())
}
