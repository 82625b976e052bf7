//! safetensors files of HF-named tensors: reading F32/F16/BF16/F64 as f32 and U8/I8/I16/I32/
//! F8_E4M3 in their own element type (one file or a sharded checkpoint with
//! `model.safetensors.index.json`, as `transformers`' `save_pretrained` writes them), and writing
//! every tensor in its element type (floats as F32, or BF16 for export) atomically.
//!
//! Files are memory-mapped and converted tensor by tensor, so reading costs the mapping plus the
//! f32 copies. Writing goes to a hidden temporary file in the target directory that is renamed
//! over the target only once complete; on any error it is removed and the target is untouched.

use super::state::{HostData, HostTensor};
use crate::NnError;
use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Name of a single-file checkpoint inside an HF directory.
pub const MODEL_FILE: &str = "model.safetensors";
/// Name of the shard index of a sharded checkpoint.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

/// Element type of written tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreDtype {
    /// IEEE f32: lossless (the default).
    #[default]
    F32,
    /// bfloat16, rounded to nearest even: half the size, for export only.
    Bf16,
}

impl StoreDtype {
    /// The `torch_dtype` / `dtype` string of `config.json`.
    pub fn torch_name(self) -> &'static str {
        match self {
            StoreDtype::F32 => "float32",
            StoreDtype::Bf16 => "bfloat16",
        }
    }
}

fn bad(path: &Path, message: impl Into<String>) -> NnError {
    NnError::Checkpoint {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn io(path: &Path, source: std::io::Error) -> NnError {
    if source.kind() == std::io::ErrorKind::NotFound {
        return NnError::MissingFile {
            path: path.to_path_buf(),
            what: "safetensors weights".into(),
        };
    }
    NnError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Converts one stored tensor to a host tensor: floats to f32 (exact for every supported dtype
/// but F64), integers and E4M3 bytes kept as they are (I8 / I16 widened to I32).
fn to_host(path: &Path, name: &str, t: &TensorView<'_>) -> Result<HostTensor, NnError> {
    let d = t.data();
    let f32s = |v: Vec<f32>| HostData::F32(v);
    let data = match t.dtype() {
        Dtype::F32 => f32s(
            d.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ),
        Dtype::F16 => f32s(
            d.chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        ),
        Dtype::BF16 => f32s(
            d.chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        ),
        Dtype::F64 => f32s(
            d.chunks_exact(8)
                .map(|b| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    f64::from_le_bytes(a) as f32
                })
                .collect(),
        ),
        Dtype::U8 => HostData::U8(d.to_vec()),
        Dtype::F8_E4M3 => HostData::F8E4m3(d.to_vec()),
        Dtype::I8 => HostData::I32(d.iter().map(|&b| b as i8 as i32).collect()),
        Dtype::I16 => HostData::I32(
            d.chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]) as i32)
                .collect(),
        ),
        Dtype::I32 => HostData::I32(
            d.chunks_exact(4)
                .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ),
        other => {
            return Err(bad(
                path,
                format!(
                    "tensor `{name}` has dtype {other:?}; supported: F32, F16, BF16, F64, U8, I8, \
                     I16, I32, F8_E4M3"
                ),
            ));
        }
    };
    Ok(HostTensor {
        shape: t.shape().to_vec(),
        data,
    })
}

/// Reads every tensor of one safetensors file as f32.
///
/// # Errors
/// [`NnError::MissingFile`] if `path` does not exist, [`NnError::Checkpoint`] for a malformed
/// file or an unsupported dtype (the message names the tensor).
pub fn read_safetensors(path: &Path) -> Result<BTreeMap<String, HostTensor>, NnError> {
    let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    // SAFETY: read-only mapping; lowbit never writes a file it has mapped (writes go to a
    // temporary file that is renamed, which leaves this mapping's inode untouched).
    let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| io(path, e))?;
    let st = SafeTensors::deserialize(&mmap)
        .map_err(|e| bad(path, format!("not a valid safetensors file: {e}")))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.iter() {
        out.insert(name.to_string(), to_host(path, name, &view)?);
    }
    Ok(out)
}

/// Reads the weights of an HF directory: `model.safetensors`, or the shards listed in
/// `model.safetensors.index.json` (`{"weight_map": {tensor: shard file}}`).
///
/// # Errors
/// As [`read_safetensors`]; a directory with neither file gives [`NnError::MissingFile`] naming
/// `model.safetensors`; a tensor in two shards or absent from the shard the index names gives
/// [`NnError::Checkpoint`].
pub fn read_checkpoint(dir: &Path) -> Result<BTreeMap<String, HostTensor>, NnError> {
    let single = dir.join(MODEL_FILE);
    let index = dir.join(INDEX_FILE);
    if single.is_file() || !index.is_file() {
        return read_safetensors(&single);
    }
    let text = std::fs::read_to_string(&index).map_err(|e| io(&index, e))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(&index, format!("not valid JSON: {e}")))?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| bad(&index, "no `weight_map` object"))?;
    let mut shards: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (tensor, shard) in map {
        let shard = shard
            .as_str()
            .ok_or_else(|| bad(&index, format!("weight_map[`{tensor}`] is not a file name")))?;
        // Shards live beside the index; refuse paths that would leave the directory.
        if shard.contains('/') || shard.contains('\\') || shard == ".." {
            return Err(bad(
                &index,
                format!("shard name `{shard}` is not a plain file name"),
            ));
        }
        shards
            .entry(shard.to_string())
            .or_default()
            .push(tensor.clone());
    }
    let mut out = BTreeMap::new();
    for (shard, wanted) in shards {
        let path = dir.join(&shard);
        let mut tensors = read_safetensors(&path)?;
        for name in wanted {
            let t = tensors.remove(&name).ok_or_else(|| {
                bad(
                    &path,
                    format!("tensor `{name}` listed in the index is not in this shard"),
                )
            })?;
            if out.insert(name.clone(), t).is_some() {
                return Err(bad(&index, format!("tensor `{name}` appears twice")));
            }
        }
    }
    Ok(out)
}

/// Byte encoding of one tensor: float data in `dtype`, every other type in its own.
fn encode(t: &HostTensor, dtype: StoreDtype) -> (Dtype, Vec<u8>) {
    match (&t.data, dtype) {
        (HostData::F32(v), StoreDtype::F32) => {
            (Dtype::F32, v.iter().flat_map(|x| x.to_le_bytes()).collect())
        }
        (HostData::F32(v), StoreDtype::Bf16) => (
            Dtype::BF16,
            v.iter()
                .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
                .collect(),
        ),
        (HostData::U8(v), _) => (Dtype::U8, v.clone()),
        (HostData::F8E4m3(v), _) => (Dtype::F8_E4M3, v.clone()),
        (HostData::I32(v), _) => (Dtype::I32, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
    }
}

/// The hidden temporary name used while writing `target`.
pub(crate) fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Writes `tensors` to `path` atomically (temporary file, fsync, rename) with the metadata
/// `{"format": "pt"}` that `transformers` expects.
///
/// # Errors
/// [`NnError::Checkpoint`] if a tensor's shape disagrees with its value count, [`NnError::Io`]
/// on a write failure (the target is then left as it was).
pub fn write_safetensors(
    path: &Path,
    tensors: &BTreeMap<String, HostTensor>,
    dtype: StoreDtype,
) -> Result<(), NnError> {
    type Encoded<'t> = (String, (Dtype, Vec<u8>), &'t HostTensor);
    let bytes: Vec<Encoded<'_>> = tensors
        .iter()
        .map(|(n, t)| (n.clone(), encode(t, dtype), t))
        .collect();
    let mut views = Vec::with_capacity(bytes.len());
    for (name, (st_dtype, data), t) in &bytes {
        let view = TensorView::new(*st_dtype, t.shape.clone(), data)
            .map_err(|e| bad(path, format!("tensor `{name}` shape {:?}: {e}", t.shape)))?;
        views.push((name.clone(), view));
    }
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    let tmp = temp_path(path);
    let result = safetensors::serialize_to_file(views, Some(meta), &tmp)
        .map_err(|e| bad(path, format!("cannot serialize: {e}")))
        .and_then(|()| sync_file(&tmp))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| io(path, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes `text` to `path` atomically (temporary file, fsync, rename).
pub(crate) fn write_text_atomic(path: &Path, text: &str) -> Result<(), NnError> {
    let tmp = temp_path(path);
    let result = std::fs::write(&tmp, text)
        .map_err(|e| io(&tmp, e))
        .and_then(|()| sync_file(&tmp))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| io(path, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn sync_file(path: &Path) -> Result<(), NnError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], f: impl Fn(usize) -> f32) -> HostTensor {
        let n = shape.iter().product();
        HostTensor::f32(shape.to_vec(), (0..n).map(f).collect())
    }

    #[test]
    fn f32_round_trip_is_exact_and_bf16_rounds() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.safetensors");
        let mut m = BTreeMap::new();
        m.insert(
            "x.weight".into(),
            t(&[3, 5], |i| (i as f32 * 0.37).sin() / 3.0),
        );
        m.insert("y".into(), t(&[7], |i| i as f32 - 3.3e-3));
        write_safetensors(&p, &m, StoreDtype::F32).unwrap();
        assert_eq!(read_safetensors(&p).unwrap(), m);
        write_safetensors(&p, &m, StoreDtype::Bf16).unwrap();
        let back = read_safetensors(&p).unwrap();
        for (k, v) in &m {
            let want: Vec<f32> = v
                .to_f32()
                .iter()
                .map(|&x| half::bf16::from_f32(x).to_f32())
                .collect();
            assert_eq!(back[k].to_f32(), want);
            assert_eq!(back[k].shape, v.shape);
        }
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn integer_and_e4m3_tensors_keep_their_dtype() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.safetensors");
        let mut m = BTreeMap::new();
        let u8s = |v: Vec<u8>| HostData::U8(v);
        m.insert(
            "l.weight_codes".to_string(),
            HostTensor {
                shape: vec![2, 3],
                data: u8s(vec![0, 1, 15, 7, 8, 255]),
            },
        );
        m.insert(
            "ids".to_string(),
            HostTensor {
                shape: vec![3],
                data: HostData::I32(vec![-5, 0, 1 << 30]),
            },
        );
        // 0x7E = 448 (E4M3's max), 0x38 = 1.0, 0x01 = 2^-9 (the smallest subnormal).
        m.insert(
            "l.weight_scale".to_string(),
            HostTensor {
                shape: vec![3],
                data: HostData::F8E4m3(vec![0x7E, 0x38, 0x01]),
            },
        );
        m.insert("f".to_string(), t(&[2], |i| i as f32 + 0.25));
        // BF16 applies to float tensors only; the others keep their type.
        write_safetensors(&p, &m, StoreDtype::Bf16).unwrap();
        let back = read_safetensors(&p).unwrap();
        for k in ["l.weight_codes", "ids", "l.weight_scale"] {
            assert_eq!(back[k], m[k], "{k}");
        }
        assert_eq!(
            back["l.weight_scale"].to_f32(),
            vec![448.0, 1.0, 2f32.powi(-9)]
        );
        // The file says so: safetensors' own header dtypes.
        let bytes = std::fs::read(&p).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(st.tensor("l.weight_codes").unwrap().dtype(), Dtype::U8);
        assert_eq!(st.tensor("ids").unwrap().dtype(), Dtype::I32);
        assert_eq!(st.tensor("l.weight_scale").unwrap().dtype(), Dtype::F8_E4M3);
        assert_eq!(st.tensor("f").unwrap().dtype(), Dtype::BF16);
    }

    #[test]
    fn sharded_checkpoints_and_errors_name_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = BTreeMap::new();
        a.insert("a".to_string(), t(&[2], |i| i as f32));
        let mut b = BTreeMap::new();
        b.insert("b".to_string(), t(&[1, 2], |i| -(i as f32)));
        write_safetensors(&dir.path().join("s1.safetensors"), &a, StoreDtype::F32).unwrap();
        write_safetensors(&dir.path().join("s2.safetensors"), &b, StoreDtype::F32).unwrap();
        let index =
            r#"{"metadata": {}, "weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}}"#;
        std::fs::write(dir.path().join(INDEX_FILE), index).unwrap();
        let all = read_checkpoint(dir.path()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all["b"], b["b"]);
        // An index naming a tensor its shard lacks.
        let index = r#"{"weight_map": {"a": "s1.safetensors", "c": "s2.safetensors"}}"#;
        std::fs::write(dir.path().join(INDEX_FILE), index).unwrap();
        let e = read_checkpoint(dir.path()).unwrap_err().to_string();
        assert!(e.contains("s2.safetensors") && e.contains("`c`"), "{e}");
        // No weights at all.
        let empty = tempfile::tempdir().unwrap();
        let e = read_checkpoint(empty.path()).unwrap_err().to_string();
        assert!(
            e.contains("model.safetensors") && e.contains("not found"),
            "{e}"
        );
        // Garbage.
        std::fs::write(empty.path().join(MODEL_FILE), b"not a safetensors file").unwrap();
        let e = read_checkpoint(empty.path()).unwrap_err().to_string();
        assert!(e.contains("not a valid safetensors"), "{e}");
    }
}
