//! [`CtTensor`]: one exported tensor (dtype, shape, little-endian bytes) and the dtype
//! conversions the layouts need.

use crate::error::ExportError;
use half::{bf16, f16};
use safetensors::Dtype;

/// Element type of an exported tensor (the safetensors dtypes compressed-tensors writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtDtype {
    /// Packed FP4 codes, E8M0 exponents.
    U8,
    /// `pack-quantized` words and zero points.
    I32,
    /// `weight_shape` (`torch.tensor(weight.shape)` is int64).
    I64,
    /// NVFP4 block scales.
    F8E4M3,
    /// Global scales, f32 INT scales.
    F32,
    /// INT scales of a bf16 model.
    Bf16,
    /// INT scales of an f16 model.
    F16,
}

impl CtDtype {
    /// The safetensors dtype.
    pub fn safetensors(&self) -> Dtype {
        match self {
            CtDtype::U8 => Dtype::U8,
            CtDtype::I32 => Dtype::I32,
            CtDtype::I64 => Dtype::I64,
            CtDtype::F8E4M3 => Dtype::F8_E4M3,
            CtDtype::F32 => Dtype::F32,
            CtDtype::Bf16 => Dtype::BF16,
            CtDtype::F16 => Dtype::F16,
        }
    }

    /// The dtype of a safetensors dtype, if it is one of ours.
    pub fn from_safetensors(d: Dtype) -> Option<Self> {
        Some(match d {
            Dtype::U8 => CtDtype::U8,
            Dtype::I32 => CtDtype::I32,
            Dtype::I64 => CtDtype::I64,
            Dtype::F8_E4M3 => CtDtype::F8E4M3,
            Dtype::F32 => CtDtype::F32,
            Dtype::BF16 => CtDtype::Bf16,
            Dtype::F16 => CtDtype::F16,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(&self) -> usize {
        match self {
            CtDtype::U8 | CtDtype::F8E4M3 => 1,
            CtDtype::Bf16 | CtDtype::F16 => 2,
            CtDtype::I32 | CtDtype::F32 => 4,
            CtDtype::I64 => 8,
        }
    }
}

/// One tensor of an export: dtype, shape and row-major little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct CtTensor {
    /// Element type.
    pub dtype: CtDtype,
    /// Shape.
    pub shape: Vec<usize>,
    /// `shape.product() · dtype.size()` bytes.
    pub data: Vec<u8>,
}

impl CtTensor {
    /// A tensor of raw bytes (U8 / F8_E4M3).
    pub fn bytes(dtype: CtDtype, shape: Vec<usize>, data: Vec<u8>) -> Self {
        Self { dtype, shape, data }
    }

    /// An I32 tensor.
    pub fn i32s(shape: Vec<usize>, v: &[i32]) -> Self {
        let data = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        Self::bytes(CtDtype::I32, shape, data)
    }

    /// An I64 tensor.
    pub fn i64s(shape: Vec<usize>, v: &[i64]) -> Self {
        let data = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        Self::bytes(CtDtype::I64, shape, data)
    }

    /// An F32 tensor.
    pub fn f32s(shape: Vec<usize>, v: &[f32]) -> Self {
        let data = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        Self::bytes(CtDtype::F32, shape, data)
    }

    /// Elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Checks dtype and byte length against the shape.
    pub fn check(&self, module: &str, name: &str, dtype: CtDtype) -> Result<(), ExportError> {
        let bad = |reason: String| ExportError::BadTensor {
            module: module.into(),
            tensor: name.into(),
            reason,
        };
        if self.dtype != dtype {
            return Err(bad(format!("dtype {:?}, expected {dtype:?}", self.dtype)));
        }
        if self.data.len() != self.numel() * dtype.size() {
            return Err(bad(format!(
                "{} bytes for shape {:?}",
                self.data.len(),
                self.shape
            )));
        }
        Ok(())
    }

    /// The elements as i64 (I32 / I64 / U8 tensors).
    pub fn to_i64s(&self) -> Vec<i64> {
        match self.dtype {
            CtDtype::I32 => self
                .data
                .chunks_exact(4)
                .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64)
                .collect(),
            CtDtype::I64 => self
                .data
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                .collect(),
            _ => self.data.iter().map(|&b| b as i64).collect(),
        }
    }

    /// The elements widened exactly to f32 (F32 / BF16 / F16 tensors).
    pub fn to_f32s(&self) -> Vec<f32> {
        match self.dtype {
            CtDtype::F32 => self
                .data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            CtDtype::Bf16 => self
                .data
                .chunks_exact(2)
                .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            CtDtype::F16 => self
                .data
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            _ => self.data.iter().map(|&b| b as f32).collect(),
        }
    }
}

/// Rounds f32 to bf16 (RNE, as `torch.Tensor.to(torch.bfloat16)`), widened back to f32.
pub fn round_bf16(x: f32) -> f32 {
    bf16::from_f32(x).to_f32()
}

/// Rounds f32 to f16 (RNE), widened back to f32.
pub fn round_f16(x: f32) -> f32 {
    f16::from_f32(x).to_f32()
}

/// Floats stored as `dtype` (F32 / BF16 / F16): the bytes, and the values as stored.
pub fn encode_floats(v: &[f32], dtype: crate::CtFloat) -> (CtTensor, Vec<f32>) {
    use crate::CtFloat;
    match dtype {
        CtFloat::F32 => (CtTensor::f32s(vec![v.len()], v), v.to_vec()),
        CtFloat::Bf16 => {
            let h: Vec<bf16> = v.iter().map(|&x| bf16::from_f32(x)).collect();
            let data = h.iter().flat_map(|x| x.to_le_bytes()).collect();
            let back = h.iter().map(|x| x.to_f32()).collect();
            (CtTensor::bytes(CtDtype::Bf16, vec![v.len()], data), back)
        }
        CtFloat::F16 => {
            let h: Vec<f16> = v.iter().map(|&x| f16::from_f32(x)).collect();
            let data = h.iter().flat_map(|x| x.to_le_bytes()).collect();
            let back = h.iter().map(|x| x.to_f32()).collect();
            (CtTensor::bytes(CtDtype::F16, vec![v.len()], data), back)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounding_is_nearest_even() {
        // 1 + 2^-8 is the midpoint between 1 and 1 + 2^-7: ties to even (1).
        assert_eq!(round_bf16(1.0 + 1.0 / 256.0), 1.0);
        assert_eq!(round_bf16(1.0 + 3.0 / 256.0), 1.0 + 4.0 / 256.0);
        let (t, back) = encode_floats(&[0.1, -2.5], crate::CtFloat::Bf16);
        assert_eq!(t.to_f32s(), back);
        assert_eq!(t.data.len(), 4);
    }
}
