//! Train/validation split by document (never inside a document, so validation text is unseen).

use crate::Document;
use sha2::{Digest, Sha256};

/// Fraction of documents held out for validation.
pub const VAL_FRACTION: f64 = 0.02;

/// Splits document indices into (train, val): a document is in validation when the first 8 bytes
/// of SHA-256(name), as a fraction of 2^64, fall below `val_fraction` — stable when documents are
/// added or removed. With ≥ 2 documents at least one is validation and one is training (the
/// lowest-hash document is moved if needed).
pub fn split_documents(docs: &[Document], val_fraction: f64) -> (Vec<usize>, Vec<usize>) {
    let key = |d: &Document| {
        let h = Sha256::digest(d.name.as_bytes());
        u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
    };
    let keys: Vec<u64> = docs.iter().map(key).collect();
    let cut = (val_fraction * 2f64.powi(64)) as u64;
    let (mut train, mut val): (Vec<usize>, Vec<usize>) =
        (0..docs.len()).partition(|&i| keys[i] >= cut);
    if docs.len() >= 2 {
        if val.is_empty() {
            let i = *train.iter().min_by_key(|&&i| keys[i]).unwrap_or(&0);
            train.retain(|&j| j != i);
            val.push(i);
        } else if train.is_empty() {
            let i = *val.iter().max_by_key(|&&i| keys[i]).unwrap_or(&0);
            val.retain(|&j| j != i);
            train.push(i);
        }
    }
    (train, val)
}
