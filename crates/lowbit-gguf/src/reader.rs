//! [`GgufFile`]: the header, metadata and tensor infos of a GGUF file, and its tensor data.
//!
//! File layout (ggml docs/gguf.md, `gguf_init_from_file_impl` in ggml/src/gguf.cpp), all
//! little-endian: magic `GGUF`, u32 version, u64 tensor count, u64 metadata count (v2 and v3;
//! v1 had u32 counts), the metadata key/value pairs (string key, u32 type tag, value), the tensor
//! infos (string name, u32 n_dims, n_dims × u64 dims with `ne[0]` innermost, u32 ggml type, u64
//! offset relative to the data section), padding up to `general.alignment` (default 32), and the
//! data section. Big-endian GGUF files (which only differ in byte order) are not read.

use crate::cursor::Cursor;
use crate::dequant::dequantize;
use crate::value::{GgufValue, GgufValueType};
use crate::{GgmlType, GgufError};
use std::collections::BTreeMap;
use std::path::Path;

/// ggml's `GGML_MAX_DIMS`.
pub const MAX_DIMS: u32 = 4;
/// Alignment of the data section and of each tensor's data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// The metadata key that overrides [`DEFAULT_ALIGNMENT`].
pub const ALIGNMENT_KEY: &str = "general.alignment";

/// One tensor's entry in the tensor-info table.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// The tensor's name (`blk.0.attn_q.weight` ...).
    pub name: String,
    /// Dimensions as GGUF lists them: innermost first (`dims[0]` is the row length), so
    /// `[in, out]` is a row-major `[out, in]` matrix.
    pub dims: Vec<u64>,
    /// Storage type.
    pub ggml_type: GgmlType,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
    /// Number of elements (product of `dims`).
    pub n_elements: u64,
    /// Size of the data in bytes.
    pub n_bytes: u64,
}

impl TensorInfo {
    /// Dimensions outermost first (the row-major / PyTorch order): `dims` reversed.
    pub fn shape(&self) -> Vec<u64> {
        self.dims.iter().rev().copied().collect()
    }
}

/// Bytes of a GGUF file: a read-only memory map, or an owned buffer (parsed from memory).
enum Bytes {
    Map(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Map(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// An opened GGUF file.
pub struct GgufFile {
    bytes: Bytes,
    version: u32,
    metadata: BTreeMap<String, GgufValue>,
    tensors: Vec<TensorInfo>,
    alignment: u64,
    data_start: u64,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.version)
            .field("metadata_keys", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .field("alignment", &self.alignment)
            .field("data_start", &self.data_start)
            .finish()
    }
}

impl GgufFile {
    /// Memory-maps and parses the file at `path`.
    ///
    /// # Errors
    /// [`GgufError::Io`] if the file cannot be opened or mapped, and every parse error of
    /// [`GgufFile::from_bytes`].
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile, GgufError> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| GgufError::io(path, e))?;
        // SAFETY: the map is read-only and private to this value; like every reader of mapped
        // model files, we rely on nobody truncating or rewriting the file while it is open
        // (doing so is outside this crate's contract). All reads through the map are
        // bounds-checked against its length.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| GgufError::io(path, e))?;
        Self::parse(Bytes::Map(map))
    }

    /// Parses a GGUF file held in memory.
    ///
    /// # Errors
    /// [`GgufError::BadMagic`], [`GgufError::UnsupportedVersion`], [`GgufError::Truncated`],
    /// [`GgufError::Invalid`], [`GgufError::UnknownTensorType`] or
    /// [`GgufError::TensorOutOfBounds`].
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GgufFile, GgufError> {
        Self::parse(Bytes::Owned(bytes))
    }

    fn parse(bytes: Bytes) -> Result<GgufFile, GgufError> {
        let b = bytes.as_slice();
        let mut c = Cursor::new(b);
        let magic = c.take(4, "magic")?;
        if magic != b"GGUF" {
            let mut found = [0u8; 4];
            found.copy_from_slice(magic);
            return Err(GgufError::BadMagic { found });
        }
        let version = c.u32("version")?;
        if version != 2 && version != 3 {
            return Err(GgufError::UnsupportedVersion { version });
        }
        let n_tensors = c.u64("tensor count")?;
        let n_kv = c.u64("metadata count")?;
        // Counts are not trusted for allocation: a corrupt count fails at the first read past
        // the end (naming that entry), and capacities are bounded by the bytes left.
        let mut metadata = BTreeMap::new();
        for i in 0..n_kv {
            let key = c.string(&format!("key of metadata pair {i}"))?;
            let what = format!("value of metadata key {key:?}");
            let tag = c.u32(&what)?;
            let ty = GgufValueType::from_tag(tag)
                .ok_or_else(|| c.invalid(&what, format!("unknown value type {tag}")))?;
            let value = GgufValue::read(&mut c, ty, &what, 0)?;
            if metadata.insert(key.clone(), value).is_some() {
                return Err(c.invalid(&what, "duplicate key"));
            }
        }
        let alignment = match metadata.get(ALIGNMENT_KEY) {
            None => DEFAULT_ALIGNMENT,
            Some(GgufValue::U32(a)) if *a != 0 && a.is_power_of_two() => u64::from(*a),
            Some(v) => {
                return Err(GgufError::WrongType {
                    key: ALIGNMENT_KEY.to_string(),
                    expected: "a u32 power of two",
                    found: format!("{} {v}", v.describe()),
                });
            }
        };
        // A tensor info takes at least 24 bytes (name length, n_dims, one dim, type, offset).
        let mut tensors = Vec::with_capacity(n_tensors.min(c.remaining() as u64 / 24) as usize);
        for i in 0..n_tensors {
            tensors.push(read_tensor_info(&mut c, i, alignment)?);
        }
        c.align(alignment, "padding before the data section")?;
        let data_start = c.pos() as u64;
        let data_len = b.len() as u64 - data_start;
        for t in &tensors {
            let end = t.offset.checked_add(t.n_bytes);
            if end.is_none_or(|end| end > data_len) {
                return Err(GgufError::TensorOutOfBounds {
                    tensor: t.name.clone(),
                    offset: t.offset,
                    size: t.n_bytes,
                    data_len,
                });
            }
        }
        Ok(GgufFile {
            bytes,
            version,
            metadata,
            tensors,
            alignment,
            data_start,
        })
    }

    /// The GGUF version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Data alignment (`general.alignment`, default 32).
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Offset of the data section from the start of the file.
    pub fn data_start(&self) -> u64 {
        self.data_start
    }

    /// All metadata, by key.
    pub fn metadata(&self) -> &BTreeMap<String, GgufValue> {
        &self.metadata
    }

    /// The tensor infos, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor named `name`, if any.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The raw (still quantized) bytes of a tensor.
    ///
    /// # Errors
    /// [`GgufError::TensorOutOfBounds`] if `info` does not describe data inside this file (it
    /// always does for infos from [`GgufFile::tensors`]).
    pub fn tensor_bytes(&self, info: &TensorInfo) -> Result<&[u8], GgufError> {
        let b = self.bytes.as_slice();
        let oob = || GgufError::TensorOutOfBounds {
            tensor: info.name.clone(),
            offset: info.offset,
            size: info.n_bytes,
            data_len: b.len() as u64 - self.data_start.min(b.len() as u64),
        };
        let start = self.data_start.checked_add(info.offset).ok_or_else(oob)?;
        let end = start.checked_add(info.n_bytes).ok_or_else(oob)?;
        let (start, end) = (
            usize::try_from(start).map_err(|_| oob())?,
            usize::try_from(end).map_err(|_| oob())?,
        );
        b.get(start..end).ok_or_else(oob)
    }

    /// A tensor's values dequantized to f32, in GGUF element order (row-major over
    /// [`TensorInfo::shape`]).
    ///
    /// # Errors
    /// [`GgufError::UnsupportedTensorType`] for types [`GgmlType::can_dequantize`] rejects,
    /// [`GgufError::TensorOutOfBounds`] as for [`GgufFile::tensor_bytes`].
    pub fn tensor_f32(&self, info: &TensorInfo) -> Result<Vec<f32>, GgufError> {
        let bytes = self.tensor_bytes(info)?;
        let n = usize::try_from(info.n_elements)
            .map_err(|_| GgufError::tensor(&info.name, "too many elements for this platform"))?;
        dequantize(info.ggml_type, bytes, n).ok_or_else(|| GgufError::UnsupportedTensorType {
            tensor: info.name.clone(),
            type_name: info.ggml_type.name(),
        })
    }
}

fn read_tensor_info(
    c: &mut Cursor<'_>,
    index: u64,
    alignment: u64,
) -> Result<TensorInfo, GgufError> {
    let name = c.string(&format!("name of tensor info {index}"))?;
    let what = format!("tensor info of {name:?}");
    let n_dims = c.u32(&what)?;
    if n_dims == 0 || n_dims > MAX_DIMS {
        return Err(c.invalid(
            &what,
            format!("{n_dims} dimensions (ggml allows 1 to {MAX_DIMS})"),
        ));
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        dims.push(c.u64(&what)?);
    }
    let type_id = c.u32(&what)?;
    let ggml_type = GgmlType::from_id(type_id).ok_or_else(|| GgufError::UnknownTensorType {
        tensor: name.clone(),
        type_id,
    })?;
    let offset_at = c.pos();
    let offset = c.u64(&what)?;
    let n_elements = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| c.invalid(&what, format!("element count of dims {dims:?} overflows")))?;
    // ggml needs whole blocks in each row (ne[0]), not only in the whole tensor.
    let row = dims.first().copied().unwrap_or(1);
    if row % ggml_type.block_size() != 0 {
        return Err(c.invalid(
            &what,
            format!(
                "row length {row} is not a multiple of the {ggml_type} block size {}",
                ggml_type.block_size()
            ),
        ));
    }
    let n_bytes = ggml_type.bytes_for(n_elements).ok_or_else(|| {
        c.invalid(
            &what,
            format!("data size of {n_elements} {ggml_type} elements overflows"),
        )
    })?;
    if offset % alignment != 0 {
        return Err(GgufError::Invalid {
            what,
            offset: offset_at as u64,
            message: format!("data offset {offset} is not a multiple of the alignment {alignment}"),
        });
    }
    Ok(TensorInfo {
        name,
        dims,
        ggml_type,
        offset,
        n_elements,
        n_bytes,
    })
}
