//! Safetensors files of mixed dtypes, written atomically: a temporary file in the target's
//! directory, `fsync`, `rename` over the target, then `fsync` of the directory — so a crash
//! leaves the old file or the new one, never a torn one (burn-pack's `AtomicFile::commit`
//! pattern, ecosystem-and-reliability.md B.1).

use crate::error::ExportError;
use crate::tensor::{CtDtype, CtTensor};
use safetensors::tensor::{SafeTensors, TensorView};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

fn io(path: &Path) -> impl Fn(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The safetensors bytes of `tensors` (sorted by name, as safetensors requires for a stable
/// header) with optional `__metadata__`.
///
/// # Errors
/// [`ExportError::Safetensors`] if a tensor's bytes do not match its shape and dtype, or two
/// tensors share a name.
pub fn safetensors_bytes(
    tensors: &[(String, CtTensor)],
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>, ExportError> {
    let mut views = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        views.push((
            name.as_str(),
            TensorView::new(t.dtype.safetensors(), t.shape.clone(), &t.data)?,
        ));
    }
    let mut names: Vec<&str> = views.iter().map(|(n, _)| *n).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(ExportError::BadTensor {
            module: String::new(),
            tensor: w[0].into(),
            reason: "name given twice".into(),
        });
    }
    Ok(safetensors::serialize(views, metadata)?)
}

/// Writes `tensors` to `path` atomically (see the module docs). An existing file is replaced only
/// once the new one is complete and synced.
///
/// # Errors
/// [`ExportError::Io`] for a filesystem failure (the temporary file is removed),
/// [`ExportError::Safetensors`] for inconsistent tensors (nothing is written).
pub fn write_safetensors_atomic(
    path: &Path,
    tensors: &[(String, CtTensor)],
    metadata: Option<HashMap<String, String>>,
) -> Result<(), ExportError> {
    let bytes = safetensors_bytes(tensors, metadata)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export.safetensors".into());
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(&bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        fs::rename(&tmp, path).map_err(io(path))?;
        // The rename is durable only once the directory entry is.
        File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Reads every tensor of a safetensors file whose dtype is one compressed-tensors uses.
///
/// # Errors
/// [`ExportError::Io`], [`ExportError::Safetensors`], or [`ExportError::BadTensor`] for a
/// tensor of another dtype.
pub fn read_safetensors(path: &Path) -> Result<Vec<(String, CtTensor)>, ExportError> {
    let bytes = fs::read(path).map_err(io(path))?;
    let st = SafeTensors::deserialize(&bytes)?;
    let mut out = Vec::new();
    for (name, view) in st.iter() {
        let dtype =
            CtDtype::from_safetensors(view.dtype()).ok_or_else(|| ExportError::BadTensor {
                module: String::new(),
                tensor: name.into(),
                reason: format!("dtype {:?} is not one of the export's", view.dtype()),
            })?;
        out.push((
            name.to_string(),
            CtTensor::bytes(dtype, view.shape().to_vec(), view.data().to_vec()),
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_dtypes_round_trip_and_replace_atomically() -> Result<(), ExportError> {
        let dir = tempfile::tempdir().map_err(io(Path::new("tmp")))?;
        let path = dir.path().join("m.safetensors");
        let tensors = vec![
            (
                "a.weight_packed".to_string(),
                CtTensor::bytes(CtDtype::U8, vec![1, 2], vec![1, 2]),
            ),
            (
                "a.weight_scale".to_string(),
                CtTensor::bytes(CtDtype::F8E4M3, vec![1], vec![0x38]),
            ),
            (
                "b.weight_packed".to_string(),
                CtTensor::i32s(vec![1, 1], &[-1]),
            ),
            (
                "b.weight_shape".to_string(),
                CtTensor::i64s(vec![2], &[1, 8]),
            ),
            ("c.g".to_string(), CtTensor::f32s(vec![1], &[0.5])),
            (
                "d.s".to_string(),
                CtTensor::bytes(CtDtype::Bf16, vec![1], vec![0x80, 0x3f]),
            ),
        ];
        write_safetensors_atomic(&path, &tensors[..2], None)?;
        let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
        write_safetensors_atomic(&path, &tensors, Some(meta))?;
        assert_eq!(read_safetensors(&path)?, tensors);
        let leftovers = fs::read_dir(dir.path()).map_err(io(dir.path()))?.count();
        assert_eq!(leftovers, 1, "no temporary file may remain");
        // A malformed tensor writes nothing and keeps the old file.
        let broken = vec![(
            "x".to_string(),
            CtTensor::bytes(CtDtype::I32, vec![2], vec![0; 4]),
        )];
        assert!(write_safetensors_atomic(&path, &broken, None).is_err());
        assert_eq!(read_safetensors(&path)?, tensors);
        Ok(())
    }
}
