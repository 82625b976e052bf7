//! The step loop is generic: a task that is not language modelling (least-squares regression of
//! a compressed linear layer) gets the same checkpoints and bit-identical resume.

use super::*;
use crate::checkpoint::CheckpointError;
use crate::recipe::NonFinitePolicy;
use crate::schedule::OneCycle;
use burn::tensor::{Device, Tensor, TensorData};
use lowbit_nn::hf::{load_state_dict, read_safetensors, state_dict, write_safetensors};
use lowbit_nn::{CompressedLinear, CompressedLinearConfig};
use lowbit_optim::{AdamW, AdamWConfig};
use std::path::Path;

/// Fit `y = x·W*ᵀ` with an NVFP4-weight linear; micro-batch `k`'s inputs are a pure function of k.
struct Regression;

fn batch(k: u64, device: &Device) -> (Tensor<2>, Tensor<2>) {
    let x: Vec<f32> = (0..8 * 16)
        .map(|i| ((i as u64 * 31 + k * 17) % 29) as f32 / 14.0 - 1.0)
        .collect();
    let w: Vec<f32> = (0..4 * 16)
        .map(|i| ((i * 7) % 11) as f32 / 5.0 - 1.0)
        .collect();
    let x = Tensor::<1>::from_data(TensorData::new(x, [128]), device).reshape([8, 16]);
    let w = Tensor::<1>::from_data(TensorData::new(w, [64]), device).reshape([4, 16]);
    let y = x.clone().matmul(w.transpose());
    (x, y)
}

fn layer(device: &Device) -> CompressedLinear {
    CompressedLinearConfig::new(16, 4)
        .with_weight(Some("nvfp4".into()))
        .with_init_std(0.1)
        .init(device)
        .unwrap()
}

impl Task for Regression {
    type Model = CompressedLinear;
    fn name(&self) -> &'static str {
        "regression"
    }
    fn tokens_per_step(&self) -> u64 {
        8
    }
    fn init_model(&self, device: &Device) -> Result<CompressedLinear, TrainError> {
        // A fixed start (not Burn's global RNG), so two runs begin equal.
        let m = layer(device);
        let mut sd = state_dict(&m)?;
        let v: Vec<f32> = (0..64)
            .map(|i| ((i * 5) % 13) as f32 / 60.0 - 0.1)
            .collect();
        sd.insert(
            "model.weight".into(),
            lowbit_nn::hf::HostTensor::f32(vec![4, 16], v),
        );
        Ok(load_state_dict(m, &sd)?)
    }
    fn load_model(&self, dir: &Path, device: &Device) -> Result<CompressedLinear, TrainError> {
        let t = read_safetensors(&dir.join("model.safetensors"))?;
        Ok(load_state_dict(layer(device), &t)?)
    }
    fn save_model(&self, model: &CompressedLinear, dir: &Path) -> Result<(), CheckpointError> {
        let p = dir.join("model.safetensors");
        let w = |e: lowbit_nn::NnError| CheckpointError::Write {
            path: p.clone(),
            reason: e.to_string(),
        };
        write_safetensors(&p, &state_dict(model).map_err(w)?, Default::default()).map_err(w)
    }
    fn loss(&self, m: &CompressedLinear, k: u64, d: &Device) -> Result<Tensor<1>, TrainError> {
        let (x, y) = batch(k, d);
        Ok((m.forward(x)? - y).powi_scalar(2).mean())
    }
    fn evaluate(&self, m: &CompressedLinear, d: &Device) -> Result<Evaluation, TrainError> {
        let loss = lm::scalar(self.loss(m, 1_000_000, d)?)?;
        Ok(Evaluation {
            loss,
            scalars: Default::default(),
        })
    }
}

fn run(dir: &Path, resume: Resume, stop_after: Option<u64>) -> TrainSummary {
    let steps = 8;
    let spec = TaskRun {
        loop_cfg: LoopConfig {
            steps,
            schedule: OneCycle {
                max_lr: 3e-2,
                total: steps,
                warmup_frac: 0.25,
                initial_div: 10.0,
                final_frac: 0.1,
            },
            micro_batches: 2,
            grad_clip: 1.0,
            on_non_finite: NonFinitePolicy::Stop,
            eval_every: 4,
            log_every: 1,
            checkpoint_every: 2,
        },
        optimizer: Box::new(AdamW::new(AdamWConfig {
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.1,
            weight_decay_rule: Default::default(),
        })),
        keep_last: 3,
        recipe_toml: "# regression\n",
        fresh_state: TrainState {
            version: 1,
            step: 0,
            optimizer_steps: 0,
            tokens_seen: 0,
            sampler: SamplerState {
                cursor: 0,
                micro_batch: 8,
                micro_batches: 2,
                seq_len: 1,
            },
            rng: RngState {
                init_seed: 0,
                data_seed: 0,
            },
            grids: Default::default(),
            recipe_sha256: String::new(),
            lowbit_version: "test".into(),
            burn_version: BURN_VERSION.into(),
            last_loss: None,
            last_val_loss: None,
        },
        devices: vec![Device::flex()],
    };
    let mut opts = TrainOptions::new(dir);
    opts.resume = resume;
    opts.progress = Progress::Quiet;
    opts.stop_after = stop_after;
    train_task(&Regression, spec, &opts, &mut NoResumeCheck).unwrap()
}

fn losses(dir: &Path) -> Vec<String> {
    // metrics.jsonl minus the wall-clock fields.
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("tok_s");
            v.to_string()
        })
        .collect()
}

#[test]
fn a_non_lm_task_trains_checkpoints_and_resumes_bit_identically() {
    let a = tempfile::tempdir().unwrap();
    let whole = run(a.path(), Resume::Never, None);
    assert_eq!(whole.steps, 8);
    let first = losses(a.path());
    let l0: f64 = serde_json::from_str::<serde_json::Value>(&first[0]).unwrap()["loss"]
        .as_f64()
        .unwrap();
    assert!(
        whole.final_loss.unwrap() < 0.8 * l0,
        "{l0} → {:?}",
        whole.final_loss
    );
    let b = tempfile::tempdir().unwrap();
    let part = run(b.path(), Resume::Never, Some(3));
    assert!(part.interrupted && part.steps == 3);
    let rest = run(b.path(), Resume::Auto, None);
    assert_eq!(rest.steps, 8);
    assert_eq!(
        rest.final_loss.map(f64::to_bits),
        whole.final_loss.map(f64::to_bits)
    );
    assert_eq!(
        rest.val_loss.map(f64::to_bits),
        whole.val_loss.map(f64::to_bits)
    );
    assert_eq!(losses(b.path()), first, "metrics of the resumed run");
    let ma = read_safetensors(&whole.checkpoint.unwrap().join("model.safetensors")).unwrap();
    let mb = read_safetensors(&rest.checkpoint.unwrap().join("model.safetensors")).unwrap();
    assert_eq!(ma, mb, "final weights bit for bit");
}
