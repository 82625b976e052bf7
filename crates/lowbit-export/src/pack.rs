//! compressed-tensors' dense int32 packing (`compressors/pack_quantized/helpers.py`,
//! `pack_to_int32` / `unpack_from_int32`): the signed value q of B bits is stored as
//! `q + 2^(B−1)`, and element i of a row occupies bits `i·B .. i·B + B − 1` of the row's bit
//! stream, word `⌊i·B/32⌋` from its least significant bit, straddling into the next word where
//! it does not fit. A row of `cols` values takes `⌈cols·B/32⌉` words. `packed_dim = 0` packs the
//! columns of the transposed matrix (zero points are packed along the output dimension).

/// Packs `rows × cols` unsigned values (each `< 2^bits`) row by row; returns the words,
/// `rows × ⌈cols·bits/32⌉`.
pub fn pack_rows(vals: &[u32], rows: usize, cols: usize, bits: u32) -> Vec<i32> {
    let words = (cols * bits as usize).div_ceil(32);
    let mut out = vec![0u32; rows * words];
    for r in 0..rows {
        let row = &mut out[r * words..(r + 1) * words];
        for (i, &v) in vals[r * cols..(r + 1) * cols].iter().enumerate() {
            let bit = i * bits as usize;
            let (w, off) = (bit / 32, (bit % 32) as u32);
            row[w] |= v << off;
            if off + bits > 32 {
                row[w + 1] |= v >> (32 - off);
            }
        }
    }
    out.into_iter().map(|w| w as i32).collect()
}

/// Inverse of [`pack_rows`].
pub fn unpack_rows(words: &[i32], rows: usize, cols: usize, bits: u32) -> Vec<u32> {
    let per_row = (cols * bits as usize).div_ceil(32);
    let mask = (1u64 << bits) - 1;
    let mut out = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        let row = &words[r * per_row..(r + 1) * per_row];
        for i in 0..cols {
            let bit = i * bits as usize;
            let (w, off) = (bit / 32, bit % 32);
            let lo = row[w] as u32 as u64;
            let hi = row.get(w + 1).map_or(0, |&x| x as u32 as u64);
            out.push((((hi << 32 | lo) >> off) & mask) as u32);
        }
    }
    out
}

fn transpose<T: Copy>(v: &[T], rows: usize, cols: usize) -> Vec<T> {
    (0..cols)
        .flat_map(|c| (0..rows).map(move |r| v[r * cols + c]))
        .collect()
}

/// `pack_to_int32(value, bits, packed_dim=0)`: packs each column of a `rows × cols` matrix;
/// returns `⌈rows·bits/32⌉ × cols` words.
pub fn pack_cols(vals: &[u32], rows: usize, cols: usize, bits: u32) -> Vec<i32> {
    let packed = pack_rows(&transpose(vals, rows, cols), cols, rows, bits);
    transpose(&packed, cols, (rows * bits as usize).div_ceil(32))
}

/// Inverse of [`pack_cols`].
pub fn unpack_cols(words: &[i32], rows: usize, cols: usize, bits: u32) -> Vec<u32> {
    let w = (rows * bits as usize).div_ceil(32);
    let t = unpack_rows(&transpose(words, w, cols), cols, rows, bits);
    transpose(&t, cols, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int4_words_hold_eight_values_low_nibble_first() {
        // q = [-8, -7, ..., -1] offset to [0..8]: nibble i of the word is element i.
        let vals: Vec<u32> = (0..8).collect();
        assert_eq!(pack_rows(&vals, 1, 8, 4), vec![0x7654_3210]);
        // An unsigned 15 in the top nibble sets the sign bit of the i32 word.
        assert_eq!(
            pack_rows(&[0, 0, 0, 0, 0, 0, 0, 15], 1, 8, 4),
            vec![0xF000_0000u32 as i32]
        );
    }

    #[test]
    fn odd_widths_straddle_words_and_round_trip() {
        for bits in 1..=8u32 {
            for (rows, cols) in [(3, 37), (2, 64), (5, 1)] {
                let vals: Vec<u32> = (0..rows * cols)
                    .map(|i| (i as u32).wrapping_mul(2_654_435_761) >> (32 - bits))
                    .collect();
                let p = pack_rows(&vals, rows, cols, bits);
                assert_eq!(p.len(), rows * (cols * bits as usize).div_ceil(32));
                assert_eq!(
                    unpack_rows(&p, rows, cols, bits),
                    vals,
                    "{bits} {rows}x{cols}"
                );
                let c = pack_cols(&vals, rows, cols, bits);
                assert_eq!(c.len(), (rows * bits as usize).div_ceil(32) * cols);
                assert_eq!(unpack_cols(&c, rows, cols, bits), vals);
            }
        }
    }
}
