//! `CompressedLinear`: a linear layer whose weight (and optionally input) pass through a
//! lowbit format on the forward pass, `y = Q_a(H x) · Q_w(W H)ᵀ + b` (QuEST §3, "HalfHadamard":
//! both operands rotated along the reduction dim, the product stays in the rotated basis since
//! H·Hᵀ = I). The weight is a [`WeightRepr`]: a latent f32 weight whose gradients flow through
//! the quantizer by the layer's [`Estimator`] (straight-through, clipped STE, the QuEST trust
//! mask — all `q.detach() + (pass − pass.detach())`, forward values identical — or LSQ's learned
//! step), or a coded weight (codes + scales, decoded in forward; already in the rotated basis).

use crate::NnError;
use crate::capture;
use crate::quant::estimator::{Estimator, lsq, lsq_range, masked_ste, ste};
use crate::quant::fake::fake_quant;
use crate::quant::hadamard::{block_for, block_hadamard};
use crate::quant::mask::{MaskRule, quantize_with_mask};
use crate::weight::{LatentWeight, WeightKind, WeightRepr};
use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::module::linear;
use burn::tensor::{Device, Tensor, TensorData};
use lowbit_formats::{Format, GridRegistry};

/// Configuration of a [`CompressedLinear`].
#[derive(Config, Debug)]
pub struct CompressedLinearConfig {
    /// Input features (the reduction dimension; a multiple of the formats' block sizes).
    pub d_input: usize,
    /// Output features.
    pub d_output: usize,
    /// Add a bias (kept in full precision).
    #[config(default = false)]
    pub bias: bool,
    /// Weight format name among the built-ins (`lowbit formats list`) for [`Self::init`];
    /// `None` keeps the weight in full precision. Models resolve their formats once, through
    /// one registry, and call [`Self::init_with`] instead.
    #[config(default = "None")]
    pub weight: Option<String>,
    /// Input-activation format name (built-ins, as `weight`); `None` keeps activations in full
    /// precision.
    #[config(default = "None")]
    pub input: Option<String>,
    /// Rotate W and x by a block Walsh–Hadamard transform (block 128 or the largest power of two
    /// dividing `d_input`) before quantizing.
    #[config(default = false)]
    pub hadamard: bool,
    /// Gradient estimator through both quantizers.
    #[config(default = "Estimator::Ste")]
    pub estimator: Estimator,
    /// How the weight is held: latent (f32 + fake quant) or coded (codes + scales of the weight
    /// format; initialised by encoding the random latent weight, then normally loaded).
    #[config(default = "WeightKind::Latent")]
    pub representation: WeightKind,
    /// HF module name (`model.layers.0.self_attn.q_proj`), used by health and capture reports.
    #[config(default = "String::new()")]
    pub name: String,
    /// Standard deviation of the N(0, σ) weight initialisation.
    #[config(default = 0.02)]
    pub init_std: f64,
}

/// A linear layer over compressed representations.
#[derive(Module, Debug)]
pub struct CompressedLinear {
    /// The weight, `[d_output, d_input]` (HuggingFace layout): latent or coded.
    pub weight: WeightRepr,
    /// Optional bias, `[d_output]`.
    pub bias: Option<Param<Tensor<1>>>,
    /// LSQ learned input step, one per tensor, `[1]`.
    pub input_step: Option<Param<Tensor<1>>>,
    /// Hadamard block (0 = no rotation).
    pub hadamard_block: usize,
    /// Input format.
    #[module(skip)]
    pub input_format: Option<Format>,
    /// Gradient estimator.
    #[module(skip)]
    pub estimator: Estimator,
    /// HF module name.
    #[module(skip)]
    pub name: String,
}

/// The resolved formats of one linear (from one registry, parsed once per run).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinearFormats {
    /// Weight format (`None`: full precision).
    pub weight: Option<Format>,
    /// Input-activation format (`None`: full precision).
    pub input: Option<Format>,
}

impl LinearFormats {
    /// Parses built-in format names (what [`CompressedLinearConfig::init`] does).
    ///
    /// # Errors
    /// [`NnError::Format`] for an unknown or malformed name.
    pub fn builtin(weight: Option<&str>, input: Option<&str>) -> Result<Self, NnError> {
        let reg = GridRegistry::builtin();
        let p = |n: Option<&str>| -> Result<Option<Format>, NnError> {
            n.map(|n| Format::parse_with(n, &reg).map_err(NnError::from))
                .transpose()
        };
        Ok(Self {
            weight: p(weight)?,
            input: p(input)?,
        })
    }
}

fn check_block(f: &Option<Format>, d_input: usize) -> Result<(), NnError> {
    if let Some(f) = f
        && d_input % f.block_size() != 0
    {
        return Err(NnError::BlockMismatch {
            cols: d_input,
            block: f.block_size(),
        });
    }
    Ok(())
}

/// `(bits, symmetric)` of an INT format, the only kind LSQ learns a step for.
fn lsq_int(f: &Format) -> Result<(u32, bool), NnError> {
    match f {
        Format::Int(i) => Ok((i.bits(), i.symmetric())),
        other => Err(NnError::Estimator(format!(
            "the LSQ estimator learns the step of an integer grid; `{}` is not one (use int2…int8, \
             or the ste / clipped-ste / trust estimators)",
            other.name()
        ))),
    }
}

impl CompressedLinearConfig {
    /// Initialises the layer with the built-in formats `weight` / `input` name.
    ///
    /// # Errors
    /// As [`Self::init_with`], and [`NnError::Format`] for a name that is not a built-in.
    pub fn init(&self, device: &Device) -> Result<CompressedLinear, NnError> {
        let formats = LinearFormats::builtin(self.weight.as_deref(), self.input.as_deref())?;
        self.init_with(formats, device)
    }

    /// Initialises the layer with resolved `formats` (the `weight` / `input` names are not
    /// read), checking them against `d_input`.
    ///
    /// # Errors
    /// [`NnError::BlockMismatch`] when `d_input` is not a multiple of a format's block; the
    /// Hadamard block rule; [`NnError::Estimator`] for LSQ on a non-integer format;
    /// [`NnError::Coded`] for a coded representation without codes.
    pub fn init_with(
        &self,
        formats: LinearFormats,
        device: &Device,
    ) -> Result<CompressedLinear, NnError> {
        check_block(&formats.weight, self.d_input)?;
        check_block(&formats.input, self.d_input)?;
        let LinearFormats {
            weight: weight_format,
            input: input_format,
        } = formats;
        let hadamard_block = if self.hadamard {
            block_for(self.d_input, 128)?
        } else {
            0
        };
        let init = Initializer::Normal {
            mean: 0.0,
            std: self.init_std,
        };
        let weight: Param<Tensor<2>> = init.init([self.d_output, self.d_input], device);
        let bias = self
            .bias
            .then(|| Initializer::Zeros.init([self.d_output], device));
        let (mut weight_step, mut input_step) = (None, None);
        if self.estimator == Estimator::Lsq {
            // LSQ (Esser et al. 2020, §2.1) initialises s = 2·mean|w|/sqrt(Q_P) per row; inputs
            // are assumed unit-RMS (they follow an RMSNorm, or the step adapts), E|x| = sqrt(2/π).
            if let Some(f) = &weight_format {
                let (bits, sym) = lsq_int(f)?;
                let qp = lsq_range(bits, sym).1 as f64;
                let w = weight.val().abs().mean_dim(1).mul_scalar(2.0 / qp.sqrt());
                weight_step = Some(Param::from_tensor(w.detach()));
            }
            if let Some(f) = &input_format {
                let (bits, sym) = lsq_int(f)?;
                let qp = lsq_range(bits, sym).1 as f64;
                let s0 = (2.0 * (2.0 / std::f64::consts::PI).sqrt() / qp.sqrt()) as f32;
                input_step = Some(Param::from_tensor(Tensor::from_data(
                    TensorData::new(vec![s0], [1]),
                    device,
                )));
            }
        }
        let latent = LatentWeight {
            weight,
            weight_step,
            format: weight_format,
        };
        let layer = CompressedLinear {
            weight: WeightRepr::Latent(latent),
            bias,
            input_step,
            hadamard_block,
            input_format,
            estimator: self.estimator,
            name: self.name.clone(),
        };
        match self.representation {
            WeightKind::Latent => Ok(layer),
            WeightKind::Coded => layer.into_coded(),
        }
    }
}

/// Forward `Q(t)` with the gradient of `estimator`.
fn quantize<const D: usize>(
    t: Tensor<D>,
    f: &Option<Format>,
    estimator: Estimator,
    lsq_step: Option<Tensor<D>>,
) -> Result<Tensor<D>, NnError> {
    let Some(f) = f else { return Ok(t) };
    if let Some(s) = lsq_step {
        let (bits, sym) = lsq_int(f)?;
        return lsq(t, s, bits, sym);
    }
    let rule = match estimator {
        Estimator::Ste | Estimator::Lsq => return Ok(ste(t.clone(), fake_quant(t.detach(), f)?)),
        Estimator::ClippedSte { clip } => MaskRule::Clip(clip),
        Estimator::Trust { factor } => MaskRule::Trust(factor),
    };
    let (q, mask) = quantize_with_mask(t.clone(), f, rule)?;
    Ok(masked_ste(t, q, mask))
}

impl CompressedLinear {
    /// `y = Q_a(H x) · Q_w(W H)ᵀ + b`.
    ///
    /// # Shapes
    /// `x`: `[..., d_input]` → `[..., d_output]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Result<Tensor<D>, NnError> {
        let mut x = x;
        if self.hadamard_block > 0 {
            x = block_hadamard(x, self.hadamard_block)?;
        }
        let w = match &self.weight {
            WeightRepr::Latent(l) => {
                let mut w = l.weight.val();
                if self.hadamard_block > 0 {
                    w = block_hadamard(w, self.hadamard_block)?;
                }
                capture::record(
                    &self.name,
                    &x,
                    &w,
                    self.input_format.as_ref(),
                    l.format.as_ref(),
                );
                let ws = l.weight_step.as_ref().map(|s| s.val());
                quantize(w, &l.format, self.estimator, ws)?
            }
            WeightRepr::Coded(c) => {
                // Stored in the rotated basis: the codes are of W·H.
                let w = c.decode();
                capture::record(&self.name, &x, &w, self.input_format.as_ref(), None);
                w
            }
        };
        let xs = self
            .input_step
            .as_ref()
            .map(|s| s.val().reshape([1usize; D]));
        let x = quantize(x, &self.input_format, self.estimator, xs)?;
        Ok(linear(
            x,
            w.transpose(),
            self.bias.as_ref().map(|b| b.val()),
        ))
    }

    /// The latent weight's format (`None` in full precision and for coded weights).
    pub fn weight_format(&self) -> Option<&Format> {
        self.weight.format()
    }

    /// The same layer holding its weight coded: the (rotated) latent weight encoded by its
    /// format, so the forward values are unchanged bit for bit. A coded layer is returned as is.
    ///
    /// # Errors
    /// [`NnError::Coded`] for a full-precision weight, an LSQ layer (its step is not a format's
    /// scale) or a format without codes; the format's errors for non-finite weights.
    pub fn into_coded(self) -> Result<Self, NnError> {
        let WeightRepr::Latent(l) = &self.weight else {
            return Ok(self);
        };
        let Some(f) = &l.format else {
            return Err(NnError::Coded(format!(
                "{}: a full-precision weight has no codes; give the layer a weight format",
                self.name
            )));
        };
        if l.weight_step.is_some() {
            return Err(NnError::Coded(format!(
                "{}: LSQ's learned step is not a format scale; code an STE-trained layer",
                self.name
            )));
        }
        let mut w = l.weight.val().detach();
        if self.hadamard_block > 0 {
            w = block_hadamard(w, self.hadamard_block)?;
        }
        let coded = WeightRepr::encode(w, f)?;
        Ok(Self {
            weight: WeightRepr::Coded(coded),
            ..self
        })
    }

    /// Health of the (rotated) weight under the weight format; `None` in full precision.
    pub fn weight_health(&self) -> Result<Option<crate::quant::health::QuantHealth>, NnError> {
        let Some(l) = self.weight.latent() else {
            return Ok(None);
        };
        let Some(f) = &l.format else {
            return Ok(None);
        };
        let mut w = l.weight.val().detach();
        if self.hadamard_block > 0 {
            w = block_hadamard(w, self.hadamard_block)?;
        }
        let [_, cols] = w.dims();
        let v = w
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| NnError::TensorData {
                what: format!("{}.weight", self.name),
                reason: format!("{e:?}"),
            })?;
        Ok(Some(crate::quant::health::QuantHealth::measure(
            &v, cols, f,
        )?))
    }
}

#[cfg(test)]
#[path = "compressed_linear_tests.rs"]
mod tests;
