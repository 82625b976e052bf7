//! The model's parameters as HF-named host tensors (f32, row-major), and loading them back.
//!
//! This is the one place that walks the model by name; checkpoints, HF export/import and the
//! optimizer state all key tensors by these names, never by Burn's random `ParamId`s.

use super::names::PathStack;
use crate::NnError;
use crate::llama::Llama;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};
use std::collections::BTreeMap;

/// A host copy of one tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub values: Vec<f32>,
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
                    .insert(self.path.hf_name(), HostTensor { shape, values });
            }
            Err(e) => {
                self.err.get_or_insert(NnError::Config(format!(
                    "cannot read tensor {}: {e:?}",
                    self.path.hf_name()
                )));
            }
        }
    }
}

/// Every parameter of `model` by HF name (`model.layers.0.mlp.up_proj.weight`, …).
///
/// A tied model has no `lm_head.weight` entry, as in `transformers`.
pub fn state_dict(model: &Llama) -> Result<BTreeMap<String, HostTensor>, NnError> {
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
        let Some(src) = self.tensors.get(&name) else {
            self.missing.push(name);
            return param;
        };
        let want = param.val().dims().to_vec();
        if src.shape != want || src.values.len() != want.iter().product::<usize>() {
            self.mismatched
                .push(format!("{name} (file {:?}, model {want:?})", src.shape));
            return param;
        }
        self.used.push(name);
        param.map(|t| {
            let device = t.device();
            let data = TensorData::new(src.values.clone(), src.shape.clone());
            let fresh = Tensor::<D>::from_data(data, &device);
            if t.is_require_grad() {
                fresh.require_grad()
            } else {
                fresh
            }
        })
    }
}

/// Replaces every parameter of `model` with the tensor of the same HF name.
///
/// # Errors
/// [`NnError::Config`] naming every missing tensor, every tensor of the wrong shape and every
/// tensor in `tensors` that the model does not have.
pub fn load_state_dict(
    model: Llama,
    tensors: &BTreeMap<String, HostTensor>,
) -> Result<Llama, NnError> {
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
    Err(NnError::Config(msg.join("; ")))
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
