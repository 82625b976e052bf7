//! One linear through one post-training method: the latent weight (and its calibration
//! Hessian) in, a coded [`CompressedLinear`] and its relative output error out.

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use clap::ValueEnum;
use lowbit_formats::{CodedParts, Format, VqSpec};
use lowbit_nn::hf::CodedLayer;
use lowbit_nn::weight::{CodedWeight, ScalarCodes, VqCodes, WeightRepr};
use lowbit_nn::{CompressedLinear, NnError};
use lowbit_ptq::{
    AqlmOptions, FormatQuantizer, GptqOptions, MrGptqOptions, ScaleSearch, aqlm, mr_gptq,
    relative_output_error,
};
use serde::Serialize;

/// A post-training compression method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Round to nearest: the format's own encoder (no calibration needed).
    Rtn,
    /// GPTQ (Frantar et al. 2023, Alg. 1).
    Gptq,
    /// MR-GPTQ (Egiazarian et al. 2025): block Hadamard rotation fused into the weights, online
    /// activation rotation, MSE block-scale search, GPTQ in the rotated basis.
    MrGptq,
    /// AQLM (Egiazarian et al. 2024): additive vector quantization `vq:MxBgG`.
    Aqlm,
}

impl Method {
    /// The name in `quantization_config.method` and `compress.jsonl`.
    pub fn name(self) -> &'static str {
        match self {
            Method::Rtn => "rtn",
            Method::Gptq => "gptq",
            Method::MrGptq => "mr-gptq",
            Method::Aqlm => "aqlm",
        }
    }

    /// Whether the method reads calibration inputs.
    pub fn calibrated(self) -> bool {
        self != Method::Rtn
    }
}

/// What a layer is coded into.
#[derive(Debug, Clone)]
pub enum Target {
    /// A scalar lowbit format.
    Scalar(Format),
    /// An additive VQ format.
    Vq(VqSpec),
}

impl Target {
    /// The format name as `quantization_config` records it.
    pub fn name(&self) -> String {
        match self {
            Target::Scalar(f) => f.name(),
            Target::Vq(v) => v.to_string(),
        }
    }

    /// Values per block along d_in (the divisibility every layer must meet).
    pub fn block(&self) -> usize {
        match self {
            Target::Scalar(f) => f.block_size(),
            Target::Vq(v) => v.group,
        }
    }
}

/// Options shared by the calibrated methods.
#[derive(Debug, Clone, Serialize)]
pub struct MethodOptions {
    /// GPTQ relative damping (`percdamp`).
    pub damp: f32,
    /// GPTQ lazy-block size.
    pub block_size: usize,
    /// GPTQ column order by decreasing H_ii, with static groups.
    pub act_order: bool,
    /// MR-GPTQ's Hadamard block (`None`: the format's block).
    pub hadamard_block: Option<usize>,
    /// MR-GPTQ's block-scale choice: FP-Quant's MSE search (`true`) or absmax.
    pub mse_scales: bool,
    /// AQLM beam size (the official code's `beam_size`).
    pub beam_size: usize,
    /// AQLM: most alternations of Adam steps and beam search per layer.
    pub max_epochs: usize,
    /// AQLM: Adam steps on codebooks and scales per alternation.
    pub steps_per_epoch: usize,
    /// AQLM: stop when an alternation improves the objective by less than this fraction.
    pub relative_tolerance: f64,
    /// AQLM seed (k-means start, optional shuffles).
    pub seed: u64,
}

/// A coded layer and what it cost.
pub struct Coded {
    /// The coded layer (same name).
    pub layer: CompressedLinear,
    /// Its `quantization_config` entry.
    pub spec: CodedLayer,
    /// ‖(W − Ŵ)Xᵀ‖² / ‖WXᵀ‖² on the calibration inputs (`None` without calibration).
    pub rel_error: Option<f64>,
}

/// The latent f32 weight of `l`, row-major `[d_out, d_in]`.
pub fn host_weight(l: &CompressedLinear) -> Result<Vec<f32>> {
    let WeightRepr::Latent(w) = &l.weight else {
        bail!("{} is already coded", l.name);
    };
    w.weight
        .val()
        .into_data()
        .try_into_vec_as::<f32>()
        .map_err(|e| anyhow::anyhow!("cannot read {}.weight: {e:?}", l.name))
}

/// `l` holding `parts` (codes of the weight in the basis rotated by `hadamard_block`).
fn scalar_layer(
    l: &CompressedLinear,
    parts: &CodedParts,
    hadamard_block: usize,
    device: &Device,
) -> Result<CompressedLinear, NnError> {
    let codes = ScalarCodes::from_parts(parts, device)?;
    Ok(CompressedLinear {
        weight: WeightRepr::Coded(CodedWeight::Scalar(codes)),
        bias: l.bias.clone(),
        input_step: None,
        hadamard_block,
        // A QAT source's online activation quantization is kept.
        input_format: l.input_format.clone(),
        estimator: l.estimator,
        name: l.name.clone(),
    })
}

/// Checks that `method` can produce `target` (before anything is written).
pub fn check_compatible(method: Method, target: &Target) -> Result<()> {
    match (method, target) {
        (Method::Aqlm, Target::Scalar(f)) => bail!(
            "AQLM learns vector codebooks: give a `vq:MxBgG` format (e.g. vq:1x16g8, vq:2x8g8), not `{}`",
            f.name()
        ),
        (m, Target::Vq(v)) if m != Method::Aqlm => bail!(
            "`{}` is a vector-quantization format; only --method aqlm learns it (rtn/gptq/mr-gptq take scalar formats)",
            v
        ),
        (Method::Gptq | Method::MrGptq, Target::Scalar(f)) => {
            FormatQuantizer::new(f.clone())
                .with_context(|| format!("--method {} over `{}`", method.name(), f.name()))?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Compresses `l` with `method` into `target`; `h` is the layer's calibration Hessian
/// (`[d_in, d_in]`, required by every method but RTN).
pub fn compress_linear(
    l: &CompressedLinear,
    h: Option<&[f32]>,
    target: &Target,
    method: Method,
    opts: &MethodOptions,
    device: &Device,
) -> Result<Coded> {
    let [rows, cols] = l.weight.dims();
    let w = host_weight(l)?;
    let spec = CodedLayer {
        weight: target.name(),
        input: l.input_format.as_ref().map(Format::name),
        hadamard_block: 0,
    };
    let error = |w_hat: &[f32]| -> Result<Option<f64>> {
        h.map(|h| relative_output_error(&w, w_hat, rows, cols, h))
            .transpose()
            .with_context(|| format!("output error of {}", l.name))
    };
    match (method, target) {
        (Method::Rtn, Target::Scalar(f)) => {
            let parts = f.coded_parts(&f.encode(&w, cols)?)?;
            let w_hat = parts.decode();
            Ok(Coded {
                layer: scalar_layer(l, &parts, 0, device)?,
                spec,
                rel_error: error(&w_hat)?,
            })
        }
        (Method::Gptq, Target::Scalar(f)) => {
            let h = h.context("GPTQ needs calibration inputs")?;
            let mut q = FormatQuantizer::new(f.clone())
                .with_context(|| format!("{}: GPTQ over `{}`", l.name, f.name()))?;
            let o = GptqOptions {
                block_size: opts.block_size,
                damp: opts.damp,
                act_order: opts.act_order,
                static_groups: opts.act_order,
                ..GptqOptions::default()
            };
            let r = lowbit_ptq::gptq(&w, rows, cols, h, &mut q, &o)
                .with_context(|| format!("GPTQ of {}", l.name))?;
            let parts = r.coded_parts(&q)?;
            Ok(Coded {
                layer: scalar_layer(l, &parts, 0, device)?,
                spec,
                rel_error: error(&r.w_hat)?,
            })
        }
        (Method::MrGptq, Target::Scalar(f)) => {
            let h = h.context("MR-GPTQ needs calibration inputs")?;
            let b = opts.hadamard_block.unwrap_or(f.block_size());
            if !b.is_power_of_two() || cols % b != 0 {
                bail!(
                    "{}: the Hadamard block {b} must be a power of two dividing d_in {cols} \
                     (set --hadamard-block)",
                    l.name
                );
            }
            let mut q = FormatQuantizer::new(f.clone())
                .with_context(|| format!("{}: MR-GPTQ over `{}`", l.name, f.name()))?;
            let o = MrGptqOptions {
                rotation_block: Some(b),
                scale_search: if opts.mse_scales {
                    ScaleSearch::FP_QUANT
                } else {
                    ScaleSearch::Absmax
                },
                gptq: GptqOptions {
                    block_size: opts.block_size,
                    damp: opts.damp,
                    act_order: opts.act_order,
                    static_groups: true,
                    ..GptqOptions::default()
                },
            };
            let r = mr_gptq(&w, rows, cols, h, &mut q, &o)
                .with_context(|| format!("MR-GPTQ of {}", l.name))?;
            let parts = r.coded_parts(&q)?;
            Ok(Coded {
                layer: scalar_layer(l, &parts, b, device)?,
                spec: CodedLayer {
                    hadamard_block: b,
                    ..spec
                },
                rel_error: error(&r.w_hat_original()?)?,
            })
        }
        (Method::Aqlm, Target::Vq(v)) => {
            let h = h.context("AQLM needs calibration inputs")?;
            // AQLM's objective uses XᵀX/n (Vahe1994/AQLM `get_leave_one_out_error` callers);
            // GPTQ's Hessian is twice that.
            let xtx: Vec<f32> = h.iter().map(|&x| 0.5 * x).collect();
            let o = AqlmOptions {
                beam_size: opts.beam_size,
                max_epochs: opts.max_epochs,
                steps_per_epoch: opts.steps_per_epoch,
                relative_tolerance: Some(opts.relative_tolerance),
                seed: opts.seed,
                ..AqlmOptions::for_format(&v.to_string())?
            };
            let r =
                aqlm(&w, rows, cols, &xtx, &o).with_context(|| format!("AQLM of {}", l.name))?;
            let dims = [rows, cols, v.num_codebooks, v.codebook_size(), v.group];
            let codes = VqCodes::new(
                r.codes.clone(),
                r.codebooks.clone(),
                r.scales.clone(),
                dims,
                device,
            )?;
            Ok(Coded {
                layer: CompressedLinear {
                    weight: WeightRepr::Coded(CodedWeight::Vq(codes)),
                    bias: l.bias.clone(),
                    input_step: None,
                    hadamard_block: 0,
                    input_format: l.input_format.clone(),
                    estimator: l.estimator,
                    name: l.name.clone(),
                },
                spec,
                rel_error: error(&r.w_hat)?,
            })
        }
        (Method::Aqlm, Target::Scalar(f)) => bail!(
            "AQLM learns vector codebooks: give a `vq:MxBgG` format (e.g. vq:1x16g8, vq:2x8g8), not `{}`",
            f.name()
        ),
        (Method::Rtn | Method::Gptq | Method::MrGptq, Target::Vq(v)) => bail!(
            "`{}` is a vector-quantization format; only --method aqlm learns it (rtn/gptq/mr-gptq take scalar formats)",
            v
        ),
    }
}
