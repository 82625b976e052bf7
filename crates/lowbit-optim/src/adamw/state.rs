//! AdamW's moments ↔ named host tensors (`optimizer.safetensors`: `NAME.exp_avg`,
//! `NAME.exp_avg_sq`, flattened), checked by name and size against the module's parameters.

use super::Moments;
use crate::OptimError;
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor, TensorData};
use lowbit_nn::hf::{HostTensor, PathStack};
use std::collections::BTreeMap;

const M_SUFFIX: &str = ".exp_avg";
const V_SUFFIX: &str = ".exp_avg_sq";

/// The moments as named host tensors.
pub(super) fn save(
    state: &BTreeMap<String, Moments>,
) -> Result<BTreeMap<String, HostTensor>, OptimError> {
    let host = |t: &Tensor<1>, name: &str| -> Result<HostTensor, OptimError> {
        let values = t
            .clone()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| OptimError::Readback {
                tensor: name.to_string(),
                message: format!("{e:?}"),
            })?;
        Ok(HostTensor::f32(vec![values.len()], values))
    };
    let mut out = BTreeMap::new();
    for (name, s) in state {
        let a = format!("{name}{M_SUFFIX}");
        let b = format!("{name}{V_SUFFIX}");
        out.insert(a.clone(), host(&s.m, &a)?);
        out.insert(b.clone(), host(&s.v, &b)?);
    }
    Ok(out)
}

/// Number of values of every float parameter of `module`, by HF name.
fn param_sizes<M: Module>(module: &M) -> BTreeMap<String, usize> {
    struct Sizes(PathStack, BTreeMap<String, usize>);
    impl ModuleVisitor for Sizes {
        fn enter_module(&mut self, name: &str, _c: &str) {
            self.0.enter(name);
        }
        fn exit_module(&mut self, _name: &str, _c: &str) {
            self.0.exit();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let n = param.val().dims().iter().product();
            self.1.insert(self.0.hf_name(), n);
        }
    }
    let mut v = Sizes(PathStack::default(), BTreeMap::new());
    module.visit(&mut v);
    v.1
}

/// Moments read from `tensors`, each checked against the parameter of `module` it names.
pub(super) fn load<M: Module>(
    module: &M,
    tensors: &BTreeMap<String, HostTensor>,
    device: &Device,
) -> Result<BTreeMap<String, Moments>, OptimError> {
    let sizes = param_sizes(module);
    let mut state = BTreeMap::new();
    for key in tensors.keys() {
        let Some(name) = key
            .strip_suffix(V_SUFFIX)
            .or_else(|| key.strip_suffix(M_SUFFIX))
        else {
            return Err(OptimError::UnexpectedState {
                tensor: key.clone(),
                reason: format!("AdamW writes only NAME{M_SUFFIX} and NAME{V_SUFFIX}"),
            });
        };
        let Some(&expected) = sizes.get(name) else {
            return Err(OptimError::UnexpectedState {
                tensor: key.clone(),
                reason: format!("the model has no parameter `{name}`"),
            });
        };
        if state.contains_key(name) {
            continue;
        }
        let pair = [M_SUFFIX, V_SUFFIX].map(|s| {
            let tensor = format!("{name}{s}");
            let h = tensors
                .get(&tensor)
                .ok_or_else(|| OptimError::MissingState {
                    param: name.to_string(),
                    tensor: tensor.clone(),
                })?;
            let values = h.as_f32().ok_or_else(|| OptimError::UnexpectedState {
                tensor: tensor.clone(),
                reason: format!("moments are F32, this tensor is {}", h.data.dtype_name()),
            })?;
            if values.len() != expected {
                return Err(OptimError::StateSize {
                    param: name.to_string(),
                    tensor,
                    expected,
                    found: values.len(),
                });
            }
            Ok(Tensor::<1>::from_data(
                TensorData::new(values.to_vec(), [expected]),
                device,
            ))
        });
        let [m, v] = pair;
        state.insert(name.to_string(), Moments { m: m?, v: v? });
    }
    Ok(state)
}
