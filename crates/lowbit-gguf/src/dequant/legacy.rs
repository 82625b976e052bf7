//! The 32-element block types Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0.
//!
//! Layouts from ggml-common.h (QK4_0 = QK4_1 = QK5_0 = QK5_1 = QK8_0 = 32):
//! - `block_q4_0 { half d; u8 qs[16]; }`: byte j holds element j (low nibble) and j + 16
//!   (high nibble); value = (nibble − 8) · d.
//! - `block_q4_1 { half d; half m; u8 qs[16]; }`: value = nibble · d + m.
//! - `block_q5_0 { half d; u8 qh[4]; u8 qs[16]; }`: qh is a little-endian u32 whose bit j is
//!   the fifth bit of element j; value = (q5 − 16) · d.
//! - `block_q5_1 { half d; half m; u8 qh[4]; u8 qs[16]; }`: value = q5 · d + m.
//! - `block_q8_0 { half d; i8 qs[32]; }`: value = q · d.
//!
//! The integer part is formed exactly, converted to f32, then multiplied (and offset) in f32
//! as `dequantize_row_q*` does.

use super::f16_at;

/// `dequantize_row_q4_0`.
pub(super) fn q4_0(b: &[u8; 18], y: &mut [f32; 32]) {
    let d = f16_at(b, 0);
    for j in 0..16 {
        let q = b[2 + j];
        y[j] = (i32::from(q & 0x0F) - 8) as f32 * d;
        y[j + 16] = (i32::from(q >> 4) - 8) as f32 * d;
    }
}

/// `dequantize_row_q4_1`.
pub(super) fn q4_1(b: &[u8; 20], y: &mut [f32; 32]) {
    let d = f16_at(b, 0);
    let m = f16_at(b, 2);
    for j in 0..16 {
        let q = b[4 + j];
        y[j] = f32::from(q & 0x0F) * d + m;
        y[j + 16] = f32::from(q >> 4) * d + m;
    }
}

/// The fifth bits of a Q5 block: element j's is bit j of this u32.
fn qh(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

/// (element j, element j + 16) of a Q5 block as unsigned 5-bit values.
fn q5_pair(qs: u8, qh: u32, j: usize) -> (u8, u8) {
    let h0 = ((qh >> j) & 1) as u8;
    let h1 = ((qh >> (j + 16)) & 1) as u8;
    ((qs & 0x0F) | (h0 << 4), (qs >> 4) | (h1 << 4))
}

/// `dequantize_row_q5_0`.
pub(super) fn q5_0(b: &[u8; 22], y: &mut [f32; 32]) {
    let d = f16_at(b, 0);
    let h = qh(b, 2);
    for j in 0..16 {
        let (x0, x1) = q5_pair(b[6 + j], h, j);
        y[j] = (i32::from(x0) - 16) as f32 * d;
        y[j + 16] = (i32::from(x1) - 16) as f32 * d;
    }
}

/// `dequantize_row_q5_1`.
pub(super) fn q5_1(b: &[u8; 24], y: &mut [f32; 32]) {
    let d = f16_at(b, 0);
    let m = f16_at(b, 2);
    let h = qh(b, 4);
    for j in 0..16 {
        let (x0, x1) = q5_pair(b[8 + j], h, j);
        y[j] = f32::from(x0) * d + m;
        y[j + 16] = f32::from(x1) * d + m;
    }
}

/// `dequantize_row_q8_0`.
pub(super) fn q8_0(b: &[u8; 34], y: &mut [f32; 32]) {
    let d = f16_at(b, 0);
    for j in 0..32 {
        y[j] = f32::from(b[2 + j] as i8) * d;
    }
}
