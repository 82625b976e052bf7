//! Capture of what each compressed linear quantizes: during a forward pass run inside
//! [`with_recorder`], every [`CompressedLinear`](crate::CompressedLinear) hands its (rotated)
//! input and weight to the active [`Recorder`]. Used for per-layer quantization health and for
//! collecting real weight and activation blocks for grid learning (Grid Games "learned from real
//! weights and activations").
//!
//! The recorder is scoped, not global: [`with_recorder`] installs it in a thread-local slot for the
//! duration of one closure and a guard restores the slot's previous content when the closure
//! returns *or panics*, so a recorder never outlives its pass or leaks into the next one, and
//! scopes nest. The slot is per thread on purpose: a pass is captured on the thread that runs it,
//! and work on other threads (a data-parallel step's replicas, rayon inside a kernel) is not
//! recorded — capture is for evaluation passes and grid learning, which run on one thread. The
//! model's `forward` keeps its signature and a pass without a recorder pays one thread-local
//! lookup per layer.

use crate::NnError;
use crate::quant::health::QuantHealth;
use burn::tensor::Tensor;
use lowbit_formats::Format;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::any::Any;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// What one layer quantizes in one forward pass (detached host-side views are made on demand).
pub struct LayerView<'a> {
    /// HF module name.
    pub name: &'a str,
    /// The input as the activation quantizer sees it (after the Hadamard rotation),
    /// `[rows, d_input]`.
    pub input: Tensor<2>,
    /// The weight as the weight quantizer sees it, `[d_output, d_input]`.
    pub weight: Tensor<2>,
    /// The layer's input format.
    pub input_format: Option<&'a Format>,
    /// The layer's weight format.
    pub weight_format: Option<&'a Format>,
}

/// Receives every compressed linear's operands during a captured forward pass.
pub trait Recorder: Any {
    /// Called once per layer per forward pass.
    fn record(&mut self, layer: &LayerView<'_>) -> Result<(), NnError>;
    /// `self` as `Any`, to hand the concrete recorder back after the pass.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

struct Active {
    rec: Box<dyn Recorder>,
    err: Option<NnError>,
}

thread_local! {
    static ACTIVE: RefCell<Option<Active>> = const { RefCell::new(None) };
}

/// Restores the slot's previous content when dropped (the end of a scope, or an unwind).
struct SlotGuard {
    prev: Option<Option<Active>>,
}

impl SlotGuard {
    /// Puts `active` in the slot, remembering what was there.
    fn install(active: Option<Active>) -> Self {
        let prev = ACTIVE.with(|a| std::mem::replace(&mut *a.borrow_mut(), active));
        Self { prev: Some(prev) }
    }

    /// Restores the previous content and returns what the scope left in the slot.
    fn finish(mut self) -> Option<Active> {
        let prev = self.prev.take().flatten();
        ACTIVE.with(|a| std::mem::replace(&mut *a.borrow_mut(), prev))
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Some(prev) = self.prev.take() {
            // Unwinding (or finish was not called): drop this scope's recorder, restore.
            let _ = ACTIVE.try_with(|a| {
                if let Ok(mut slot) = a.try_borrow_mut() {
                    *slot = prev;
                }
            });
        }
    }
}

/// Runs `f` with `rec` receiving every compressed layer's operands on this thread, then returns
/// `f`'s result and the recorder. Panic-safe and nestable (see the module doc).
///
/// # Errors
/// The first error a `record` call returned (the pass itself still runs to the end).
pub fn with_recorder<R: Recorder, T>(rec: R, f: impl FnOnce() -> T) -> Result<(T, R), NnError> {
    let guard = SlotGuard::install(Some(Active {
        rec: Box::new(rec),
        err: None,
    }));
    let out = f();
    let Some(Active { rec, err }) = guard.finish() else {
        return Err(NnError::Capture(
            "the recorder left its slot during the pass".into(),
        ));
    };
    if let Some(e) = err {
        return Err(e);
    }
    let rec = rec
        .into_any()
        .downcast::<R>()
        .map_err(|_| NnError::Capture("the recorder changed type during the pass".into()))?;
    Ok((out, *rec))
}

/// Hands a layer's operands to the active recorder, if any (called by `CompressedLinear`).
///
/// The recorder is taken out of the slot while it runs (a guard puts it back), so a recorder
/// that itself runs a forward pass does not re-enter itself.
pub(crate) fn record<const D: usize>(
    name: &str,
    input: &Tensor<D>,
    weight: &Tensor<2>,
    input_format: Option<&Format>,
    weight_format: Option<&Format>,
) {
    let Some(active) = ACTIVE.with(|a| a.borrow_mut().take()) else {
        return;
    };
    /// Puts the recorder back into the slot on drop (also when `record` panics).
    struct PutBack(Option<Active>);
    impl Drop for PutBack {
        fn drop(&mut self) {
            let a = self.0.take();
            let _ = ACTIVE.try_with(|s| {
                if let Ok(mut slot) = s.try_borrow_mut() {
                    *slot = a;
                }
            });
        }
    }
    let mut back = PutBack(Some(active));
    let Some(active) = back.0.as_mut() else {
        return;
    };
    let dims = input.dims();
    let d = dims[D - 1];
    let rows = dims.iter().product::<usize>() / d.max(1);
    let view = LayerView {
        name,
        input: input.clone().detach().reshape([rows, d]),
        weight: weight.clone().detach(),
        input_format,
        weight_format,
    };
    if let Err(e) = active.rec.record(&view)
        && active.err.is_none()
    {
        active.err = Some(e);
    }
}

/// A `[rows, cols]` tensor's values on the host (row-major f32) and its `cols`.
pub fn host(t: &Tensor<2>) -> Result<(Vec<f32>, usize), NnError> {
    let [_, cols] = t.dims();
    let v = t
        .clone()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| NnError::TensorData {
            what: "captured tensor".into(),
            reason: format!("{e:?}"),
        })?;
    Ok((v, cols))
}

/// Accumulates [`QuantHealth`] of every layer's input and weight over the captured passes.
#[derive(Debug, Default, Clone)]
pub struct HealthRecorder {
    /// Input health by layer name.
    pub input: BTreeMap<String, QuantHealth>,
    /// Weight health by layer name (measured once: the weight does not change within a pass).
    pub weight: BTreeMap<String, QuantHealth>,
}

impl Recorder for HealthRecorder {
    fn record(&mut self, l: &LayerView<'_>) -> Result<(), NnError> {
        if let Some(f) = l.input_format {
            let (v, cols) = host(&l.input)?;
            let h = QuantHealth::measure(&v, cols, f)?;
            self.input.entry(l.name.to_string()).or_default().merge(&h);
        }
        if let Some(f) = l.weight_format
            && !self.weight.contains_key(l.name)
        {
            let (v, cols) = host(&l.weight)?;
            self.weight
                .insert(l.name.to_string(), QuantHealth::measure(&v, cols, f)?);
        }
        Ok(())
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// Reservoir-samples (Vitter's Algorithm R) up to `max_blocks` input blocks and weight blocks
/// of `block` consecutive values along d_input per layer; seeded, so the sample is a pure
/// function of (seed, the data seen).
#[derive(Debug, Clone)]
pub struct BlockSampler {
    block: usize,
    max_blocks: usize,
    seed: u64,
    /// Sampled input blocks by layer name.
    pub input: BTreeMap<String, Vec<Vec<f32>>>,
    /// Sampled weight blocks by layer name.
    pub weight: BTreeMap<String, Vec<Vec<f32>>>,
    seen: BTreeMap<String, (u64, ChaCha8Rng)>,
}

impl BlockSampler {
    /// A sampler keeping at most `max_blocks` blocks of `block` values per layer and kind.
    pub fn new(block: usize, max_blocks: usize, seed: u64) -> Self {
        Self {
            block: block.max(1),
            max_blocks,
            seed,
            input: BTreeMap::new(),
            weight: BTreeMap::new(),
            seen: BTreeMap::new(),
        }
    }

    fn offer(&mut self, key: String, data: &[f32], cols: usize, weight: bool) {
        if cols % self.block != 0 {
            return;
        }
        let seed = self.seed;
        let (seen, rng) = self.seen.entry(key.clone()).or_insert_with(|| {
            let mut r = ChaCha8Rng::seed_from_u64(seed);
            // One stream per (layer, kind): FNV-1a of the key.
            r.set_stream(key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
            }));
            (0, r)
        });
        let name = key
            .split_once(':')
            .map_or(key.as_str(), |k| k.1)
            .to_string();
        let store = if weight {
            &mut self.weight
        } else {
            &mut self.input
        };
        let res = store.entry(name).or_default();
        for b in data.chunks(self.block) {
            if res.len() < self.max_blocks {
                res.push(b.to_vec());
            } else {
                let j = rng.random_range(0..=*seen);
                if (j as usize) < self.max_blocks {
                    res[j as usize] = b.to_vec();
                }
            }
            *seen += 1;
        }
    }
}

impl Recorder for BlockSampler {
    fn record(&mut self, l: &LayerView<'_>) -> Result<(), NnError> {
        let (v, cols) = host(&l.input)?;
        self.offer(format!("input:{}", l.name), &v, cols, false);
        if !self.weight.contains_key(l.name) {
            let (w, cols) = host(&l.weight)?;
            self.offer(format!("weight:{}", l.name), &w, cols, true);
        }
        Ok(())
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

#[cfg(test)]
#[path = "capture_tests.rs"]
mod tests;
