//! Compressed checkpoints: an HF directory whose coded linears store their codes and decode
//! parameters under compressed-tensors' names, described by a [`QuantizationConfig`] in
//! `config.json`.
//!
//! Per coded scalar linear `L` (see [`crate::weight::ScalarCodes`]): `L.weight_packed` (U8,
//! `[d_out, ⌈d_in·bits/8⌉]`, codes packed densely LSB first by
//! [`lowbit_formats::pack::pack_bits`] — for 4 bits element 2i in the low nibble, as
//! compressed-tensors and TransformerEngine), `L.weight_scale` (F8_E4M3 when every scale is an
//! E4M3 value — NVFP4's block scales — else F32), `L.weight_zero_point`, `L.weight_global_scale`,
//! `L.weight_levels` (the level tables), `L.weight_table` (grid selectors of multi-grid formats)
//! and `L.weight_mask` (sparse compositions). Per VQ linear: `L.weight_codes` (U8, or I32 for
//! codes wider than 8 bits), `L.weight_codebooks`, `L.weight_scale` (per output row).
//!
//! [`QuantizationConfig::bits_per_value`] is what the coded linears store per weight: codes at
//! their bit width, scales at their stored width (8 for E4M3, 32 for F32), zero points and
//! global scales at 32, grid selectors at ⌈log2 grids⌉, masks at 1, VQ codebooks at 32. Level
//! tables are not charged: they are the format's constants (the same for every layer).

use super::dir::{SaveOptions, save_tensors_dir};
use super::quant_config::{CodedLayer, QuantizationConfig};
use super::state::{HostData, HostTensor, state_dict};
use crate::llama::{Llama, LlamaConfig};
use crate::weight::{CodedWeight, VqCodes, WeightKind, WeightRepr};
use crate::{CompressedLinear, CompressedLinearConfig, LinearFormats, NnError};
use burn::tensor::Device;
use lowbit_formats::elem::e4m3::{e4m3_to_f32, f32_to_e4m3};
use lowbit_formats::pack::{pack_bits, unpack_bits};
use lowbit_formats::{Format, GridRegistry, VqSpec};
use std::collections::BTreeMap;
use std::path::Path;

/// Writes a compressed checkpoint: `config.json` (with `qc`, its `bits_per_value` filled in)
/// and `model.safetensors` with packed codes. Every linear named in `qc.layers` must hold a
/// coded weight, and every coded linear must be named there.
///
/// # Errors
/// [`NnError::Coded`] when `qc` and the model disagree; the errors of writing the directory.
pub fn save_compressed_dir(
    model: &Llama,
    cfg: &LlamaConfig,
    qc: &QuantizationConfig,
    dir: &Path,
    opts: &SaveOptions,
) -> Result<QuantizationConfig, NnError> {
    let mut tensors = state_dict(model)?;
    let mut qc = qc.clone();
    let (mut bits, mut weights) = (0f64, 0f64);
    for l in model.linears() {
        let listed = qc.layers.contains_key(&l.name);
        let WeightRepr::Coded(c) = &l.weight else {
            if listed {
                return Err(NnError::Coded(format!(
                    "{} is listed in quantization_config but holds a latent weight",
                    l.name
                )));
            }
            continue;
        };
        if !listed {
            return Err(NnError::Coded(format!(
                "{} holds a coded weight but quantization_config does not list it",
                l.name
            )));
        }
        let [rows, cols] = c.dims();
        weights += (rows * cols) as f64;
        bits += pack_layer(&mut tensors, &l.name, c)?;
    }
    qc.bits_per_value = if weights > 0.0 { bits / weights } else { 0.0 };
    // `cfg`'s compression policy still describes the linears that stay latent (a QAT source's
    // fake quantization); the coded ones are rebuilt from quantization_config on load.
    let extra = serde_json::to_value(&qc).map_err(|e| NnError::Coded(e.to_string()))?;
    save_tensors_dir(
        &tensors,
        cfg,
        dir,
        opts,
        Some(("quantization_config", extra)),
    )?;
    Ok(qc)
}

fn take(tensors: &mut BTreeMap<String, HostTensor>, key: &str) -> Result<HostTensor, NnError> {
    tensors
        .remove(key)
        .ok_or_else(|| NnError::Coded(format!("{key} is missing from the state dict")))
}

/// Replaces `name.weight_codes` by `name.weight_packed` and narrows E4M3 scales; returns the
/// layer's stored bits (as [`QuantizationConfig::bits_per_value`] counts them).
fn pack_layer(
    tensors: &mut BTreeMap<String, HostTensor>,
    name: &str,
    c: &CodedWeight,
) -> Result<f64, NnError> {
    let scale_key = format!("{name}.weight_scale");
    let len = |k: &str, t: &BTreeMap<String, HostTensor>| t.get(k).map_or(0, HostTensor::len);
    match c {
        CodedWeight::Scalar(s) => {
            let codes = take(tensors, &format!("{name}.weight_codes"))?;
            let [rows, cols] = [codes.shape[0], codes.shape[1]];
            let HostData::U8(v) = &codes.data else {
                return Err(NnError::Coded(format!("{name}: codes are not bytes")));
            };
            let packed: Vec<u8> = v
                .chunks(cols.max(1))
                .flat_map(|row| pack_bits(row, s.bits))
                .collect();
            let per_row = packed.len() / rows.max(1);
            tensors.insert(
                format!("{name}.weight_packed"),
                HostTensor {
                    shape: vec![rows, per_row],
                    data: HostData::U8(packed),
                },
            );
            let scale_bits = narrow_e4m3(tensors, &scale_key);
            let tables = s.weight_levels.val().dims()[0];
            let selector_bits = if tables > 1 {
                (tables as f64).log2().ceil()
            } else {
                0.0
            };
            let blocks = len(&scale_key, tensors) as f64;
            Ok((rows * cols) as f64 * f64::from(s.bits)
                + blocks * (scale_bits + selector_bits)
                + 32.0 * len(&format!("{name}.weight_zero_point"), tensors) as f64
                + 32.0 * len(&format!("{name}.weight_global_scale"), tensors) as f64
                + len(&format!("{name}.weight_mask"), tensors) as f64)
        }
        CodedWeight::Vq(v) => {
            let [rows, groups, m] = v.weight_codes.val().dims();
            let entries = v.weight_codebooks.val().dims()[1];
            let code_bits = (entries as f64).log2().ceil();
            Ok((rows * groups * m) as f64 * code_bits
                + 32.0 * len(&format!("{name}.weight_codebooks"), tensors) as f64
                + 32.0 * len(&scale_key, tensors) as f64)
        }
    }
}

/// Stores `key` as F8_E4M3 when every value is exactly an E4M3 value (returns 8), else keeps
/// F32 (returns 32).
fn narrow_e4m3(tensors: &mut BTreeMap<String, HostTensor>, key: &str) -> f64 {
    let Some(t) = tensors.get_mut(key) else {
        return 32.0;
    };
    let Some(v) = t.as_f32() else { return 32.0 };
    let bytes: Option<Vec<u8>> = v
        .iter()
        .map(|&x| {
            let b = f32_to_e4m3(x);
            (e4m3_to_f32(b).to_bits() == x.to_bits()).then_some(b)
        })
        .collect();
    match bytes {
        Some(b) => {
            t.data = HostData::F8E4m3(b);
            8.0
        }
        None => 32.0,
    }
}

/// The registry `qc`'s formats resolve through: the built-ins and the grids it carries.
///
/// # Errors
/// [`NnError::Format`] for an invalid carried grid.
pub fn quant_registry(qc: &QuantizationConfig) -> Result<GridRegistry, NnError> {
    let mut reg = GridRegistry::builtin();
    for g in &qc.grids {
        reg = reg.with_text(g.clone())?;
    }
    Ok(reg)
}

/// A coded linear of `spec`'s shape to load stored codes into (its values are placeholders).
fn coded_placeholder(
    l: CompressedLinear,
    spec: &CodedLayer,
    reg: &GridRegistry,
    device: &Device,
) -> Result<CompressedLinear, NnError> {
    let [rows, cols] = l.weight.dims();
    let name = l.name.clone();
    let key = |k: &'static str, e: String| NnError::UnsupportedConfig {
        field: format!("quantization_config.layers.{name}.{k}"),
        message: e,
    };
    let input = spec
        .input
        .as_deref()
        .map(|n| Format::parse_with(n, reg))
        .transpose()
        .map_err(|e| key("input", e.to_string()))?;
    let b = spec.hadamard_block;
    if b != 0 && (!b.is_power_of_two() || cols % b != 0) {
        return Err(key(
            "hadamard_block",
            format!("{b} must be 0 or a power of two dividing d_input {cols}"),
        ));
    }
    let mut layer = if spec.weight.starts_with("vq:") {
        let vq = VqSpec::parse(&spec.weight).map_err(|e| key("weight", e.to_string()))?;
        if cols % vq.group != 0 {
            return Err(key(
                "weight",
                format!("group {} does not divide d_input {cols}", vq.group),
            ));
        }
        let (m, e, g) = (vq.num_codebooks, vq.codebook_size(), vq.group);
        let codes = VqCodes::new(
            vec![0; rows * (cols / g) * m],
            vec![0.0; m * e * g],
            vec![1.0; rows],
            [rows, cols, m, e, g],
            device,
        )?;
        CompressedLinear {
            weight: WeightRepr::Coded(CodedWeight::Vq(codes)),
            input_format: input,
            ..l
        }
    } else {
        let f = Format::parse_with(&spec.weight, reg).map_err(|e| key("weight", e.to_string()))?;
        let formats = LinearFormats {
            weight: Some(f),
            input,
        };
        CompressedLinearConfig::new(cols, rows)
            .with_name(name.clone())
            .with_representation(WeightKind::Coded)
            .init_with(formats, device)
            .map_err(|e| key("weight", e.to_string()))?
    };
    layer.hadamard_block = b;
    Ok(layer)
}

/// Rebuilds the coded linears `qc` lists (as placeholders of the right shapes) and unpacks the
/// stored codes in `tensors`, so that loading `tensors` into the result restores the model.
///
/// # Errors
/// [`NnError::UnsupportedConfig`] naming the `quantization_config` key of a layer that does not
/// exist or does not resolve; [`NnError::Checkpoint`]-like [`NnError::StateDict`] errors for
/// packed codes of the wrong size.
pub fn apply_quantization_config(
    model: Llama,
    qc: &QuantizationConfig,
    tensors: &mut BTreeMap<String, HostTensor>,
    device: &Device,
) -> Result<Llama, NnError> {
    let reg = quant_registry(qc)?;
    let names: Vec<String> = model.linears().iter().map(|l| l.name.clone()).collect();
    if let Some(n) = qc.layers.keys().find(|n| !names.contains(n)) {
        return Err(NnError::UnsupportedConfig {
            field: format!("quantization_config.layers.{n}"),
            message: "the model has no such linear".into(),
        });
    }
    let model = model.map_linears(|name, l| match qc.layers.get(name) {
        Some(spec) => coded_placeholder(l, spec, &reg, device),
        None => Ok(l),
    })?;
    for l in model.linears() {
        if let WeightRepr::Coded(CodedWeight::Scalar(s)) = &l.weight
            && let Some(p) = tensors.remove(&format!("{}.weight_packed", l.name))
        {
            // An absent weight_packed is reported as a missing weight_codes by the load.
            let [rows, cols] = s.weight_codes.val().dims();
            let codes = unpack_codes(&l.name, p, rows, cols, s.bits)?;
            tensors.insert(format!("{}.weight_codes", l.name), codes);
        }
    }
    Ok(model)
}

/// A linear's parameters named as in the model's state dict (`{layer.name}.weight_codes`, …;
/// codes unpacked): what a resumable compression run saves per finished layer.
///
/// # Errors
/// As [`state_dict`].
pub fn linear_tensors(l: &CompressedLinear) -> Result<BTreeMap<String, HostTensor>, NnError> {
    // A bare module's paths are named as under `model.` (see `names::hf_name`).
    Ok(state_dict(l)?
        .into_iter()
        .map(|(k, t)| {
            let rel = k.strip_prefix("model.").unwrap_or(&k).to_string();
            (format!("{}.{rel}", l.name), t)
        })
        .collect())
}

/// Restores coded linear `l` (`spec`'s format) from `tensors` as [`linear_tensors`] names them
/// (codes packed or unpacked); tensors of other layers are ignored.
///
/// # Errors
/// As [`apply_quantization_config`] and [`super::state::load_state_dict`] for this layer.
pub fn load_coded_linear(
    l: CompressedLinear,
    spec: &CodedLayer,
    reg: &GridRegistry,
    tensors: &BTreeMap<String, HostTensor>,
    device: &Device,
) -> Result<CompressedLinear, NnError> {
    let name = l.name.clone();
    let layer = coded_placeholder(l, spec, reg, device)?;
    let prefix = format!("{name}.");
    let mut own: BTreeMap<String, HostTensor> = tensors
        .iter()
        .filter_map(|(k, t)| {
            k.strip_prefix(&prefix)
                .map(|r| (format!("model.{r}"), t.clone()))
        })
        .collect();
    if let (Some(p), WeightRepr::Coded(CodedWeight::Scalar(s))) =
        (own.remove("model.weight_packed"), &layer.weight)
    {
        let [rows, cols] = s.weight_codes.val().dims();
        own.insert(
            "model.weight_codes".into(),
            unpack_codes(&name, p, rows, cols, s.bits)?,
        );
    }
    super::state::load_state_dict(layer, &own)
}

/// The unpacked `[rows, cols]` codes of a stored `weight_packed` tensor.
fn unpack_codes(
    name: &str,
    p: HostTensor,
    rows: usize,
    cols: usize,
    bits: u32,
) -> Result<HostTensor, NnError> {
    let key = format!("{name}.weight_packed");
    let bad = |m: String| NnError::StateDict(format!("{key}: {m}"));
    let HostData::U8(bytes) = &p.data else {
        return Err(bad(format!(
            "stored as {}, expected U8",
            p.data.dtype_name()
        )));
    };
    let per_row = bytes.len() / rows.max(1);
    if p.shape != [rows, per_row] || per_row * rows != bytes.len() {
        return Err(bad(format!(
            "shape {:?} for a [{rows}, {cols}] weight",
            p.shape
        )));
    }
    let mut codes = Vec::with_capacity(rows * cols);
    for row in bytes.chunks(per_row.max(1)) {
        codes.extend(unpack_bits(row, bits, cols).map_err(|e| bad(e.to_string()))?);
    }
    Ok(HostTensor {
        shape: vec![rows, cols],
        data: HostData::U8(codes),
    })
}

#[cfg(test)]
#[path = "compressed_tests.rs"]
mod tests;
