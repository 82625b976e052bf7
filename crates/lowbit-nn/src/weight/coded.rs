//! [`CodedWeight`]: a weight held as its compressed representation — integer codes plus the
//! continuous parameters that decode them — rebuilt on every forward pass.
//!
//! Two layouts:
//! - [`ScalarCodes`]: one code per element into a level table (a grid, an INT range, QuEST's
//!   centred levels), per-block scales (and zero points, grid selectors, a tensor scale, a
//!   sparsity mask): every lowbit-formats format, decoded by the family's own rule
//!   ([`lowbit_formats::DecodeRule`]) so the values equal `Format::decode` bit for bit.
//! - [`VqCodes`]: additive vector quantization (AQLM, Egiazarian et al. 2024, §3): each group of
//!   `g` weights of a row is the sum of one vector from each of `M` codebooks, times the row's
//!   scale, `W[r, jg..(j+1)g] = s_r · Σ_m C_m[b_{r,j,m}]`.
//!
//! What PV-Tuning trains (algorithms.md §4): the P-step updates the float parameters here
//! (scales, zero points, codebooks) by backprop through the decode; the V-step changes codes,
//! which are integer tensors and never receive gradients.

use crate::NnError;
use burn::module::{Module, Param, ParamId};
use burn::tensor::{Device, Int, Tensor, TensorData};
use lowbit_formats::{CodedParts, DecodeRule};

/// A coded weight `[d_output, d_input]`.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum CodedWeight {
    /// Scalar codes into level tables (every lowbit-formats format).
    Scalar(ScalarCodes),
    /// Additive vector quantization (AQLM).
    Vq(VqCodes),
}

/// Scalar codes and their decode parameters (names as compressed-tensors, codes unpacked).
#[derive(Module, Debug)]
pub struct ScalarCodes {
    /// One code per element, `[d_output, d_input]` (stored U8).
    pub weight_codes: Param<Tensor<2, Int>>,
    /// Level tables, `[tables, 2^bits]` (one per grid; fixed, not trained).
    pub weight_levels: Param<Tensor<2>>,
    /// Level table of every block, `[d_output, d_input / block]` (multi-grid formats only).
    pub weight_table: Option<Param<Tensor<2, Int>>>,
    /// First decode factor of every block, `[d_output, d_input / block]` (trained by the P-step).
    pub weight_scale: Param<Tensor<2>>,
    /// Zero point of every block (asymmetric INT), `[d_output, d_input / block]`.
    pub weight_zero_point: Option<Param<Tensor<2>>>,
    /// Tensor-wide second factor (NVFP4's global decode scale), `[1]`.
    pub weight_global_scale: Option<Param<Tensor<1>>>,
    /// Kept elements of a sparse composition (1 kept, 0 dropped), `[d_output, d_input]`.
    pub weight_mask: Option<Param<Tensor<2, Int>>>,
    /// PV-Tuning's probe of the decoded weight (see [`CodedWeight::with_probe`]), `[d_output,
    /// d_input]`; never stored.
    pub weight_probe: Option<Param<Tensor<2>>>,
    /// Values per block along a row.
    pub block: usize,
    /// Bits per code.
    pub bits: u32,
    /// How values are rebuilt.
    #[module(skip)]
    pub rule: DecodeRule,
}

/// Additive vector-quantization codes (AQLM).
#[derive(Module, Debug)]
pub struct VqCodes {
    /// Codes `[d_output, d_input / group, M]`: codebook entry per group and codebook.
    pub weight_codes: Param<Tensor<3, Int>>,
    /// Codebooks `[M, 2^bits, group]` (trained by the P-step).
    pub weight_codebooks: Param<Tensor<3>>,
    /// Row scales `[d_output, 1]` (trained by the P-step).
    pub weight_scale: Param<Tensor<2>>,
    /// PV-Tuning's probe of the decoded weight (see [`CodedWeight::with_probe`]); never stored.
    pub weight_probe: Option<Param<Tensor<2>>>,
}

fn int_param<const D: usize>(
    v: Vec<i64>,
    shape: [usize; D],
    device: &Device,
) -> Param<Tensor<D, Int>> {
    Param::initialized(
        ParamId::new(),
        Tensor::<D, Int>::from_data(TensorData::new(v, shape), device),
    )
}

fn float_param<const D: usize>(
    v: Vec<f32>,
    shape: [usize; D],
    trained: bool,
    device: &Device,
) -> Param<Tensor<D>> {
    let t = Tensor::<D>::from_data(TensorData::new(v, shape), device);
    // Param applies `require_grad` once the module is on an autodiff device.
    Param::from_tensor(t).set_require_grad(trained)
}

/// `[rows, blocks]` → `[rows, blocks · block]`, each factor repeated over its block.
fn per_element(t: Tensor<2>, block: usize) -> Tensor<2> {
    let [rows, blocks] = t.dims();
    t.unsqueeze_dim::<3>(2)
        .expand([rows, blocks, block])
        .reshape([rows, blocks * block])
}

/// [`per_element`] for integer tensors (grid selectors).
fn per_element_int(t: Tensor<2, Int>, block: usize) -> Tensor<2, Int> {
    let [rows, blocks] = t.dims();
    t.unsqueeze_dim::<3>(2)
        .expand([rows, blocks, block])
        .reshape([rows, blocks * block])
}

impl ScalarCodes {
    /// Builds the parameters of `parts` (from [`lowbit_formats::Format::coded_parts`]).
    ///
    /// # Errors
    /// [`NnError::Coded`] if the parts are inconsistent (sizes, codes of more than 8 bits).
    pub fn from_parts(p: &CodedParts, device: &Device) -> Result<Self, NnError> {
        let bad = |m: String| NnError::Coded(m);
        let (rows, cols, block) = (p.rows, p.cols, p.block);
        let blocks = rows * cols / block.max(1);
        if block == 0 || cols % block != 0 || p.codes.len() != rows * cols {
            return Err(bad(format!(
                "{} codes for a [{rows}, {cols}] weight in blocks of {block}",
                p.codes.len()
            )));
        }
        if p.code_bits > 8 || p.tables.iter().any(|t| t.len() != 1 << p.code_bits) {
            return Err(bad(format!(
                "level tables must have 2^{} ≤ 256 levels",
                p.code_bits
            )));
        }
        if p.scales.len() != blocks || p.table_of_block.len() != blocks {
            return Err(bad(format!("expected {blocks} block scales and selectors")));
        }
        let nb = cols / block;
        let levels: Vec<f32> = p.tables.iter().flatten().copied().collect();
        let codes = p.codes.iter().map(|&c| c as i64).collect();
        Ok(Self {
            weight_codes: int_param(codes, [rows, cols], device),
            weight_levels: float_param(levels, [p.tables.len(), 1 << p.code_bits], false, device),
            weight_table: (p.tables.len() > 1).then(|| {
                let t = p.table_of_block.iter().map(|&k| k as i64).collect();
                int_param(t, [rows, nb], device)
            }),
            weight_scale: float_param(p.scales.clone(), [rows, nb], true, device),
            weight_zero_point: (p.rule == DecodeRule::ZeroPoint)
                .then(|| float_param(p.zeros.clone(), [rows, nb], true, device)),
            weight_global_scale: p.global.map(|g| float_param(vec![g], [1], false, device)),
            weight_mask: p.mask.as_ref().map(|m| {
                let v = m.iter().map(|&k| k as i64).collect();
                int_param(v, [rows, cols], device)
            }),
            weight_probe: None,
            block,
            bits: p.code_bits,
            rule: p.rule,
        })
    }

    /// The parts these parameters hold, on the host (the inverse of [`Self::from_parts`]): what
    /// exporters write.
    ///
    /// # Errors
    /// [`NnError::TensorData`] if a tensor cannot be read back, [`NnError::Coded`] for codes or
    /// selectors outside a byte.
    pub fn to_parts(&self) -> Result<CodedParts, NnError> {
        fn floats<const D: usize>(t: Tensor<D>, what: &str) -> Result<Vec<f32>, NnError> {
            t.into_data()
                .try_into_vec_as::<f32>()
                .map_err(|e| NnError::TensorData {
                    what: what.into(),
                    reason: format!("{e:?}"),
                })
        }
        fn bytes<const D: usize>(t: Tensor<D, Int>, what: &str) -> Result<Vec<u8>, NnError> {
            let v = t
                .into_data()
                .try_into_vec_as::<i64>()
                .map_err(|e| NnError::TensorData {
                    what: what.into(),
                    reason: format!("{e:?}"),
                })?;
            v.into_iter()
                .map(|x| {
                    u8::try_from(x)
                        .map_err(|_| NnError::Coded(format!("{what} value {x} is not a byte")))
                })
                .collect()
        }
        let [rows, cols] = self.weight_codes.val().dims();
        let levels = self.weight_levels.val();
        let per = levels.dims()[1];
        let flat = floats(levels, "weight_levels")?;
        let blocks = rows * cols / self.block.max(1);
        Ok(CodedParts {
            rows,
            cols,
            block: self.block,
            code_bits: self.bits,
            rule: self.rule,
            codes: bytes(self.weight_codes.val(), "weight_codes")?,
            tables: flat.chunks(per.max(1)).map(<[f32]>::to_vec).collect(),
            table_of_block: match &self.weight_table {
                Some(t) => bytes(t.val(), "weight_table")?,
                None => vec![0; blocks],
            },
            scales: floats(self.weight_scale.val(), "weight_scale")?,
            zeros: match &self.weight_zero_point {
                Some(z) => floats(z.val(), "weight_zero_point")?,
                None => Vec::new(),
            },
            global: match &self.weight_global_scale {
                Some(g) => floats(g.val(), "weight_global_scale")?.first().copied(),
                None => None,
            },
            mask: match &self.weight_mask {
                Some(m) => Some(
                    bytes(m.val(), "weight_mask")?
                        .into_iter()
                        .map(|b| b != 0)
                        .collect(),
                ),
                None => None,
            },
        })
    }

    /// The decoded weight `[d_output, d_input]`, in the order of [`DecodeRule`].
    pub fn decode(&self) -> Tensor<2> {
        let codes = self.weight_codes.val();
        let [rows, cols] = codes.dims();
        let levels = self.weight_levels.val();
        let per_table = levels.dims()[1];
        let index = match &self.weight_table {
            Some(t) => per_element_int(t.val(), self.block)
                .mul_scalar(per_table as i64)
                .add(codes),
            None => codes,
        };
        let level = levels
            .reshape([-1])
            .select(0, index.reshape([rows * cols]))
            .reshape([rows, cols]);
        let scale = per_element(self.weight_scale.val(), self.block);
        let w = match self.rule {
            DecodeRule::Scaled => {
                let w = level.mul(scale);
                match &self.weight_global_scale {
                    Some(g) => w.mul(g.val().reshape([1, 1])),
                    None => w,
                }
            }
            DecodeRule::ZeroPoint => {
                let zero = match &self.weight_zero_point {
                    Some(z) => per_element(z.val(), self.block),
                    None => level.zeros_like(),
                };
                level.sub(zero).mul(scale)
            }
            DecodeRule::Centred => level.mul(scale.clone()).sub(scale.mul_scalar(0.5)),
        };
        let w = match &self.weight_mask {
            // mask_fill writes +0, as Format::decode does (x · 0 would give −0 for x < 0).
            Some(m) => w.mask_fill(m.val().equal_elem(0), 0.0),
            None => w,
        };
        with_probe(w, &self.weight_probe)
    }
}

impl VqCodes {
    /// Builds AQLM parameters from codes `[rows, cols/group, M]`, codebooks `[M, 2^bits, group]`
    /// and row scales `[rows]`.
    ///
    /// # Errors
    /// [`NnError::Coded`] if the sizes disagree or a code is outside its codebook.
    pub fn new(
        codes: Vec<u32>,
        codebooks: Vec<f32>,
        scales: Vec<f32>,
        [rows, cols, m, entries, group]: [usize; 5],
        device: &Device,
    ) -> Result<Self, NnError> {
        let bad = |s: String| NnError::Coded(s);
        if group == 0 || cols % group != 0 {
            return Err(bad(format!("group {group} does not divide {cols} columns")));
        }
        if codes.len() != rows * (cols / group) * m
            || codebooks.len() != m * entries * group
            || scales.len() != rows
        {
            return Err(bad(format!(
                "sizes do not match [{rows}, {cols}] with {m} codebooks of {entries} × {group}"
            )));
        }
        if let Some(c) = codes.iter().find(|&&c| c as usize >= entries) {
            return Err(bad(format!(
                "code {c} is outside a codebook of {entries} entries"
            )));
        }
        let codes = codes.into_iter().map(|c| c as i64).collect();
        Ok(Self {
            weight_codes: int_param(codes, [rows, cols / group, m], device),
            weight_codebooks: float_param(codebooks, [m, entries, group], true, device),
            weight_scale: float_param(scales, [rows, 1], true, device),
            weight_probe: None,
        })
    }

    /// The decoded weight `[d_output, d_input]`: `s_r · Σ_m C_m[b_{r,j,m}]`, codebooks summed in
    /// order m = 0, 1, ….
    pub fn decode(&self) -> Tensor<2> {
        let codes = self.weight_codes.val();
        let [rows, groups, m] = codes.dims();
        let books = self.weight_codebooks.val();
        let [_, entries, group] = books.dims();
        let mut sum: Option<Tensor<2>> = None;
        for k in 0..m {
            let book = books
                .clone()
                .slice([k..k + 1, 0..entries, 0..group])
                .reshape([entries, group]);
            let idx = codes
                .clone()
                .slice([0..rows, 0..groups, k..k + 1])
                .reshape([rows * groups]);
            let part = book.select(0, idx);
            sum = Some(match sum {
                Some(s) => s.add(part),
                None => part,
            });
        }
        let w = sum.unwrap_or_else(|| Tensor::zeros([rows * groups, group], &books.device()));
        let w = w
            .reshape([rows, groups * group])
            .mul(self.weight_scale.val());
        with_probe(w, &self.weight_probe)
    }
}

/// `w + probe` when a probe is attached (its value is 0, so only the gradient changes).
fn with_probe(w: Tensor<2>, probe: &Option<Param<Tensor<2>>>) -> Tensor<2> {
    match probe {
        Some(p) => w.add(p.val()),
        None => w,
    }
}

impl CodedWeight {
    /// The same weight with (`on`) or without PV-Tuning's probe: a zero `[d_output, d_input]`
    /// parameter added to the decoded weight. Its value changes nothing (`Ŵ + 0 = Ŵ`), but its
    /// gradient is `G = ∂loss/∂Ŵ`, the gradient of the dense de-quantized weight that the
    /// V-step's linearized update needs (algorithms.md §4.2 step 2) and that Burn does not keep
    /// for intermediate tensors; P (scales, codebooks) still gets its gradient through the
    /// decode, from the same backward pass. A probe is never part of a checkpoint: detach it
    /// before saving.
    pub fn with_probe(self, on: bool, device: &Device) -> Self {
        let probe = |dims: [usize; 2]| {
            on.then(|| Param::from_tensor(Tensor::<2>::zeros(dims, device)).set_require_grad(true))
        };
        let dims = self.dims();
        match self {
            CodedWeight::Scalar(mut s) => {
                s.weight_probe = probe(dims);
                CodedWeight::Scalar(s)
            }
            CodedWeight::Vq(mut v) => {
                v.weight_probe = probe(dims);
                CodedWeight::Vq(v)
            }
        }
    }

    /// The probe parameter, if attached ([`Self::with_probe`]).
    pub fn probe(&self) -> Option<&Param<Tensor<2>>> {
        match self {
            CodedWeight::Scalar(s) => s.weight_probe.as_ref(),
            CodedWeight::Vq(v) => v.weight_probe.as_ref(),
        }
    }

    /// The decoded weight `[d_output, d_input]`.
    pub fn decode(&self) -> Tensor<2> {
        match self {
            CodedWeight::Scalar(s) => s.decode(),
            CodedWeight::Vq(v) => v.decode(),
        }
    }

    /// `[d_output, d_input]`.
    pub fn dims(&self) -> [usize; 2] {
        match self {
            CodedWeight::Scalar(s) => s.weight_codes.val().dims(),
            CodedWeight::Vq(v) => {
                let [r, g, _] = v.weight_codes.val().dims();
                [r, g * v.weight_codebooks.val().dims()[2]]
            }
        }
    }
}
