//! GGUF metadata values ([`GgufValue`]) and how they are laid out in the file.
//!
//! Layout (gguf.md in ggml's docs; `gguf_type` in ggml/include/gguf.h): a u32 type tag, then
//! the value: fixed-size little-endian scalars, a string as u64 length + UTF-8 bytes, an array
//! as u32 element type + u64 count + the elements (without per-element tags; elements may
//! themselves be arrays).

use crate::GgufError;
use crate::cursor::Cursor;
use std::fmt;

/// Deepest array nesting accepted; real files nest at most once, so anything deep is corrupt
/// (and unbounded recursion would let a file overflow the stack).
const MAX_DEPTH: usize = 8;

/// The type tag of a metadata value (`enum gguf_type`).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgufValueType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    Bool,
    String,
    Array,
    U64,
    I64,
    F64,
}

impl GgufValueType {
    /// The type with tag `tag`, if GGUF defines one.
    pub fn from_tag(tag: u32) -> Option<Self> {
        use GgufValueType::*;
        Some(match tag {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => String,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }

    /// Fewest bytes one value of this type takes in the file (a string or array: its header).
    pub(crate) fn min_size(self) -> u64 {
        use GgufValueType::*;
        match self {
            U8 | I8 | Bool => 1,
            U16 | I16 => 2,
            U32 | I32 | F32 => 4,
            U64 | I64 | F64 | String => 8,
            Array => 12,
        }
    }

    /// A lower-case name for messages (`"u32"`, `"string"`, `"array"` ...).
    pub fn name(self) -> &'static str {
        use GgufValueType::*;
        match self {
            U8 => "u8",
            I8 => "i8",
            U16 => "u16",
            I16 => "i16",
            U32 => "u32",
            I32 => "i32",
            F32 => "f32",
            Bool => "bool",
            String => "string",
            Array => "array",
            U64 => "u64",
            I64 => "i64",
            F64 => "f64",
        }
    }
}

/// One metadata value.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    /// Element type and elements (all of that type).
    Array(GgufValueType, Vec<GgufValue>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl GgufValue {
    /// The value's type tag.
    pub fn value_type(&self) -> GgufValueType {
        use GgufValueType as T;
        match self {
            GgufValue::U8(_) => T::U8,
            GgufValue::I8(_) => T::I8,
            GgufValue::U16(_) => T::U16,
            GgufValue::I16(_) => T::I16,
            GgufValue::U32(_) => T::U32,
            GgufValue::I32(_) => T::I32,
            GgufValue::F32(_) => T::F32,
            GgufValue::Bool(_) => T::Bool,
            GgufValue::String(_) => T::String,
            GgufValue::Array(..) => T::Array,
            GgufValue::U64(_) => T::U64,
            GgufValue::I64(_) => T::I64,
            GgufValue::F64(_) => T::F64,
        }
    }

    /// Any integer value as i128 (so every GGUF integer fits), else `None`.
    pub fn as_integer(&self) -> Option<i128> {
        Some(match *self {
            GgufValue::U8(v) => v.into(),
            GgufValue::I8(v) => v.into(),
            GgufValue::U16(v) => v.into(),
            GgufValue::I16(v) => v.into(),
            GgufValue::U32(v) => v.into(),
            GgufValue::I32(v) => v.into(),
            GgufValue::U64(v) => v.into(),
            GgufValue::I64(v) => v.into(),
            _ => return None,
        })
    }

    /// A float value as f64 (f32 widened exactly), else `None`.
    pub fn as_float(&self) -> Option<f64> {
        match *self {
            GgufValue::F32(v) => Some(v.into()),
            GgufValue::F64(v) => Some(v),
            _ => None,
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            GgufValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[GgufValue]> {
        match self {
            GgufValue::Array(_, items) => Some(items),
            _ => None,
        }
    }

    /// A short description of the type for messages (`"array of string"`).
    pub fn describe(&self) -> String {
        match self {
            GgufValue::Array(t, _) => format!("array of {}", t.name()),
            v => v.value_type().name().to_string(),
        }
    }

    /// Reads one value of type `ty` (the tag already read). `what` names it in errors.
    pub(crate) fn read(
        c: &mut Cursor<'_>,
        ty: GgufValueType,
        what: &str,
        depth: usize,
    ) -> Result<GgufValue, GgufError> {
        use GgufValueType as T;
        Ok(match ty {
            T::U8 => GgufValue::U8(c.u8(what)?),
            T::I8 => GgufValue::I8(c.u8(what)? as i8),
            T::U16 => GgufValue::U16(c.u16(what)?),
            T::I16 => GgufValue::I16(c.u16(what)? as i16),
            T::U32 => GgufValue::U32(c.u32(what)?),
            T::I32 => GgufValue::I32(c.u32(what)? as i32),
            T::F32 => GgufValue::F32(f32::from_bits(c.u32(what)?)),
            T::U64 => GgufValue::U64(c.u64(what)?),
            T::I64 => GgufValue::I64(c.u64(what)? as i64),
            T::F64 => GgufValue::F64(f64::from_bits(c.u64(what)?)),
            T::Bool => match c.u8(what)? {
                0 => GgufValue::Bool(false),
                1 => GgufValue::Bool(true),
                b => return Err(c.invalid(what, format!("bool byte is {b}, not 0 or 1"))),
            },
            T::String => GgufValue::String(c.string(what)?),
            T::Array => {
                if depth >= MAX_DEPTH {
                    return Err(c.invalid(what, format!("arrays nested deeper than {MAX_DEPTH}")));
                }
                let tag = c.u32(what)?;
                let elem = GgufValueType::from_tag(tag)
                    .ok_or_else(|| c.invalid(what, format!("unknown array element type {tag}")))?;
                let count = c.u64(what)?;
                // Every element takes at least `min_size` bytes, so a count whose elements cannot
                // fit in the bytes left is corrupt; checking it first bounds the allocation by
                // the file size.
                let needed = count.saturating_mul(elem.min_size());
                if needed > c.remaining() as u64 {
                    return Err(c.truncated(what, needed));
                }
                let mut items = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    items.push(GgufValue::read(c, elem, what, depth + 1)?);
                }
                GgufValue::Array(elem, items)
            }
        })
    }
}

impl fmt::Display for GgufValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GgufValue::String(s) => write!(f, "{s:?}"),
            GgufValue::Array(t, items) => write!(f, "[{} x {}]", items.len(), t.name()),
            GgufValue::Bool(b) => write!(f, "{b}"),
            GgufValue::F32(v) => write!(f, "{v}"),
            GgufValue::F64(v) => write!(f, "{v}"),
            v => match v.as_integer() {
                Some(i) => write!(f, "{i}"),
                None => write!(f, "?"),
            },
        }
    }
}
