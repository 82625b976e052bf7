//! Static activation scales for a W4A4 compressed-tensors export.
//!
//! lowbit's NVFP4 activation quantizer computes its tensor scale from each call's own amax
//! (TransformerEngine's current scaling). compressed-tensors' NVFP4 W4A4 scheme stores one
//! `input_global_scale` per linear instead (`static_minmax` observer: the largest |x| the layer
//! saw during calibration, scale = 448·6 / amax, llm-compressor's `calibrate_activations`), and
//! computes only the per-16 block scales at run time (`dynamic: "local"`). So the export runs
//! the model over calibration windows, records each linear's input amax, and stores
//! `GlobalScale::from_amax(amax).enc` — the same encode factor lowbit would use for a tensor of
//! that amax. An exported model therefore matches lowbit exactly on inputs whose amax equals the
//! calibrated one, and clips to the calibrated range (as vLLM does) otherwise.

use crate::compress::calib::token_tensor;
use anyhow::Result;
use burn::tensor::Device;
use lowbit_formats::scale::GlobalScale;
use lowbit_nn::NnError;
use lowbit_nn::capture::{LayerView, Recorder, with_recorder};
use lowbit_nn::llama::Llama;
use std::any::Any;
use std::collections::BTreeMap;

/// Largest |input| of every linear over the captured passes.
#[derive(Default)]
pub struct InputAmax {
    /// Layer name → amax.
    pub amax: BTreeMap<String, f32>,
}

impl Recorder for InputAmax {
    fn record(&mut self, l: &LayerView<'_>) -> Result<(), NnError> {
        let a = l
            .input
            .clone()
            .abs()
            .max()
            .into_data()
            .try_into_vec_as::<f32>()
            .map_err(|e| NnError::Capture(format!("cannot read the input of {}: {e:?}", l.name)))?;
        let a = a.first().copied().unwrap_or(0.0);
        let e = self.amax.entry(l.name.to_string()).or_insert(0.0);
        *e = e.max(a);
        Ok(())
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// The `input_global_scale` (compressed-tensors' encode convention, 448·6 / amax) of every
/// linear of `model`, from one pass per window of `seq_len` tokens of `ids` (from
/// `compress::calib::read_windows`) through the embedding and the blocks (the head reads no
/// linear input that is exported). One window per pass, as `lowbit eval` runs them: NVFP4's
/// online tensor scale is per call, so a batch of windows would quantize differently.
///
/// # Errors
/// A failed forward pass or an unreadable input.
pub fn input_global_scales(
    model: &Llama,
    ids: &[u32],
    seq_len: usize,
    device: &Device,
) -> Result<BTreeMap<String, f32>> {
    let rope = model.rope();
    let mut rec = InputAmax::default();
    for w in ids.chunks(seq_len) {
        let tokens = token_tensor(w, 1, device);
        let (pass, r) = with_recorder(rec, || -> Result<(), NnError> {
            let mut h = model.embed(tokens)?;
            for b in &model.layers {
                h = b.forward(h, rope)?;
            }
            Ok(())
        })?;
        pass?;
        rec = r;
    }
    Ok(rec
        .amax
        .into_iter()
        .map(|(k, a)| (k, GlobalScale::from_amax(a).enc))
        .collect())
}
