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

/// Bytes [`pack_bits`] gives for `n` codes of `bits` bits.
pub fn packed_len(n: usize, bits: u32) -> usize {
    (n * bits as usize).div_ceil(8)
}

/// Packs codes of `bits` (1..=8) bits densely, LSB first: code i occupies bits
/// `i·bits .. (i+1)·bits` of the little-endian bit stream, so 3-bit codes take 3 bytes per 8
/// codes. For 4 bits this is [`pack`]'s layout (element 2i in the low nibble); for 8 bits the
/// codes themselves. Bits of a code above `bits` are ignored.
pub fn pack_bits(codes: &[u8], bits: u32) -> Vec<u8> {
    let bits = bits.clamp(1, 8) as usize;
    let mask = ((1u16 << bits) - 1) as u8;
    let mut out = vec![0u8; packed_len(codes.len(), bits as u32)];
    for (i, &c) in codes.iter().enumerate() {
        let (pos, c) = (i * bits, u16::from(c & mask));
        let (byte, shift) = (pos / 8, pos % 8);
        let v = c << shift;
        out[byte] |= v as u8;
        if shift + bits > 8 {
            out[byte + 1] |= (v >> 8) as u8;
        }
    }
    out
}

/// Unpacks `n` codes of `bits` (1..=8) bits written by [`pack_bits`].
///
/// # Errors
/// [`FormatError::CorruptEncoding`] when `packed` is not [`packed_len`] bytes long.
pub fn unpack_bits(packed: &[u8], bits: u32, n: usize) -> Result<Vec<u8>, FormatError> {
    let need = packed_len(n, bits.clamp(1, 8));
    if packed.len() != need {
        return Err(FormatError::CorruptEncoding {
            format: format!("{bits}-bit codes"),
            reason: format!(
                "expected {need} packed bytes for {n} codes, found {}",
                packed.len()
            ),
        });
    }
    let bits = bits.clamp(1, 8) as usize;
    let mask = (1u16 << bits) - 1;
    Ok((0..n)
        .map(|i| {
            let pos = i * bits;
            let (byte, shift) = (pos / 8, pos % 8);
            let lo = u16::from(packed[byte]);
            let hi = packed.get(byte + 1).map_or(0, |&b| u16::from(b));
            (((lo | hi << 8) >> shift) & mask) as u8
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_bit_packing_round_trips_and_matches_the_nibble_layout() {
        let codes: Vec<u8> = (0..37u32).map(|i| (i * 7 + 3) as u8).collect();
        for bits in 1..=8u32 {
            let m = ((1u16 << bits) - 1) as u8;
            let c: Vec<u8> = codes.iter().map(|&x| x & m).collect();
            let p = pack_bits(&c, bits);
            assert_eq!(p.len(), (37 * bits as usize).div_ceil(8));
            assert_eq!(unpack_bits(&p, bits, 37).unwrap(), c, "bits {bits}");
        }
        let c: Vec<u8> = codes.iter().map(|&x| x & 0xF).collect();
        assert_eq!(pack_bits(&c, 4), pack(&c, 4));
        assert_eq!(pack_bits(&codes, 8), codes);
        // 3-bit: codes 1,2,3 → bits 001 010 011 → byte 0b11_010_001, then 0.
        assert_eq!(pack_bits(&[1, 2, 3], 3), vec![0b1101_0001, 0]);
        assert!(unpack_bits(&[0], 3, 3).is_err());
    }

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
