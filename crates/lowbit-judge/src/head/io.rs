//! A head on disk: `head.safetensors` (f64 `coef` [dim], `intercept` [1], `scaler.mean` [dim],
//! `scaler.scale` [dim]) and `head.json` (format, feature set, dim, C, validation AUC, the C
//! search and the threshold table). Both written atomically; loading checks every shape and
//! value against `head.json`.

use super::fit::{JudgeHead, ThresholdRow};
use super::logreg::LogReg;
use super::scaler::Scaler;
use crate::data::write_atomic;
use crate::error::{JudgeError, io};
use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};
use std::path::Path;

const FORMAT: &str = "lowbit-judge-head-v1";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    format: String,
    feature_set: String,
    dim: usize,
    c: f64,
    val_auc: f64,
    iterations: u64,
    c_search: Vec<(f64, f64)>,
    thresholds: Vec<ThresholdRow>,
}

fn bad(path: &Path, msg: impl Into<String>) -> JudgeError {
    JudgeError::File {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

impl JudgeHead {
    /// Writes `dir/head.safetensors` and `dir/head.json`.
    pub fn save(&self, dir: &Path) -> Result<(), JudgeError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let st = dir.join("head.safetensors");
        let tensors: [(&str, &[f64]); 4] = [
            ("coef", &self.model.coef),
            ("intercept", std::slice::from_ref(&self.model.intercept)),
            ("scaler.mean", &self.scaler.mean),
            ("scaler.scale", &self.scaler.scale),
        ];
        let raw: Vec<(String, Vec<u8>, usize)> = tensors
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                    v.len(),
                )
            })
            .collect();
        let mut views = Vec::new();
        for (n, b, len) in &raw {
            let v = TensorView::new(Dtype::F64, vec![*len], b)
                .map_err(|e| bad(&st, format!("cannot build {n}: {e}")))?;
            views.push((n.clone(), v));
        }
        let bytes = safetensors::serialize(views, None)
            .map_err(|e| bad(&st, format!("cannot serialise: {e}")))?;
        write_atomic(&st, &bytes)?;
        let meta = Meta {
            format: FORMAT.into(),
            feature_set: self.feature_set.clone(),
            dim: self.dim,
            c: self.c,
            val_auc: self.val_auc,
            iterations: self.model.iterations,
            c_search: self.c_search.clone(),
            thresholds: self.thresholds.clone(),
        };
        let json =
            serde_json::to_string_pretty(&meta).map_err(|e| JudgeError::Input(e.to_string()))?;
        write_atomic(&dir.join("head.json"), json.as_bytes())
    }

    /// Reads a head written by [`JudgeHead::save`].
    pub fn load(dir: &Path) -> Result<Self, JudgeError> {
        let jp = dir.join("head.json");
        let text = std::fs::read_to_string(&jp).map_err(io(&jp))?;
        let meta: Meta = serde_json::from_str(&text)
            .map_err(|e| bad(&jp, format!("not a judge head description: {e}")))?;
        if meta.format != FORMAT {
            return Err(bad(
                &jp,
                format!("format {:?} is not {FORMAT}", meta.format),
            ));
        }
        let sp = dir.join("head.safetensors");
        let buf = std::fs::read(&sp).map_err(io(&sp))?;
        let st = SafeTensors::deserialize(&buf)
            .map_err(|e| bad(&sp, format!("not a safetensors file: {e}")))?;
        let read = |name: &str, len: usize| -> Result<Vec<f64>, JudgeError> {
            let t = st
                .tensor(name)
                .map_err(|_| bad(&sp, format!("tensor {name} is missing")))?;
            if t.dtype() != Dtype::F64 || t.shape() != [len] {
                return Err(bad(
                    &sp,
                    format!(
                        "tensor {name} is {:?} {:?}, expected F64 [{len}] (head.json says dim {})",
                        t.dtype(),
                        t.shape(),
                        meta.dim
                    ),
                ));
            }
            let v: Vec<f64> = t
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect();
            if v.iter().any(|x| !x.is_finite()) {
                return Err(bad(&sp, format!("tensor {name} holds non-finite values")));
            }
            Ok(v)
        };
        let coef = read("coef", meta.dim)?;
        let intercept = read("intercept", 1)?[0];
        let mean = read("scaler.mean", meta.dim)?;
        let scale = read("scaler.scale", meta.dim)?;
        if scale.iter().any(|&s| s <= 0.0) {
            return Err(bad(&sp, "scaler.scale holds values <= 0"));
        }
        Ok(Self {
            scaler: Scaler { mean, scale },
            model: LogReg {
                coef,
                intercept,
                iterations: meta.iterations,
            },
            c: meta.c,
            feature_set: meta.feature_set,
            dim: meta.dim,
            thresholds: meta.thresholds,
            val_auc: meta.val_auc,
            c_search: meta.c_search,
        })
    }
}
