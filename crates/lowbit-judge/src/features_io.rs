//! The feature file: safetensors with the hidden-state blocks (f32 `[rows, width]`), the labels
//! (`important` u8), the problem index and position of each row (i64), and metadata
//! (`format`, `d_draft`, `d_target`, the problem ids as JSON).

use crate::data::write_atomic;
use crate::error::JudgeError;
use crate::features::{BLOCKS, Features};
use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::path::Path;

const FORMAT: &str = "lowbit-judge-features-v1";

fn bad(path: &Path, msg: impl Into<String>) -> JudgeError {
    JudgeError::File {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

impl Features {
    /// Writes the feature file atomically.
    pub fn save(&self, path: &Path) -> Result<(), JudgeError> {
        let n = self.rows();
        let mut bytes: Vec<(String, Vec<u8>, Dtype, Vec<usize>)> = Vec::new();
        for b in BLOCKS {
            let v = self.blocks.get(b).cloned().unwrap_or_default();
            let w = v.len().checked_div(n).unwrap_or(0);
            let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            bytes.push((b.to_string(), raw, Dtype::F32, vec![n, w]));
        }
        let u8s = self.important.iter().map(|&i| u8::from(i)).collect();
        bytes.push(("important".into(), u8s, Dtype::U8, vec![n]));
        for (name, v) in [("group", &self.group), ("position", &self.position)] {
            let raw = v.iter().flat_map(|&x| (x as i64).to_le_bytes()).collect();
            bytes.push((name.into(), raw, Dtype::I64, vec![n]));
        }
        let mut views = Vec::new();
        for (name, raw, dt, shape) in &bytes {
            let view = TensorView::new(*dt, shape.clone(), raw)
                .map_err(|e| bad(path, format!("cannot build tensor {name}: {e}")))?;
            views.push((name.clone(), view));
        }
        let ids = serde_json::to_string(&self.problem_ids)
            .map_err(|e| JudgeError::Input(e.to_string()))?;
        let meta: HashMap<String, String> = [
            ("format".to_string(), FORMAT.to_string()),
            ("d_draft".to_string(), self.d_draft.to_string()),
            ("d_target".to_string(), self.d_target.to_string()),
            ("problem_ids".to_string(), ids),
        ]
        .into();
        let out = safetensors::serialize(views, Some(meta))
            .map_err(|e| bad(path, format!("cannot serialise: {e}")))?;
        write_atomic(path, &out)
    }

    /// Reads a feature file, checking every shape against the metadata.
    pub fn load(path: &Path) -> Result<Self, JudgeError> {
        let buf = std::fs::read(path).map_err(crate::error::io(path))?;
        let (_, header) = SafeTensors::read_metadata(&buf)
            .map_err(|e| bad(path, format!("not a safetensors file: {e}")))?;
        let st = SafeTensors::deserialize(&buf)
            .map_err(|e| bad(path, format!("not a safetensors file: {e}")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        if meta.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(bad(
                path,
                format!("metadata format is not {FORMAT}; write it with `lowbit judge features`"),
            ));
        }
        let num = |k: &str| -> Result<usize, JudgeError> {
            meta.get(k)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad(path, format!("metadata {k} is missing or not a number")))
        };
        let (d_draft, d_target) = (num("d_draft")?, num("d_target")?);
        let problem_ids: Vec<String> = meta
            .get("problem_ids")
            .and_then(|v| serde_json::from_str(v).ok())
            .ok_or_else(|| bad(path, "metadata problem_ids is missing or not a JSON list"))?;
        let tensor = |name: &str, dt: Dtype| {
            let t = st
                .tensor(name)
                .map_err(|_| bad(path, format!("tensor {name} is missing")))?;
            if t.dtype() != dt {
                return Err(bad(
                    path,
                    format!("tensor {name} is {:?}, expected {dt:?}", t.dtype()),
                ));
            }
            Ok((t.shape().to_vec(), t.data().to_vec()))
        };
        let (shape, raw) = tensor("important", Dtype::U8)?;
        let n = shape.first().copied().unwrap_or(0);
        let important: Vec<bool> = raw.iter().map(|&b| b != 0).collect();
        let mut f = Features::new(d_draft, d_target);
        for b in BLOCKS {
            let w = if b.starts_with("draft") {
                d_draft
            } else {
                d_target
            };
            let (shape, raw) = tensor(b, Dtype::F32)?;
            if shape != [n, w] {
                return Err(bad(
                    path,
                    format!("tensor {b} has shape {shape:?}, expected [{n}, {w}]"),
                ));
            }
            let v = raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            f.blocks.insert(b.to_string(), v);
        }
        let ints = |name: &str| -> Result<Vec<u64>, JudgeError> {
            let (shape, raw) = tensor(name, Dtype::I64)?;
            if shape != [n] {
                return Err(bad(
                    path,
                    format!("tensor {name} has shape {shape:?}, expected [{n}]"),
                ));
            }
            raw.chunks_exact(8)
                .map(|c| {
                    let v = i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
                    u64::try_from(v).map_err(|_| bad(path, format!("tensor {name} holds {v} < 0")))
                })
                .collect()
        };
        f.group = ints("group")?;
        f.position = ints("position")?;
        if let Some(&g) = f.group.iter().find(|&&g| g as usize >= problem_ids.len()) {
            return Err(bad(
                path,
                format!("group {g} has no problem id ({} ids)", problem_ids.len()),
            ));
        }
        f.important = important;
        f.problem_ids = problem_ids;
        Ok(f)
    }
}
