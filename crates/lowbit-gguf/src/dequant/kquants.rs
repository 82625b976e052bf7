//! The 256-element "K-quant" super-block types (QK_K = 256), ggml-common.h:
//! - `block_q2_K { u8 scales[16]; u8 qs[64]; half d; half dmin; }`
//! - `block_q3_K { u8 hmask[32]; u8 qs[64]; u8 scales[12]; half d; }`
//! - `block_q4_K { half d; half dmin; u8 scales[12]; u8 qs[128]; }`
//! - `block_q5_K { half d; half dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]; }`
//! - `block_q6_K { u8 ql[128]; u8 qh[64]; i8 scales[16]; half d; }`
//! - `block_q8_K { float d; i8 qs[256]; i16 bsums[16]; }`
//!
//! The value formulas and their f32 operation order follow `dequantize_row_q*_K` in
//! ggml-quants.c: sub-block scale `d · sc` (and min `dmin · m`) first, then `scale · q − min`.

use super::f16_at;

/// ggml-quants.c `get_scale_min_k4`: the 6-bit scale and min of sub-block `j` (0..8) of a
/// Q4_K/Q5_K block, packed in 12 bytes: sub-blocks 0–3 in the low 6 bits of bytes 0–3 (scale)
/// and 4–7 (min); sub-blocks 4–7 in the nibbles of bytes 8–11 plus the top 2 bits of 0–7.
fn scale_min_k4(s: &[u8; 12], j: usize) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    }
}

fn scales12<const B: usize>(b: &[u8; B], at: usize) -> [u8; 12] {
    let mut s = [0u8; 12];
    if let Some(src) = b.get(at..at + 12) {
        s.copy_from_slice(src);
    }
    s
}

/// `dequantize_row_q2_K`: 16 sub-blocks of 16, 2-bit values; scale byte = (min << 4) | scale.
pub(super) fn q2_k(b: &[u8; 84], y: &mut [f32; 256]) {
    let d = f16_at(b, 80);
    let dmin = f16_at(b, 82);
    // Element order: two halves of 128; in each, four 2-bit planes (shift 0, 2, 4, 6) of the
    // half's 32 qs bytes, each plane two sub-blocks of 16.
    for half in 0..2 {
        for plane in 0..4 {
            for sub in 0..2 {
                let is = half * 8 + plane * 2 + sub;
                let sc = b[is];
                let dl = d * f32::from(sc & 0x0F);
                let ml = dmin * f32::from(sc >> 4);
                for l in 0..16 {
                    let q = (b[16 + half * 32 + sub * 16 + l] >> (2 * plane)) & 3;
                    y[half * 128 + plane * 32 + sub * 16 + l] = dl * f32::from(q) - ml;
                }
            }
        }
    }
}

/// The sixteen 6-bit Q3_K scales (before the −32 offset): scale k's low 4 bits are the low
/// (k < 8) or high (k ≥ 8) nibble of byte k mod 8; its top 2 bits are bits 2·(k / 4) of byte
/// 8 + k mod 4 (the `kmask1`/`kmask2` shuffle of `dequantize_row_q3_K`).
fn q3_scales(s: &[u8; 12]) -> [i8; 16] {
    let mut out = [0i8; 16];
    for (k, o) in out.iter_mut().enumerate() {
        let lo = if k < 8 { s[k] & 0x0F } else { s[k - 8] >> 4 };
        let hi = (s[8 + k % 4] >> (2 * (k / 4))) & 3;
        *o = ((lo | (hi << 4)) as i8).wrapping_sub(32);
    }
    out
}

/// `dequantize_row_q3_K`: 16 sub-blocks of 16; 2 low bits in qs, the third in hmask (a set
/// bit means no −4 offset).
pub(super) fn q3_k(b: &[u8; 110], y: &mut [f32; 256]) {
    let d = f16_at(b, 108);
    let scales = q3_scales(&scales12(b, 96));
    for half in 0..2 {
        for plane in 0..4 {
            // hmask bit m covers the m-th group of 32 values.
            let m = half * 4 + plane;
            for sub in 0..2 {
                let is = half * 8 + plane * 2 + sub;
                let dl = d * f32::from(scales[is]);
                for l in 0..16 {
                    let idx = sub * 16 + l;
                    let low = ((b[32 + half * 32 + idx] >> (2 * plane)) & 3) as i8;
                    let high_set = (b[idx] >> m) & 1 == 1;
                    let q = low - if high_set { 0 } else { 4 };
                    y[half * 128 + plane * 32 + idx] = dl * f32::from(q);
                }
            }
        }
    }
}

/// `dequantize_row_q4_K`: 8 sub-blocks of 32; each 32-byte group of qs holds sub-block 2i in
/// its low nibbles and 2i + 1 in its high nibbles.
pub(super) fn q4_k(b: &[u8; 144], y: &mut [f32; 256]) {
    let d = f16_at(b, 0);
    let dmin = f16_at(b, 2);
    let s = scales12(b, 4);
    for j in 0..8 {
        let (sc, m) = scale_min_k4(&s, j);
        let d1 = d * f32::from(sc);
        let m1 = dmin * f32::from(m);
        let shift = 4 * (j % 2);
        for l in 0..32 {
            let q = (b[16 + (j / 2) * 32 + l] >> shift) & 0x0F;
            y[j * 32 + l] = d1 * f32::from(q) - m1;
        }
    }
}

/// `dequantize_row_q5_K`: as Q4_K, plus a fifth bit: bit j of qh[l] for sub-block j.
pub(super) fn q5_k(b: &[u8; 176], y: &mut [f32; 256]) {
    let d = f16_at(b, 0);
    let dmin = f16_at(b, 2);
    let s = scales12(b, 4);
    for j in 0..8 {
        let (sc, m) = scale_min_k4(&s, j);
        let d1 = d * f32::from(sc);
        let m1 = dmin * f32::from(m);
        let shift = 4 * (j % 2);
        for l in 0..32 {
            let low = (b[48 + (j / 2) * 32 + l] >> shift) & 0x0F;
            let high = (b[16 + l] >> j) & 1;
            y[j * 32 + l] = d1 * f32::from(low | (high << 4)) - m1;
        }
    }
}

/// `dequantize_row_q6_K`: 16 sub-blocks of 16 with i8 scales; 4 low bits in ql, 2 high bits in
/// qh, value offset by −32. Each half of 128 uses 64 ql bytes and 32 qh bytes.
pub(super) fn q6_k(b: &[u8; 210], y: &mut [f32; 256]) {
    let d = f16_at(b, 208);
    for half in 0..2 {
        let (ql, qh, sc) = (half * 64, 128 + half * 32, 192 + half * 8);
        for l in 0..32 {
            let is = l / 16;
            let h = b[qh + l];
            let q = [
                (b[ql + l] & 0x0F) | ((h & 3) << 4),
                (b[ql + l + 32] & 0x0F) | (((h >> 2) & 3) << 4),
                (b[ql + l] >> 4) | (((h >> 4) & 3) << 4),
                (b[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4),
            ];
            for (k, &qk) in q.iter().enumerate() {
                let scale = f32::from(b[sc + is + 2 * k] as i8);
                let v = f32::from(qk as i8 - 32);
                y[half * 128 + k * 32 + l] = d * scale * v;
            }
        }
    }
}

/// `dequantize_row_q8_K`: an f32 scale and 256 i8 values (bsums are only for dot products).
pub(super) fn q8_k(b: &[u8; 292], y: &mut [f32; 256]) {
    let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    for j in 0..256 {
        y[j] = d * f32::from(b[4 + j] as i8);
    }
}
