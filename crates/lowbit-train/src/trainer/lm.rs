//! [`LmTask`]: next-token cross-entropy of the Llama model on a token dataset — `lowbit train`'s
//! task. Also the LM evaluation (mean validation loss, quantization health of every layer).

use super::build::init_model;
use super::error::TrainError;
use super::task::{Evaluation, Task};
use crate::checkpoint::CheckpointError;
use burn::tensor::{Device, Int, Tensor, TensorData};
use lowbit_data::{Batch, Sampler, TokenDataset};
use lowbit_nn::capture::{HealthRecorder, with_recorder};
use lowbit_nn::hf::{SaveOptions, SpecialTokens, read_safetensors};
use lowbit_nn::llama::{Llama, LlamaConfig, cross_entropy};
use std::collections::BTreeMap;
use std::path::Path;

/// Language modelling on `data`: micro-batch `k` is `sampler.batch(train, k)`.
pub struct LmTask<'a> {
    /// The model's configuration (formats, grids by content).
    pub cfg: &'a LlamaConfig,
    /// Seed of the initial weights.
    pub seed: u64,
    /// Tokenised corpus and its tokenizer.
    pub data: &'a TokenDataset,
    /// Micro-batch sampler (`batch` rows of `seq_len` tokens).
    pub sampler: Sampler,
    /// Validation sampler (the full batch).
    pub val_sampler: Sampler,
    /// Validation batches per evaluation.
    pub eval_batches: usize,
    /// Micro-batches per optimizer step.
    pub micro_batches: usize,
}

/// `ids` as a `[rows, len / rows]` token tensor.
pub(super) fn tokens_tensor(ids: &[u32], rows: usize, device: &Device) -> Tensor<2, Int> {
    let v: Vec<i64> = ids.iter().map(|&t| t as i64).collect();
    let n = v.len();
    Tensor::<1, Int>::from_data(TensorData::new(v, [n]), device).reshape([rows, n / rows])
}

/// The value of a one-element tensor (NaN if it is empty).
pub(super) fn scalar(t: Tensor<1>) -> Result<f64, TrainError> {
    let v = t
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| lowbit_nn::NnError::TensorData {
            what: "the loss".into(),
            reason: format!("{e:?}"),
        })?;
    Ok(v.first().copied().unwrap_or(f32::NAN) as f64)
}

/// Mean next-token cross-entropy of `model` over the first `batches` validation batches.
pub fn validation_loss(
    model: &Llama,
    data: &TokenDataset,
    sampler: &Sampler,
    batches: usize,
    device: &Device,
) -> Result<f64, TrainError> {
    let mut sum = 0.0;
    let mut n = 0usize;
    for i in 0..batches.max(1) {
        let Batch { inputs, targets } = sampler.val_batch(&data.val, i)?;
        let rows = inputs.len() / sampler.seq_len;
        let logits = model.forward(tokens_tensor(&inputs, rows, device))?;
        sum += scalar(cross_entropy(logits, tokens_tensor(&targets, rows, device)))?;
        n += 1;
    }
    Ok(sum / n as f64)
}

/// Quantization health of every compressed layer on the first validation batch, as scalars:
/// `health/<layer>/{input,weight}_{rel_mse,clipped}` (and `_grid1` for two-grid formats: the
/// fraction of blocks on the second grid), plus layer means `health/{input,weight}_rel_mse`.
pub fn health_scalars(
    model: &Llama,
    data: &TokenDataset,
    sampler: &Sampler,
    device: &Device,
) -> Result<BTreeMap<String, f64>, TrainError> {
    let mut out = BTreeMap::new();
    let Batch { inputs, .. } = sampler.val_batch(&data.val, 0)?;
    let rows = inputs.len() / sampler.seq_len;
    let x = tokens_tensor(&inputs, rows, device);
    let (logits, h) = with_recorder(HealthRecorder::default(), || model.forward(x))?;
    logits?;
    for (kind, map) in [("input", &h.input), ("weight", &h.weight)] {
        let mut sum = 0.0;
        for (layer, q) in map {
            let short = layer.trim_start_matches("model.");
            out.insert(format!("health/{short}/{kind}_rel_mse"), q.relative_mse());
            out.insert(
                format!("health/{short}/{kind}_clipped"),
                q.clipped_fraction(),
            );
            if q.selectors.len() == 2 {
                let n = (q.selectors[0] + q.selectors[1]).max(1) as f64;
                out.insert(
                    format!("health/{short}/{kind}_grid1"),
                    q.selectors[1] as f64 / n,
                );
            }
            sum += q.relative_mse();
        }
        if !map.is_empty() {
            out.insert(format!("health/{kind}_rel_mse"), sum / map.len() as f64);
        }
    }
    Ok(out)
}

fn write_err(path: &Path, e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

impl Task for LmTask<'_> {
    type Model = Llama;

    fn name(&self) -> &'static str {
        "lm"
    }

    fn tokens_per_step(&self) -> u64 {
        (self.sampler.batch * self.sampler.seq_len * self.micro_batches) as u64
    }

    fn init_model(&self, device: &Device) -> Result<Llama, TrainError> {
        init_model(self.cfg, self.seed, device)
    }

    fn load_model(&self, dir: &Path, device: &Device) -> Result<Llama, TrainError> {
        let model = self.cfg.init(device)?;
        let tensors = read_safetensors(&dir.join("model.safetensors"))?;
        Ok(lowbit_nn::hf::load_state_dict(model, &tensors)?)
    }

    /// An HF directory (config.json, model.safetensors) plus tokenizer.json.
    fn save_model(&self, model: &Llama, dir: &Path) -> Result<(), CheckpointError> {
        let opts = SaveOptions {
            special: SpecialTokens {
                bos_token_id: None,
                eos_token_ids: vec![self.data.tokenizer.eot()],
            },
            ..SaveOptions::default()
        };
        lowbit_nn::hf::save_dir_with(model, self.cfg, dir, &opts).map_err(|e| write_err(dir, e))?;
        let t = dir.join("tokenizer.json");
        self.data.tokenizer.save(&t).map_err(|e| write_err(&t, e))
    }

    fn loss(&self, model: &Llama, micro: u64, device: &Device) -> Result<Tensor<1>, TrainError> {
        let b = self.sampler.batch(&self.data.train, micro, "train")?;
        let rows = self.sampler.batch;
        let logits = model.forward(tokens_tensor(&b.inputs, rows, device))?;
        Ok(cross_entropy(
            logits,
            tokens_tensor(&b.targets, rows, device),
        ))
    }

    fn evaluate(&self, model: &Llama, device: &Device) -> Result<Evaluation, TrainError> {
        let loss = validation_loss(
            model,
            self.data,
            &self.val_sampler,
            self.eval_batches,
            device,
        )?;
        let scalars = health_scalars(model, self.data, &self.val_sampler, device)?;
        Ok(Evaluation { loss, scalars })
    }

    /// The embedding row of the micro-batch's first input token is NaN (the copy shares every
    /// other tensor), so a NaN activation reaches the quantizers or the loss.
    fn poisoned(&self, model: &Llama, micro: u64) -> Option<Llama> {
        let b = self.sampler.batch(&self.data.train, micro, "train").ok()?;
        let t = b.inputs.first().copied().unwrap_or(0) as usize;
        let mut m = model.clone();
        m.embed_tokens.weight = m.embed_tokens.weight.map(|w| {
            let [_, d] = w.dims();
            let nan = Tensor::<2>::full([1, d], f32::NAN, &w.device());
            w.slice_assign([t..t + 1, 0..d], nan)
        });
        Some(m)
    }
}
