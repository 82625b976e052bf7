//! `lowbit finetune --recipe pv-2bit --student DIR --teacher DIR --data-text FILE [--set k=v]...
//! [--run-name X] [--out DIR] [--resume auto|DIR]`: fine-tunes a compressed checkpoint towards
//! its full-precision source (PV-Tuning, STE or P-only; algorithms.md §4) on the shared step
//! loop, writing compressed checkpoints that eval / generate / export read.

use crate::train_cmd::ProgressArg;
use anyhow::{Context, Result, bail};
use clap::Args;
use lowbit_nn::hf::load_dir;
use lowbit_optim::pv::{LambConfig, PvOptimizer, VStepConfig};
use lowbit_optim::{AdamW, AdamWConfig, ParamGroup};
use lowbit_train::recipe::{FinetuneMethod, FinetuneRecipe, load_finetune_recipe};
use lowbit_train::trainer::{
    DistillTask, LoopConfig, ResumeCheck, TaskRun, TrainError, TrainState, train_task,
};
use std::path::{Path, PathBuf};

/// Arguments of `lowbit finetune`.
#[derive(Args)]
pub struct FinetuneArgs {
    /// Recipe name in recipes/finetune/ (pv-2bit, ste-2bit, p-only-2bit) or a .toml path.
    #[arg(long, default_value = "pv-2bit")]
    pub recipe: String,
    /// The compressed checkpoint to fine-tune (`lowbit compress` output, a run or step dir).
    #[arg(long)]
    pub student: PathBuf,
    /// Its full-precision source (the checkpoint `lowbit compress` read).
    #[arg(long)]
    pub teacher: PathBuf,
    /// UTF-8 training text (its end, `finetune.val_fraction` of the tokens, is held out unless
    /// --val-text is given).
    #[arg(long)]
    pub data_text: PathBuf,
    /// Held-out text for validation instead of the end of --data-text.
    #[arg(long)]
    pub val_text: Option<PathBuf>,
    /// Override a recipe value: `--set finetune.tau=0.05` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Run directory name under --out (default: the recipe name).
    #[arg(long)]
    pub run_name: Option<String>,
    /// Root of run directories.
    #[arg(long, default_value = "checkpoints")]
    pub out: PathBuf,
    /// `auto` continues from the newest complete checkpoint of the run; a path from that one.
    #[arg(long)]
    pub resume: Option<String>,
    /// Progress display.
    #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
    pub progress: ProgressArg,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Stop (with a checkpoint) after this many steps: for testing resume.
    #[arg(long, hide = true)]
    pub stop_after: Option<u64>,
}

/// The student and teacher must be the same network: same vocabulary, widths and linears.
fn check_pair(
    student: &lowbit_nn::llama::Llama,
    teacher: &lowbit_nn::llama::Llama,
    s: &Path,
    t: &Path,
) -> Result<()> {
    let (sl, tl) = (student.linears(), teacher.linears());
    if sl.len() != tl.len() {
        bail!(
            "--student {} has {} linears, --teacher {} has {}: pass the full-precision checkpoint the student was compressed from",
            s.display(),
            sl.len(),
            t.display(),
            tl.len()
        );
    }
    for (a, b) in sl.iter().zip(tl.iter()) {
        if a.name != b.name || a.weight.dims() != b.weight.dims() {
            bail!(
                "--student layer {} {:?} does not match --teacher layer {} {:?}: pass the checkpoint the student was compressed from",
                a.name,
                a.weight.dims(),
                b.name,
                b.weight.dims()
            );
        }
    }
    let (sv, tv) = (
        student.embed_tokens.weight.dims(),
        teacher.embed_tokens.weight.dims(),
    );
    if sv != tv {
        bail!("--student embedding {sv:?} differs from --teacher {tv:?} (another vocabulary?)");
    }
    Ok(())
}

/// The P-step's AdamW: the codes' continuous parameters and the rest, each trained or frozen.
fn p_step(r: &FinetuneRecipe) -> Result<AdamW> {
    let (t, f) = (&r.train, &r.finetune);
    let code_lr = if f.train_code_params { 1.0 } else { 0.0 };
    // The recipe's own groups first (the first matching group decides).
    let mut groups: Vec<ParamGroup> = f.groups.clone();
    groups.extend(
        [
            "*.weight_scale",
            "*.weight_zero_point",
            "*.weight_codebooks",
        ]
        .iter()
        .map(|p| ParamGroup::new(*p).with_lr_scale(code_lr)),
    );
    if !f.train_non_quantized {
        groups.push(ParamGroup::new("*").with_lr_scale(0.0));
    }
    Ok(AdamW::with_groups(
        AdamWConfig {
            beta1: t.beta1,
            beta2: t.beta2,
            eps: t.eps,
            weight_decay: t.weight_decay,
            weight_decay_rule: t.weight_decay_rule,
        },
        groups,
    )?)
}

/// A resumed run must cut the data the same way.
struct SameLayout {
    micro: usize,
    seq_len: usize,
}

impl ResumeCheck for SameLayout {
    fn after(&mut self, state: &mut TrainState) -> Result<(), TrainError> {
        if state.sampler.micro_batch != self.micro || state.sampler.seq_len != self.seq_len {
            return Err(TrainError::Unsupported {
                key: "train.batch_size".into(),
                message: format!(
                    "the checkpoint was fine-tuned with micro-batch {} × seq_len {}; resume with the same batch_size / grad_accum / seq_len",
                    state.sampler.micro_batch, state.sampler.seq_len
                ),
            });
        }
        Ok(())
    }
}

fn tokens(tk: &tokenizers::Tokenizer, path: &Path) -> Result<Vec<u32>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    crate::eval_cmd::encode(tk, &text)
}

/// Runs `lowbit finetune`.
pub fn run(a: FinetuneArgs) -> Result<()> {
    let recipe = load_finetune_recipe(&a.recipe, Path::new("recipes/finetune"), &a.sets)?;
    let (t, f) = (&recipe.train, &recipe.finetune);
    let devices = lowbit_train::device::parse_devices(&t.devices)
        .map_err(|e| anyhow::anyhow!("train.devices: {e}"))?;
    let device = devices.first().cloned().context("train.devices is empty")?;
    let student = crate::eval_cmd::load_checkpoint(&a.student, &device)?;
    let Some(qc) = student.loaded.quantization.clone() else {
        bail!(
            "--student {} is not a compressed checkpoint (no quantization_config); make one with `lowbit compress`",
            a.student.display()
        );
    };
    let teacher = load_dir(&a.teacher, &device)
        .with_context(|| format!("cannot load --teacher {}", a.teacher.display()))?;
    if teacher.quantization.is_some() {
        bail!(
            "--teacher {} is itself compressed; pass the full-precision source",
            a.teacher.display()
        );
    }
    check_pair(
        &student.loaded.model,
        &teacher.model,
        &a.student,
        &a.teacher,
    )?;
    let all = tokens(&student.tokenizer, &a.data_text)?;
    let (train, val) = match &a.val_text {
        Some(p) => (all, tokens(&student.tokenizer, p)?),
        None => {
            let cut = all.len() - ((all.len() as f64 * f.val_fraction) as usize);
            (all[..cut].to_vec(), all[cut..].to_vec())
        }
    };
    let need = t.seq_len + 1;
    if train.len() < need || val.len() < need {
        bail!(
            "--data-text {} gives {} training and {} held-out tokens; train.seq_len {} needs ≥ {need} of each (a longer text, --val-text, or a smaller seq_len)",
            a.data_text.display(),
            train.len(),
            val.len(),
            t.seq_len
        );
    }
    let micro_batches = t.grad_accum.max(1);
    let micro = t.batch_size / micro_batches;
    let sampler = lowbit_data::Sampler {
        seed: t.seed,
        batch: micro,
        seq_len: t.seq_len,
    };
    let v_step = (f.method != FinetuneMethod::POnly).then(|| VStepConfig {
        tau: f.tau_in_effect(),
        lamb: LambConfig {
            lr: f.code_lr,
            beta1: f.code_betas.0,
            beta2: f.code_betas.1,
            eps: f.code_eps,
        },
        beam_size: f.beam_size,
        delta_decay: f.delta(),
    });
    let task = DistillTask {
        teacher: &teacher.model,
        student_dir: &student.loaded.dir,
        cfg: &student.loaded.config,
        qc: &qc,
        special: student.loaded.special.clone(),
        tokenizer: student.loaded.tokenizer.clone(),
        probes: v_step.is_some(),
        train: &train,
        val: &val,
        sampler,
        val_sampler: lowbit_data::Sampler {
            batch: t.batch_size,
            ..sampler
        },
        eval_batches: recipe.eval.batches,
        micro_batches,
        loss: f.loss,
        device: device.clone(),
    };
    let text = toml::to_string(&recipe).context("cannot serialise the resolved recipe")?;
    let run_name = a.run_name.clone().unwrap_or_else(|| {
        Path::new(&a.recipe)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "finetune".into())
    });
    let mut opts =
        crate::train_cmd::run_options(a.out.join(&run_name), a.resume.as_deref(), a.progress)?;
    opts.stop_after = a.stop_after;
    let fresh_state = TrainState::fresh(t.seed, micro, micro_batches, t.seq_len);
    let run = TaskRun {
        loop_cfg: LoopConfig::from_sections(t, &recipe.eval, &recipe.log, &recipe.checkpoint),
        optimizer: Box::new(PvOptimizer::new(p_step(&recipe)?, v_step)),
        keep_last: recipe.checkpoint.keep_last,
        recipe_toml: &text,
        fresh_state,
        devices,
    };
    eprintln!(
        "finetune {} ({:?}) of {}: {} steps × {} tokens, {} train / {} held-out tokens",
        opts.run_dir.display(),
        f.method,
        student.loaded.dir.display(),
        t.steps,
        t.batch_size * t.seq_len,
        train.len(),
        val.len()
    );
    let mut check = SameLayout {
        micro,
        seq_len: t.seq_len,
    };
    let s = train_task(&task, run, &opts, &mut check)?;
    crate::train_cmd::finish(&s, a.json)
}
