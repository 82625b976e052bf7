//! [`DistillTask`]: fine-tuning a compressed student towards its full-precision teacher —
//! `lowbit finetune`'s task (PV-Tuning, algorithms.md §4.2 step 1: KL(teacher ‖ student)
//! averaged over tokens; or next-token cross-entropy).
//!
//! The student is loaded from a compressed checkpoint (coded layers, decoded in forward) and,
//! when codes train, carries a zero probe on every coded weight
//! ([`lowbit_nn::weight::CodedWeight::with_probe`]) whose gradient is the V-step's `G`. The
//! teacher runs on the inference device and its log-probabilities enter the loss as constants.
//! Checkpoints are compressed directories (probes detached) that `lowbit eval`, `generate`,
//! `export` and `compress`-style tools read directly.

use super::error::TrainError;
use super::lm::{scalar, tokens_tensor};
use super::task::{Evaluation, Task};
use crate::checkpoint::CheckpointError;
use burn::module::Module;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor};
use lowbit_data::{Batch, Sampler};
use lowbit_nn::hf::{
    QuantizationConfig, SaveOptions, SpecialTokens, load_dir, save_compressed_dir,
};
use lowbit_nn::llama::{Llama, LlamaConfig, cross_entropy};
use std::path::{Path, PathBuf};

/// What the student is trained to minimise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DistillLoss {
    /// KL(teacher ‖ student) over the vocabulary, mean over tokens (the official PV-Tuning loss).
    Kl,
    /// Next-token cross-entropy on the data (no teacher in the loss).
    Ce,
}

/// Distillation of a compressed student from its teacher on a token stream.
pub struct DistillTask<'a> {
    /// The full-precision teacher, on `device`.
    pub teacher: &'a Llama,
    /// Directory of the student's starting checkpoint (compressed).
    pub student_dir: &'a Path,
    /// The student's configuration and quantization config (what checkpoints record).
    pub cfg: &'a LlamaConfig,
    /// The student's `quantization_config`.
    pub qc: &'a QuantizationConfig,
    /// Special tokens written into checkpoints.
    pub special: SpecialTokens,
    /// `tokenizer.json` copied into every checkpoint.
    pub tokenizer: Option<PathBuf>,
    /// Attach probes (the optimizer updates codes).
    pub probes: bool,
    /// Training tokens and held-out tokens.
    pub train: &'a [u32],
    /// Held-out tokens (validation).
    pub val: &'a [u32],
    /// Micro-batch sampler over `train`.
    pub sampler: Sampler,
    /// Validation windows (the full batch) over `val`.
    pub val_sampler: Sampler,
    /// Validation batches per evaluation.
    pub eval_batches: usize,
    /// Micro-batches per optimizer step.
    pub micro_batches: usize,
    /// The training loss.
    pub loss: DistillLoss,
    /// Inference device (teacher, evaluation).
    pub device: Device,
}

/// KL(p ‖ q) per token, mean over tokens, from log-probabilities `[b, s, v]` (p constant).
pub fn kl_divergence(teacher_logp: Tensor<3>, student_logp: Tensor<3>) -> Tensor<1> {
    let p = teacher_logp.clone().exp();
    p.mul(teacher_logp.sub(student_logp)).sum_dim(2).mean()
}

fn write_err(path: &Path, e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

impl DistillTask<'_> {
    /// The student of checkpoint `dir` on the autodiff device `ad`, trainable, with probes if
    /// the codes train.
    fn student_from(&self, dir: &Path, ad: &Device) -> Result<Llama, TrainError> {
        let loaded = load_dir(dir, &self.device)?;
        let model = loaded.model.fork(ad).train();
        if !self.probes {
            return Ok(model);
        }
        Ok(model.map_linears(|_, mut l| {
            if let lowbit_nn::weight::WeightRepr::Coded(c) = l.weight {
                l.weight = lowbit_nn::weight::WeightRepr::Coded(c.with_probe(true, ad));
            }
            Ok(l)
        })?)
    }

    /// Teacher log-probabilities of `inputs` (`rows` sequences), moved to `device`.
    fn teacher_logp(
        &self,
        inputs: &[u32],
        rows: usize,
        device: &Device,
    ) -> Result<Tensor<3>, TrainError> {
        let logits = self
            .teacher
            .forward(tokens_tensor(inputs, rows, &self.device))?;
        Ok(log_softmax(logits, 2).to_device(device))
    }

    /// Mean student cross-entropy and mean KL to the teacher over the validation batches.
    fn validation(&self, model: &Llama) -> Result<(f64, f64), TrainError> {
        let (mut ce, mut kl, mut n) = (0.0, 0.0, 0usize);
        for i in 0..self.eval_batches.max(1) {
            let Batch { inputs, targets } = self.val_sampler.val_batch(self.val, i)?;
            let rows = inputs.len() / self.val_sampler.seq_len;
            let logits = model.forward(tokens_tensor(&inputs, rows, &self.device))?;
            let t = self.teacher_logp(&inputs, rows, &self.device)?;
            kl += scalar(kl_divergence(t, log_softmax(logits.clone(), 2)))?;
            ce += scalar(cross_entropy(
                logits,
                tokens_tensor(&targets, rows, &self.device),
            ))?;
            n += 1;
        }
        Ok((ce / n as f64, kl / n as f64))
    }
}

/// `model` without probes (what a checkpoint stores).
fn without_probes(model: &Llama) -> Result<Llama, TrainError> {
    Ok(model.clone().map_linears(|_, mut l| {
        if let lowbit_nn::weight::WeightRepr::Coded(c) = l.weight {
            let device = c.decode().device();
            l.weight = lowbit_nn::weight::WeightRepr::Coded(c.with_probe(false, &device));
        }
        Ok(l)
    })?)
}

impl Task for DistillTask<'_> {
    type Model = Llama;

    fn name(&self) -> &'static str {
        match self.loss {
            DistillLoss::Kl => "kl",
            DistillLoss::Ce => "ce",
        }
    }

    fn tokens_per_step(&self) -> u64 {
        (self.sampler.batch * self.sampler.seq_len * self.micro_batches) as u64
    }

    fn init_model(&self, device: &Device) -> Result<Llama, TrainError> {
        self.student_from(self.student_dir, device)
    }

    fn load_model(&self, dir: &Path, device: &Device) -> Result<Llama, TrainError> {
        self.student_from(dir, device)
    }

    /// A compressed checkpoint directory plus tokenizer.json.
    fn save_model(&self, model: &Llama, dir: &Path) -> Result<(), CheckpointError> {
        let plain = without_probes(model)
            .map_err(|e| write_err(dir, e))?
            .valid();
        let opts = SaveOptions {
            special: self.special.clone(),
            ..SaveOptions::default()
        };
        save_compressed_dir(&plain, self.cfg, self.qc, dir, &opts)
            .map_err(|e| write_err(dir, e))?;
        if let Some(t) = &self.tokenizer {
            let to = dir.join("tokenizer.json");
            std::fs::copy(t, &to).map_err(|e| write_err(&to, e))?;
        }
        Ok(())
    }

    fn loss(&self, model: &Llama, micro: u64, device: &Device) -> Result<Tensor<1>, TrainError> {
        let b = self.sampler.batch(self.train, micro, "train")?;
        let rows = self.sampler.batch;
        let logits = model.forward(tokens_tensor(&b.inputs, rows, device))?;
        Ok(match self.loss {
            DistillLoss::Kl => {
                let t = self.teacher_logp(&b.inputs, rows, device)?;
                kl_divergence(t, log_softmax(logits, 2))
            }
            DistillLoss::Ce => cross_entropy(logits, tokens_tensor(&b.targets, rows, device)),
        })
    }

    /// `val_loss` is the student's held-out cross-entropy (so `val_ppl` is its perplexity);
    /// `val_kl` the mean KL to the teacher on the same windows.
    fn evaluate(&self, model: &Llama, _device: &Device) -> Result<Evaluation, TrainError> {
        let (ce, kl) = self.validation(model)?;
        let mut e = Evaluation {
            loss: ce,
            ..Evaluation::default()
        };
        e.scalars.insert("val_kl".into(), kl);
        Ok(e)
    }
}
