//! Packing of small integer codes into bytes.
//!
//! 4-bit (and narrower) codes go two per byte with element 2i in the **low** nibble — the
//! NVFP4/MXFP4 convention of TransformerEngine, torchao and compressed-tensors. bitsandbytes uses
//! the opposite nibble order; never mix the two. Codes of 5..8 bits take one byte each.

use crate::FormatError;
use rayon::prelude::*;

/// Packs codes of `bits` bits each.
pub fn pack(codes: &[u8], bits: u32) -> Vec<u8> {
    if bits > 4 {
        return codes.to_vec();
    }
    let mut out = vec![0u8; codes.len().div_ceil(2)];
    out.par_chunks_mut(4096)
        .zip(codes.par_chunks(8192))
        .for_each(|(o, c)| {
            for (byte, pair) in o.iter_mut().zip(c.chunks(2)) {
                let lo = pair[0] & 0xF;
                let hi = pair.get(1).copied().unwrap_or(0) & 0xF;
                *byte = lo | (hi << 4);
            }
        });
    out
}

/// Unpacks `n` codes of `bits` bits each.
pub fn unpack(packed: &[u8], bits: u32, n: usize) -> Result<Vec<u8>, FormatError> {
    let need = if bits > 4 { n } else { n.div_ceil(2) };
    if packed.len() != need {
        return Err(FormatError::CorruptEncoding {
            format: format!("{bits}-bit codes"),
            reason: format!(
                "expected {need} packed bytes for {n} codes, found {}",
                packed.len()
            ),
        });
    }
    if bits > 4 {
        return Ok(packed.to_vec());
    }
    let mut out = vec![0u8; n];
    out.par_chunks_mut(8192)
        .zip(packed.par_chunks(4096))
        .for_each(|(o, p)| {
            for (i, c) in o.iter_mut().enumerate() {
                let b = p[i / 2];
                *c = if i % 2 == 0 { b & 0xF } else { b >> 4 };
            }
        });
    Ok(out)
}

/// Packs a boolean mask, one bit per value, LSB first.
pub fn pack_mask(keep: &[bool]) -> Vec<u8> {
    let mut out = vec![0u8; keep.len().div_ceil(8)];
    for (i, &k) in keep.iter().enumerate() {
        out[i / 8] |= (k as u8) << (i % 8);
    }
    out
}

/// Unpacks a bitmask of `n` values.
pub fn unpack_mask(bytes: &[u8], n: usize) -> Vec<bool> {
    (0..n).map(|i| bytes[i / 8] >> (i % 8) & 1 == 1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nibble_order_matches_the_spec() {
        // Spec §3 example A: nibbles 0,A,6,0,C,1,6,8,... pack to A0 06 1C 86.
        let codes = [0x0, 0xA, 0x6, 0x0, 0xC, 0x1, 0x6, 0x8];
        assert_eq!(pack(&codes, 4), vec![0xA0, 0x06, 0x1C, 0x86]);
        assert_eq!(unpack(&pack(&codes, 4), 4, 8).unwrap(), codes);
    }

    #[test]
    fn masks_round_trip() {
        let m: Vec<bool> = (0..19).map(|i| i % 3 == 0).collect();
        assert_eq!(unpack_mask(&pack_mask(&m), 19), m);
    }
}
