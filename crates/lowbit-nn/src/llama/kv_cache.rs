//! The key/value cache of incremental decoding ([`Llama::forward_cached`](super::Llama)), and
//! rolling it back: speculative decoding feeds a run of draft tokens, keeps the accepted prefix
//! and [`KvCache::truncate`]s the rejected ones away before the next step.

use super::attention::LayerKv;
use crate::NnError;

/// Keys and values of the positions a model has already seen, one entry per layer.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    /// Per layer, `None` until the first call.
    pub(super) layers: Vec<Option<LayerKv>>,
    /// Batch size of the cached tensors.
    pub(super) batch: usize,
    /// Cached positions.
    pub(super) len: usize,
}

impl KvCache {
    /// An empty cache; the first [`Llama::forward_cached`](super::Llama::forward_cached) sizes it.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of cached positions (the position of the next token).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no position is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keeps the first `len` positions and forgets the rest, so the next token is fed at
    /// position `len`. `truncate(0)` gives a cache that is exactly a new one (it may then take
    /// another batch size); `truncate(self.len())` changes nothing.
    ///
    /// # Shapes
    /// Every layer's keys and values `[batch, n_kv_heads, past, head_dim]` → `past = len`.
    ///
    /// # Errors
    /// [`NnError::Input`] when `len > self.len()`: a cache cannot grow by truncation, and a
    /// caller asking for that has lost count of its positions.
    pub fn truncate(&mut self, len: usize) -> Result<(), NnError> {
        if len > self.len {
            return Err(NnError::Input(format!(
                "cannot truncate a KV cache of {} positions to {len}",
                self.len
            )));
        }
        if len == 0 {
            *self = Self::new();
            return Ok(());
        }
        for kv in self.layers.iter_mut().flatten() {
            let [b, h, _, d] = kv.k.dims();
            kv.k = kv.k.clone().slice([0..b, 0..h, 0..len, 0..d]);
            let [b, h, _, d] = kv.v.dims();
            kv.v = kv.v.clone().slice([0..b, 0..h, 0..len, 0..d]);
        }
        self.len = len;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llama::{Llama, LlamaConfig};
    use burn::tensor::{Device, Int, Tensor, TensorData};

    fn model() -> Llama {
        // GQA (4 heads share 2 KV heads), a large init so logits are far from uniform.
        LlamaConfig::new(61, 48, 2, 4, 2, 100)
            .with_max_seq_len(24)
            .with_init_std(0.3)
            .init(&Device::flex())
            .unwrap()
    }

    fn tensor(v: &[i64], b: usize) -> Tensor<2, Int> {
        let t = v.len() / b;
        Tensor::<1, Int>::from_data(TensorData::new(v.to_vec(), [v.len()]), &Device::flex())
            .reshape([b, t])
    }

    /// Logits of the fed tokens as f32 bit patterns.
    fn feed(m: &Llama, cache: &mut KvCache, v: &[i64], b: usize) -> Vec<u32> {
        let l = m.forward_cached(tensor(v, b), cache).unwrap();
        let l = l.into_data().try_into_vec_as::<f32>().unwrap();
        l.iter().map(|x| x.to_bits()).collect()
    }

    /// Prefill 5, decode 4 one by one, roll back to 6 and decode another token: the logits are
    /// bit-equal to those of a fresh cache that saw the same 6 positions (in the same calls)
    /// and then that token.
    #[test]
    fn truncate_then_decode_equals_a_fresh_cache() {
        let m = model();
        let (b, prompt) = (2, [3, 17, 8, 40, 22, 9, 31, 5, 60, 12]); // [2, 5]
        let decoded = [[7, 44], [19, 2], [33, 33], [1, 58]]; // 4 steps × batch 2
        let other = [50, 26];
        let mut c = KvCache::new();
        feed(&m, &mut c, &prompt, b);
        for d in decoded {
            feed(&m, &mut c, &d, b);
        }
        assert_eq!(c.len(), 9);
        c.truncate(6).unwrap();
        assert_eq!(c.len(), 6);
        let rolled = feed(&m, &mut c, &other, b);
        assert_eq!(c.len(), 7);

        let mut fresh = KvCache::new();
        feed(&m, &mut fresh, &prompt, b);
        feed(&m, &mut fresh, &decoded[0], b);
        assert_eq!(rolled, feed(&m, &mut fresh, &other, b));
        // The rolled-back token really differs from the one first decoded at that position.
        let mut again = KvCache::new();
        feed(&m, &mut again, &prompt, b);
        feed(&m, &mut again, &decoded[0], b);
        assert_ne!(rolled, feed(&m, &mut again, &decoded[1], b));
        // Truncating to the current length is a no-op; past it is an error.
        c.truncate(7).unwrap();
        assert_eq!(c.len(), 7);
        assert!(matches!(c.truncate(8), Err(NnError::Input(_))));
        assert_eq!(c.len(), 7);
    }

    /// `truncate(0)` empties the cache into a new one: same logits as a new cache, and it takes
    /// another batch size.
    #[test]
    fn truncate_to_zero_is_a_new_cache() {
        let m = model();
        let mut c = KvCache::new();
        feed(&m, &mut c, &[4, 9, 13, 27, 31, 2], 2);
        c.truncate(0).unwrap();
        assert!(c.is_empty());
        assert_eq!(c.len(), 0);
        let seq = [11, 5, 48, 20];
        let got = feed(&m, &mut c, &seq, 1);
        assert_eq!(got, feed(&m, &mut KvCache::new(), &seq, 1));
        assert_eq!(c.len(), 4);
        assert!(KvCache::new().truncate(0).is_ok());
        assert!(KvCache::new().truncate(1).is_err());
    }
}
