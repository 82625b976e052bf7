//! The model's parameters as HF-named host tensors, and loading them back.
//!
//! This is the one place that walks the model by name; checkpoints, HF export/import and the
//! optimizer state all key tensors by these names, never by Burn's random `ParamId`s. Tensors
//! keep their element type ([`HostData`]): float parameters are f32, the integer codes of a
//! coded weight ([`crate::weight::CodedWeight`]) are U8 or I32, and scales read from a compressed
//! checkpoint may be F8_E4M3 bytes; each is written to safetensors in its own dtype.

use super::names::PathStack;
use crate::NnError;
#[allow(unused_imports)] // doc link
use crate::llama::Llama;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Int, Tensor, TensorData};
use std::collections::BTreeMap;

/// Row-major values of a host tensor, in their element type.
#[derive(Debug, Clone, PartialEq)]
pub enum HostData {
    /// f32 values (also what F16 / BF16 / F64 files are read as: exact but for F64).
    F32(Vec<f32>),
    /// Unsigned bytes (codes of ≤ 8 bits, grid selectors, masks).
    U8(Vec<u8>),
    /// 32-bit integers (wider codes, token ids).
    I32(Vec<i32>),
    /// OCP FP8 E4M3 bit patterns (NVFP4 / compressed-tensors block scales).
    F8E4m3(Vec<u8>),
}

impl HostData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            HostData::F32(v) => v.len(),
            HostData::U8(v) | HostData::F8E4m3(v) => v.len(),
            HostData::I32(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The safetensors name of the element type.
    pub fn dtype_name(&self) -> &'static str {
        match self {
            HostData::F32(_) => "F32",
            HostData::U8(_) => "U8",
            HostData::I32(_) => "I32",
            HostData::F8E4m3(_) => "F8_E4M3",
        }
    }
}

/// A host copy of one tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: HostData,
}

impl HostTensor {
    /// An f32 tensor.
    pub fn f32(shape: Vec<usize>, values: Vec<f32>) -> Self {
        Self {
            shape,
            data: HostData::F32(values),
        }
    }

    /// The f32 values, if this is a float tensor.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            HostData::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The f32 values, mutably, if this is a float tensor.
    pub fn as_f32_mut(&mut self) -> Option<&mut Vec<f32>> {
        match &mut self.data {
            HostData::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The values as f32, converting exactly from every element type (E4M3 by its value,
    /// integers below 2^24 exactly).
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            HostData::F32(v) => v.clone(),
            HostData::U8(v) => v.iter().map(|&b| b as f32).collect(),
            HostData::I32(v) => v.iter().map(|&i| i as f32).collect(),
            HostData::F8E4m3(v) => v
                .iter()
                .map(|&b| lowbit_formats::elem::e4m3::e4m3_to_f32(b))
                .collect(),
        }
    }

    /// The values as integers, for an integer tensor (`None` for float data).
    pub fn to_i64(&self) -> Option<Vec<i64>> {
        match &self.data {
            HostData::U8(v) => Some(v.iter().map(|&b| b as i64).collect()),
            HostData::I32(v) => Some(v.iter().map(|&i| i as i64).collect()),
            _ => None,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// The stored element type of an integer parameter, by name: codes, selectors and masks of a
/// coded weight are bytes when they fit (codes of more than 8 bits are I32), anything else I32.
fn int_is_u8(name: &str) -> bool {
    ["_codes", "_table", "_mask"]
        .iter()
        .any(|s| name.ends_with(s))
}

struct Collect {
    path: PathStack,
    out: BTreeMap<String, HostTensor>,
    err: Option<NnError>,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        let shape = t.dims().to_vec();
        match t.into_data().convert::<f32>().try_into_vec::<f32>() {
            Ok(values) => {
                self.out
                    .insert(self.path.hf_name(), HostTensor::f32(shape, values));
            }
            Err(e) => {
                self.err.get_or_insert(NnError::TensorData {
                    what: self.path.hf_name(),
                    reason: format!("{e:?}"),
                });
            }
        }
    }
    fn visit_int<const D: usize>(&mut self, param: &Param<Tensor<D, Int>>) {
        let t = param.val();
        let shape = t.dims().to_vec();
        let name = self.path.hf_name();
        let values = match t.into_data().convert::<i32>().try_into_vec::<i32>() {
            Ok(v) => v,
            Err(e) => {
                self.err.get_or_insert(NnError::TensorData {
                    what: name,
                    reason: format!("{e:?}"),
                });
                return;
            }
        };
        let bytes: Option<Vec<u8>> = int_is_u8(&name)
            .then(|| values.iter().map(|&v| u8::try_from(v).ok()).collect())
            .flatten();
        let data = if let Some(b) = bytes {
            HostData::U8(b)
        } else if int_is_u8(&name) && !name.ends_with("_codes") {
            self.err.get_or_insert(NnError::TensorData {
                what: name,
                reason: "a selector or mask value is outside 0..=255".into(),
            });
            return;
        } else {
            // Codes of more than 8 bits (AQLM's 16-bit codebooks) are kept as I32.
            HostData::I32(values)
        };
        self.out.insert(name, HostTensor { shape, data });
    }
}

/// Every parameter of `model` by HF name (`model.layers.0.mlp.up_proj.weight`, …). Any module
/// works (names follow its field paths under the same rule); [`Llama`]'s are transformers'.
///
/// A tied model has no `lm_head.weight` entry, as in `transformers`.
pub fn state_dict<M: Module>(model: &M) -> Result<BTreeMap<String, HostTensor>, NnError> {
    let mut c = Collect {
        path: PathStack::default(),
        out: BTreeMap::new(),
        err: None,
    };
    model.visit(&mut c);
    match c.err {
        Some(e) => Err(e),
        None => Ok(c.out),
    }
}

struct Load<'a> {
    path: PathStack,
    tensors: &'a BTreeMap<String, HostTensor>,
    used: Vec<String>,
    missing: Vec<String>,
    mismatched: Vec<String>,
}

impl ModuleMapper for Load<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.exit();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let name = self.path.hf_name();
        // `lazy_shape` / `transform_for_load` leave a lazily initialised parameter unmaterialised:
        // a model built by `init` and then loaded never draws its random weights.
        let Some(src) = self.source(&name, param.lazy_shape().to_vec()) else {
            return param;
        };
        // Float parameters take any stored element type (E4M3 scales, integer levels) by value.
        let values = src.to_f32();
        let device = param.lazy_device();
        let fresh = Tensor::<D>::from_data(TensorData::new(values, src.shape.clone()), &device);
        let id = param.id;
        param.transform_for_load(fresh, id)
    }
    fn map_int<const D: usize>(&mut self, param: Param<Tensor<D, Int>>) -> Param<Tensor<D, Int>> {
        let name = self.path.hf_name();
        let Some(src) = self.source(&name, param.lazy_shape().to_vec()) else {
            return param;
        };
        let Some(values) = src.to_i64() else {
            self.used.pop();
            self.mismatched.push(format!(
                "{name} (stored as {}, the model holds integers)",
                src.data.dtype_name()
            ));
            return param;
        };
        let device = param.lazy_device();
        let fresh =
            Tensor::<D, Int>::from_data(TensorData::new(values, src.shape.clone()), &device);
        let id = param.id;
        param.transform_for_load(fresh, id)
    }
}

impl<'a> Load<'a> {
    /// The stored tensor for `name` if it exists with shape `want` (recording the outcome).
    fn source(&mut self, name: &str, want: Vec<usize>) -> Option<&'a HostTensor> {
        let tensors = self.tensors;
        let Some(src) = tensors.get(name) else {
            self.missing.push(name.to_string());
            return None;
        };
        if src.shape != want || src.len() != want.iter().product::<usize>() {
            self.mismatched
                .push(format!("{name} (file {:?}, model {want:?})", src.shape));
            return None;
        }
        self.used.push(name.to_string());
        Some(src)
    }
}

/// Replaces every parameter of `model` with the tensor of the same HF name.
///
/// # Errors
/// [`NnError::StateDict`] naming every missing tensor, every tensor of the wrong shape or type
/// and every tensor in `tensors` that the model does not have.
pub fn load_state_dict<M: Module>(
    model: M,
    tensors: &BTreeMap<String, HostTensor>,
) -> Result<M, NnError> {
    let mut l = Load {
        path: PathStack::default(),
        tensors,
        used: Vec::new(),
        missing: Vec::new(),
        mismatched: Vec::new(),
    };
    let model = model.map(&mut l);
    let unknown: Vec<&String> = tensors.keys().filter(|k| !l.used.contains(k)).collect();
    if l.missing.is_empty() && l.mismatched.is_empty() && unknown.is_empty() {
        return Ok(model);
    }
    let mut msg = Vec::new();
    if !l.missing.is_empty() {
        msg.push(format!("missing tensors: {}", l.missing.join(", ")));
    }
    if !l.mismatched.is_empty() {
        msg.push(format!("wrong shapes: {}", l.mismatched.join(", ")));
    }
    if !unknown.is_empty() {
        let u: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
        msg.push(format!("unknown tensors: {}", u.join(", ")));
    }
    Err(NnError::StateDict(msg.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llama::LlamaConfig;
    use burn::tensor::Device;

    fn cfg(tie: bool) -> LlamaConfig {
        LlamaConfig::new(97, 64, 2, 4, 2, 128)
            .with_max_seq_len(32)
            .with_tie_embeddings(tie)
    }

    #[test]
    fn names_shapes_and_round_trip() {
        let device = Device::flex();
        let a = cfg(false).init(&device).unwrap();
        let sd = state_dict(&a).unwrap();
        // 2 layers × (2 norms + 7 projections) + embed + norm + lm_head.
        assert_eq!(sd.len(), 2 * 9 + 3);
        assert_eq!(sd["model.embed_tokens.weight"].shape, vec![97, 64]);
        assert_eq!(
            sd["model.layers.1.self_attn.k_proj.weight"].shape,
            vec![32, 64]
        );
        assert_eq!(
            sd["model.layers.0.mlp.down_proj.weight"].shape,
            vec![64, 128]
        );
        assert_eq!(sd["model.norm.weight"].shape, vec![64]);
        assert_eq!(sd["lm_head.weight"].shape, vec![97, 64]);
        // Loading a's tensors into a differently initialised b makes b equal to a.
        let b = cfg(false).init(&device).unwrap();
        assert_ne!(state_dict(&b).unwrap(), sd);
        let b = load_state_dict(b, &sd).unwrap();
        assert_eq!(state_dict(&b).unwrap(), sd);
        // A model straight from `init` (parameters still lazy) loads to the same tensors.
        let c = load_state_dict(cfg(false).init(&device).unwrap(), &sd).unwrap();
        assert_eq!(state_dict(&c).unwrap(), sd);
    }

    #[test]
    fn tied_models_have_no_head_and_errors_name_tensors() {
        let device = Device::flex();
        let tied = cfg(true).init(&device).unwrap();
        let sd = state_dict(&tied).unwrap();
        assert!(!sd.contains_key("lm_head.weight"));
        // An untied model misses the head; a tied one rejects it as unknown.
        let e = load_state_dict(cfg(false).init(&device).unwrap(), &sd).unwrap_err();
        assert!(
            e.to_string().contains("missing tensors: lm_head.weight"),
            "{e}"
        );
        let full = state_dict(&cfg(false).init(&device).unwrap()).unwrap();
        let e = load_state_dict(tied, &full).unwrap_err();
        assert!(
            e.to_string().contains("unknown tensors: lm_head.weight"),
            "{e}"
        );
        let mut bad = full.clone();
        bad.get_mut("model.norm.weight").unwrap().shape = vec![32, 2];
        let e = load_state_dict(cfg(false).init(&device).unwrap(), &bad).unwrap_err();
        assert!(
            e.to_string().contains("wrong shapes: model.norm.weight"),
            "{e}"
        );
    }
}
