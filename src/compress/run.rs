//! The block-by-block compression loop (see the module doc of `compress`).

use super::calib::{Hessians, read_windows, token_tensor};
use super::finetune::{FinetuneOptions, block_tensors, finetune_block, restore_block};
use super::method::{Coded, MethodOptions, Target, check_compatible, compress_linear};
use super::progress::{BlockRecord, ProgressDir, write_jsonl};
use super::{CompressArgs, DtypeArg};
use crate::eval_cmd::load_checkpoint;
use crate::train_cmd::ProgressArg;
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lowbit_formats::{Format, GridRegistry, VqSpec};
use lowbit_nn::CompressedLinear;
use lowbit_nn::capture::with_recorder;
use lowbit_nn::hf::{
    QuantizationConfig, SaveOptions, StoreDtype, linear_tensors, load_coded_linear,
    save_compressed_dir,
};
use lowbit_nn::llama::{Llama, compile_globs};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

fn registry(dir: &Path) -> Result<GridRegistry> {
    let reg = GridRegistry::builtin();
    Ok(if dir.is_dir() {
        reg.with_dir(dir)?
    } else {
        reg
    })
}

fn target(name: &str, reg: &GridRegistry) -> Result<Target> {
    if name.starts_with("vq:") {
        return Ok(Target::Vq(VqSpec::parse(name)?));
    }
    let f = Format::parse_with(name, reg)
        .with_context(|| "--format (`lowbit formats list` shows valid names)".to_string())?;
    Ok(Target::Scalar(f))
}

fn bar(mode: ProgressArg, total: u64) -> Option<ProgressBar> {
    if mode != ProgressArg::Auto || !std::io::stderr().is_terminal() {
        return None;
    }
    let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {pos}/{len} layers, ETA {eta_precise} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    b.set_style(style);
    Some(b)
}

/// Runs `lowbit compress`.
pub fn run(a: CompressArgs) -> Result<()> {
    let started = Instant::now();
    let device = lowbit_train::device::parse_device(&a.device)?;
    let reg = registry(&a.grids_dir)?;
    let tgt = target(&a.format, &reg)?;
    check_compatible(a.method, &tgt)?;
    let ck = load_checkpoint(&a.checkpoint, &device)?;
    if ck.loaded.quantization.is_some() {
        bail!(
            "{} is already a compressed checkpoint; compress its full-precision source",
            ck.loaded.dir.display()
        );
    }
    let include = if a.include.is_empty() {
        vec!["model.layers.*".to_string()]
    } else {
        a.include.clone()
    };
    let (inc, exc) = (
        compile_globs("include", &include)?,
        compile_globs("exclude", &a.exclude)?,
    );
    let selected = |n: &str| inc.iter().any(|p| p.matches(n)) && !exc.iter().any(|p| p.matches(n));
    let model = ck.loaded.model;
    let chosen: Vec<String> = model
        .linears()
        .iter()
        .map(|l| l.name.clone())
        .filter(|n| selected(n))
        .collect();
    if chosen.is_empty() {
        bail!(
            "--include / --exclude select no linear (names look like model.layers.0.mlp.up_proj)"
        );
    }
    for l in model
        .linears()
        .into_iter()
        .filter(|l| chosen.contains(&l.name))
    {
        // A QAT source that rotates online holds W, not W·H; LSQ's step is not a format scale.
        if l.hadamard_block > 0 {
            bail!(
                "{} rotates its input online (Hadamard block {}); compressing a rotated QAT layer \
                 is not supported: --exclude it, or compress the full-precision source",
                l.name,
                l.hadamard_block
            );
        }
        if l.weight.latent().is_some_and(|w| w.weight_step.is_some()) {
            bail!(
                "{} learned an LSQ step; its codes are not a format's: --exclude it",
                l.name
            );
        }
    }
    for l in model.linears() {
        let d_in = l.weight.dims()[1];
        if chosen.contains(&l.name) && d_in % tgt.block() != 0 {
            bail!(
                "{}: d_in {d_in} is not a multiple of the block {} of `{}`; pick a block that divides \
                 it (e.g. `{}:block=N`) or --exclude the layer",
                l.name,
                tgt.block(),
                tgt.name(),
                a.format.split(':').next().unwrap_or(&a.format)
            );
        }
    }
    let out = &a.out;
    if out.join("config.json").is_file() && !a.force {
        bail!(
            "{} already holds a checkpoint; add --force to overwrite it",
            out.display()
        );
    }
    // Calibration tokens.
    let c = &a.calib;
    let calib = match (&c.calib_text, a.method.calibrated()) {
        (Some(p), _) => Some(read_windows(
            &ck.tokenizer,
            p,
            c.calib_samples,
            c.calib_seq_len,
        )?),
        (None, true) => bail!(
            "--method {} needs calibration text: add --calib-text FILE",
            a.method.name()
        ),
        (None, false) => None,
    };
    let ft = FinetuneOptions {
        epochs: a.finetune_epochs,
        lr: a.finetune_lr,
        batch: a.finetune_batch,
        patience: a.finetune_patience,
        seed: a.seed,
    };
    if ft.epochs > 0 && a.method != super::Method::Aqlm {
        bail!(
            "--finetune-epochs is AQLM's block fine-tuning (codebooks, row scales, norms); the \
             block scales of scalar formats must stay representable in their stored type \
             (E4M3, E8M0, …), so it is not offered with --method {}: drop --finetune-epochs",
            a.method.name()
        );
    }
    if ft.epochs > 0 && calib.is_none() {
        bail!(
            "--finetune-epochs fits blocks to their full-precision outputs on calibration text: add --calib-text FILE"
        );
    }
    let opts = MethodOptions {
        damp: a.damp,
        block_size: a.block_size,
        act_order: a.act_order,
        hadamard_block: a.hadamard_block,
        mse_scales: !a.absmax_scales,
        beam_size: a.beam_size,
        max_epochs: a.max_epochs,
        steps_per_epoch: a.steps_per_epoch,
        relative_tolerance: a.relative_tolerance,
        seed: a.seed,
    };
    let settings = json!({
        "checkpoint": std::fs::canonicalize(&ck.loaded.dir)?.display().to_string(),
        "format": tgt.name(),
        "method": a.method.name(),
        "calib_text": c.calib_text.as_ref().map(|p| p.display().to_string()),
        "calib_tokens": calib.as_ref().map(|c| c.len()),
        "calib_samples": c.calib_samples,
        "calib_seq_len": c.calib_seq_len,
        "options": serde_json::to_value(&opts)?,
        "finetune": serde_json::to_value(ft)?,
        "layers": chosen,
    });
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let progress = ProgressDir::open(out, &settings, a.force)?;
    let pb = bar(a.progress, chosen.len() as u64);
    let say = |m: String| match &pb {
        Some(b) => b.println(m),
        None if a.progress != ProgressArg::Quiet => eprintln!("{m}"),
        None => {}
    };

    let rope = model.rope().clone();
    let mut h = match &calib {
        Some(t) => Some(model.embed(token_tensor(t, c.calib_samples, &device))?),
        None => None,
    };
    let n_blocks = model.layers.len();
    let mut model = model;
    let mut qc = QuantizationConfig::new(a.method.name());
    qc.grids = reg.used_by(&[tgt.name().as_str()]);
    let mut records = Vec::new();
    let mut done_layers = 0u64;
    for i in 0..n_blocks {
        let prefix = format!("model.layers.{i}.");
        let names: Vec<String> = chosen
            .iter()
            .filter(|n| n.starts_with(&prefix))
            .cloned()
            .collect();
        if let Some((tensors, rec)) = progress.load(i)? {
            // Resume: restore the block's coded layers as they were saved.
            model = model.map_linears(|name, l| match rec.layers.get(name) {
                Some(spec) => load_coded_linear(l, spec, &reg, &tensors, &device),
                None => Ok(l),
            })?;
            if rec.records.iter().any(|r| r.get("finetune").is_some()) {
                let b = model.layers[i].clone();
                model.layers[i] = restore_block(b, i, &tensors)?;
            }
            qc.layers.extend(rec.layers);
            records.extend(rec.records);
            done_layers += names.len() as u64;
            if let Some(b) = &pb {
                b.set_position(done_layers);
            }
            if let Some(x) = h.take() {
                h = Some(model.layers[i].forward(x, &rope)?);
            }
            continue;
        }
        if let Some(stop) = a.stop_after_blocks
            && i >= stop
        {
            say(format!(
                "stopped after {stop} blocks; rerun the same command to resume"
            ));
            return Ok(());
        }
        // One full-precision pass of the block: every linear's inputs.
        // Its output is the fine-tuning target.
        let (hess, target_out) = match &h {
            Some(x) => {
                let (pass, rec) = with_recorder(Hessians::default(), || {
                    model.layers[i].forward(x.clone(), &rope)
                })?;
                (Some(rec), Some(pass?))
            }
            None => (None, None),
        };
        let mut coded: BTreeMap<String, CompressedLinear> = BTreeMap::new();
        let mut block = BlockRecord {
            layers: BTreeMap::new(),
            records: Vec::new(),
        };
        for l in model
            .linears()
            .into_iter()
            .filter(|l| names.contains(&l.name))
        {
            let t0 = Instant::now();
            let hm = hess.as_ref().map(|r| r.hessian(&l.name)).transpose()?;
            let Coded {
                layer,
                spec,
                rel_error,
            } = compress_linear(
                l,
                hm.as_ref().map(|(h, _)| h.as_slice()),
                &tgt,
                a.method,
                &opts,
                &device,
            )?;
            let [rows, cols] = l.weight.dims();
            let r = json!({
                "block": i,
                "layer": l.name,
                "method": a.method.name(),
                "format": tgt.name(),
                "rows": rows,
                "cols": cols,
                "rel_error": rel_error,
                "seconds": t0.elapsed().as_secs_f64(),
            });
            let line = format!(
                "{}: rel. output error {}  ({:.2} s)",
                l.name,
                rel_error.map_or("-".into(), |e| format!("{e:.3e}")),
                t0.elapsed().as_secs_f64()
            );
            say(line);
            block.records.push(r);
            block.layers.insert(l.name.clone(), spec);
            coded.insert(l.name.clone(), layer);
            done_layers += 1;
            if let Some(b) = &pb {
                b.set_position(done_layers);
            }
        }
        let coded_names: Vec<String> = coded.keys().cloned().collect();
        model = replace(model, coded)?;
        let mut tensors = BTreeMap::new();
        match (&h, target_out) {
            (Some(x), Some(y)) if ft.epochs > 0 => {
                let b = model.layers[i].clone();
                let (b, rec) = finetune_block(b, x, &y, &rope, &ft, i, &device)?;
                say(format!(
                    "block {i}: fine-tuned {} epochs, block MSE {:.3e} -> {:.3e} ({:.1} s)",
                    rec.epochs, rec.loss_before, rec.loss_after, rec.seconds
                ));
                model.layers[i] = b;
                tensors = block_tensors(&model.layers[i], i)?;
                block
                    .records
                    .push(json!({"block": i, "finetune": serde_json::to_value(&rec)?}));
            }
            _ => {
                for l in model
                    .linears()
                    .iter()
                    .filter(|l| coded_names.contains(&l.name))
                {
                    tensors.extend(linear_tensors(l)?);
                }
            }
        }
        if let Some(x) = h.take() {
            h = Some(model.layers[i].forward(x, &rope)?);
        }
        progress.save(i, &tensors, &block)?;
        qc.layers.extend(block.layers);
        records.extend(block.records);
        write_jsonl(&out.join("compress.jsonl"), &records)?;
    }
    if let Some(b) = &pb {
        b.finish_and_clear();
    }
    qc.details = json!({
        "calib_text": settings["calib_text"],
        "calib_samples": c.calib_samples,
        "calib_seq_len": c.calib_seq_len,
        "options": settings["options"],
        "source": settings["checkpoint"],
    });
    let save = SaveOptions {
        dtype: match a.dtype {
            DtypeArg::F32 => StoreDtype::F32,
            DtypeArg::Bf16 => StoreDtype::Bf16,
        },
        special: ck.loaded.special.clone(),
    };
    let written = save_compressed_dir(&model, &ck.loaded.config, &qc, out, &save)?;
    crate::export_cmd::copy_side_files(&ck.loaded.dir, out)?;
    write_jsonl(&out.join("compress.jsonl"), &records)?;
    progress.finish()?;
    let secs = started.elapsed().as_secs_f64();
    let mean_err = {
        let e: Vec<f64> = records
            .iter()
            .filter_map(|r| r["rel_error"].as_f64())
            .collect();
        (!e.is_empty()).then(|| e.iter().sum::<f64>() / e.len() as f64)
    };
    if a.json {
        println!(
            "{}",
            json!({"out": out.display().to_string(), "method": a.method.name(), "format": tgt.name(),
                   "layers": written.layers.len(), "bits_per_value": written.bits_per_value,
                   "mean_rel_error": mean_err, "seconds": secs})
        );
    } else {
        println!(
            "compressed {} linears of {} with {} into {} ({:.4} bits/value, mean rel. output error {}) in {secs:.1} s",
            written.layers.len(),
            ck.loaded.dir.display(),
            a.method.name(),
            out.display(),
            written.bits_per_value,
            mean_err.map_or("-".into(), |e| format!("{e:.3e}")),
        );
    }
    Ok(())
}

/// `model` with the linears named in `coded` replaced.
fn replace(model: Llama, mut coded: BTreeMap<String, CompressedLinear>) -> Result<Llama> {
    Ok(model.map_linears(|name, l| Ok(coded.remove(name).unwrap_or(l)))?)
}
