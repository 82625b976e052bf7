//! Fake quantization of Burn tensors along the last (reduction) dimension, equal bit for bit to
//! [`lowbit_formats::Format::fake_quant`] (the contract is `crates/lowbit-formats/FORMATS.md`).
//!
//! Formats: NVFP4 two-level scaling (TransformerEngine op order; NVIDIA, "Pretraining LLMs with
//! NVFP4", 2025), OCP MX (E8M0 FLOOR; Rouhani et al., "Microscaling Data Formats", 2023), INT-b
//! symmetric absmax and asymmetric min–max (GPTQ convention; Frantar et al. 2023), and single
//! table grids (NF4; Dettmers et al. 2023) under E4M3+global, E8M0 FLOOR or f32 scales.
//!
//! **Exactness without bit casts.** Every rounding is expressed with comparisons against exactly
//! representable thresholds, so only IEEE `*`, `/`, `abs`, `max` and compares are needed:
//! * E4M3 RNE: `code = #{i : s > m_i} + #{i odd : s == m_i}` over the 126 midpoints `m_i` of
//!   consecutive E4M3 magnitudes (exact in f32); ties go to the even code.
//! * E2M1: the strict/non-strict threshold rule of FORMATS.md.
//! * Table grids: `code = #{i : v > t_i}` with `t_i` the largest f32 ≤ the f64 midpoint, which is
//!   the same decision as comparing in f64.
//! * `floor(log2 amax)`: `#{k : amax ≥ 2^k} − 150`, k ∈ [−149, 127].
//!
//! **Host fallback** ([`fake_quant_host`]): multi-grid selection (PO2, split87, SFP4: the choice
//! depends on an f64 error sum in index order), MX RCEIL/EVEN, QuEST grids (an f64 sum of
//! squares per row, which GPU tensor ops do not have), sparsity — the tensor is copied to
//! the host, quantized by `lowbit-formats` and copied back. [`has_tensor_path`] says which path a
//! format *can* take.
//!
//! **Which path runs** ([`fake_quant`]): on a device whose tensors live in host memory (`flex`)
//! every format takes the host path — lowbit-formats' vectorised, multi-threaded quantizer is the
//! same function bit for bit (the property tests hold both paths to it) and far cheaper than the
//! comparison-count tensor ops there: NVFP4 W4A4 train step 1309 → 1003 ms (benches/README.md). On
//! GPU backends the tensor path keeps the data on the device. [`fake_quant_tensor`] forces the
//! tensor path (tests, and to check it on any backend).

use burn::tensor::{Device, Int, Tensor, TensorData};
use lowbit_formats::elem::e4m3::e4m3_to_f32;
use lowbit_formats::elem::e8m0::MxRounding;
use lowbit_formats::{Format, Grid, ScaleRule, scale::GlobalScale};

use crate::NnError;

/// True when `format` is computed with tensor ops on the device (else: host round-trip).
pub fn has_tensor_path(format: &Format) -> bool {
    match format {
        Format::Int(_) => true,
        Format::Grid(g) => {
            g.grids().len() == 1
                && matches!(
                    g.scale_rule(),
                    ScaleRule::E4m3Global | ScaleRule::F32 | ScaleRule::E8m0(MxRounding::Floor)
                )
        }
        _ => false,
    }
}

/// Fake-quantizes `x` (quantize then dequantize) along its last dimension.
///
/// # Shapes
/// `x`: `[..., cols]` with `cols % block == 0`; output has the same shape.
///
/// # Errors
/// [`NnError::BlockMismatch`], [`NnError::NonFinite`], [`NnError::Empty`], or the format's own
/// error on the host path.
pub fn fake_quant<const D: usize>(x: Tensor<D>, format: &Format) -> Result<Tensor<D>, NnError> {
    if has_tensor_path(format) && !lives_on_host(&x.device()) {
        fake_quant_tensor(x, format)
    } else {
        fake_quant_host(x, format)
    }
}

/// True for CPU backends (their tensors are host memory, so the host quantizer needs no
/// transfer). The comparison ignores autodiff.
fn lives_on_host(device: &Device) -> bool {
    *device == Device::flex()
}

/// The tensor-op path of [`fake_quant`], on any device, for formats with [`has_tensor_path`].
///
/// # Errors
/// As [`fake_quant`]; [`NnError::NoTensorPath`] for a format without a tensor path.
pub fn fake_quant_tensor<const D: usize>(
    x: Tensor<D>,
    format: &Format,
) -> Result<Tensor<D>, NnError> {
    if !has_tensor_path(format) {
        return Err(NnError::NoTensorPath {
            format: format.name(),
            why: "multi-grid selection, MX RCEIL/EVEN and sparsity run on the host".into(),
        });
    }
    let dims = x.dims();
    let block = format.block_size();
    let (nb, x2) = blocks(x, block)?;
    let out = match format {
        Format::Int(i) => int_fake_quant(x2, i.bits(), i.symmetric()),
        Format::Grid(g) => grid_fake_quant(x2, &g.grids()[0], g.scale_rule(), nb, block),
        other => {
            return Err(NnError::NoTensorPath {
                format: other.name(),
                why: "internal: not dispatched".into(),
            });
        }
    };
    Ok(out.reshape(dims))
}

/// Host round-trip fallback: `into_data → lowbit_formats::Format::fake_quant → from_data`.
/// Exact by construction (it *is* the reference), but synchronises and copies the tensor.
pub fn fake_quant_host<const D: usize>(
    x: Tensor<D>,
    format: &Format,
) -> Result<Tensor<D>, NnError> {
    let dims = x.dims();
    let cols = check_shape(&dims, format.block_size())?;
    let device = x.device();
    let mut v: Vec<f32> = x
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| NnError::TensorData {
            what: "fake-quantized tensor".into(),
            reason: format!("{e:?}"),
        })?;
    format.fake_quant(&mut v, cols).map_err(|e| match e {
        // The same typed error on both paths.
        lowbit_formats::FormatError::NonFinite { .. } => NnError::NonFinite,
        other => NnError::Format(other),
    })?;
    Ok(Tensor::from_data(TensorData::new(v, dims), &device))
}

fn check_shape(dims: &[usize], block: usize) -> Result<usize, NnError> {
    let cols = *dims.last().unwrap_or(&0);
    if cols == 0 || dims.contains(&0) {
        return Err(NnError::Empty {
            shape: dims.to_vec(),
        });
    }
    if block == 0 || cols % block != 0 {
        return Err(NnError::BlockMismatch { cols, block });
    }
    Ok(cols)
}

/// Validates and reshapes to `[n_blocks, block]` (blocks never straddle rows).
fn blocks<const D: usize>(x: Tensor<D>, block: usize) -> Result<(usize, Tensor<2>), NnError> {
    let dims = x.dims();
    check_shape(&dims, block)?;
    // Any NaN/Inf makes x·0 NaN, so one reduction detects it.
    let probe = x.clone().mul_scalar(0.0f32).sum().into_scalar::<f32>();
    if !probe.is_finite() {
        return Err(NnError::NonFinite);
    }
    let n: usize = dims.iter().product();
    let nb = n / block;
    Ok((nb, x.reshape([nb, block])))
}

fn int_fake_quant(x: Tensor<2>, bits: u32, symmetric: bool) -> Tensor<2> {
    let [nb, block] = x.dims();
    if symmetric {
        let qmax = ((1i64 << (bits - 1)) - 1) as f32;
        let qmin = -qmax - 1.0;
        let s = x.clone().abs().max_dim(1).div_scalar(qmax); // [nb, 1]
        let s_full = s.expand([nb, block]);
        let zero = s_full.clone().equal_elem(0.0f32);
        let q = x
            .div(s_full.clone())
            .round()
            .clamp(qmin, qmax)
            .add_scalar(0.0f32) // integer q: no −0
            .mask_fill(zero, 0.0f32);
        q.mul(s_full)
    } else {
        let qmax = ((1i64 << bits) - 1) as f32;
        let lo = x.clone().min_dim(1).clamp_max(0.0f32);
        let hi = x.clone().max_dim(1).clamp_min(0.0f32);
        let both = lo
            .clone()
            .equal_elem(0.0f32)
            .bool_and(hi.clone().equal_elem(0.0f32));
        let lo = lo.mask_fill(both.clone(), -1.0f32);
        let hi = hi.mask_fill(both, 1.0f32);
        let s = hi.sub(lo.clone()).div_scalar(qmax);
        // s underflows to 0 for ranges below (2^b − 1)·2^−149: z = 0 then (FORMATS.md).
        let s_zero = s.clone().equal_elem(0.0f32);
        let z = lo
            .neg()
            .div(s.clone())
            .round()
            .clamp(0.0f32, qmax)
            .mask_fill(s_zero, 0.0f32);
        let s_full = s.expand([nb, block]);
        let z_full = z.expand([nb, block]);
        let zero = s_full.clone().equal_elem(0.0f32);
        let q = x
            .div(s_full.clone())
            .add(z_full.clone())
            .round()
            .clamp(0.0f32, qmax)
            .add_scalar(0.0f32)
            .mask_fill(zero, 0.0f32);
        q.sub(z_full).mul(s_full)
    }
}

fn grid_fake_quant(
    x: Tensor<2>,
    grid: &Grid,
    rule: ScaleRule,
    nb: usize,
    block: usize,
) -> Tensor<2> {
    let amax = x.clone().abs().max_dim(1); // [nb, 1]
    let grid_max = grid.max_abs();
    match rule {
        ScaleRule::E4m3Global => {
            let g_amax = x.clone().abs().max().into_scalar::<f32>();
            let global = GlobalScale::from_amax(g_amax);
            let s_f32 = amax.mul_scalar(global.enc * (1.0f32 / grid_max));
            let s = e4m3_cast(s_f32, nb); // E4M3(s_byte) as f32
            let enc = s.clone().mul_scalar(global.dec).recip().clamp_max(f32::MAX);
            let v = x.clone().mul(enc.expand([nb, block]));
            let v = if matches!(grid, Grid::E2m1) {
                v.clamp(-6.0f32, 6.0f32)
            } else {
                v
            };
            let level = grid_cast(v, &x, grid, nb, block);
            level.mul(s.expand([nb, block])).mul_scalar(global.dec)
        }
        ScaleRule::E8m0(_) => {
            let (dec, enc) = e8m0_floor(amax, grid_max, nb);
            let v = x.clone().mul(enc.expand([nb, block]));
            let level = grid_cast(v, &x, grid, nb, block);
            level.mul(dec.expand([nb, block]))
        }
        ScaleRule::F32 => {
            let s = amax.div_scalar(grid_max).expand([nb, block]);
            let zero = s.clone().equal_elem(0.0f32);
            let v = x
                .clone()
                .div(s.clone())
                .mask_where(zero, x.clone().mul_scalar(0.0f32));
            let level = grid_cast(v, &x, grid, nb, block);
            level.mul(s)
        }
    }
}

/// Maps grid coordinates `v` to grid levels (the encode+decode of one grid, before unscaling).
/// `x` supplies the sign for E2M1 (v has the sign of x: every encode factor is ≥ 0).
fn grid_cast(v: Tensor<2>, x: &Tensor<2>, grid: &Grid, nb: usize, block: usize) -> Tensor<2> {
    match grid {
        Grid::E2m1 => {
            let a = v.abs();
            let mut mag = a.zeros_like();
            for (t, w) in [(0.25f32, 0.5f32), (1.25, 0.5), (2.5, 1.0), (5.0, 2.0)] {
                mag = mag.add(a.clone().greater_elem(t).float().mul_scalar(w));
            }
            for (t, w) in [(0.75f32, 0.5f32), (1.75, 0.5), (3.5, 1.0)] {
                mag = mag.add(a.clone().greater_equal_elem(t).float().mul_scalar(w));
            }
            // 1/x < 0 exactly for negative x including −0 (|x| ≤ f32::MAX, so 1/x ≠ 0).
            let neg = x.clone().recip().lower_elem(0.0f32);
            mag.clone().mask_where(neg, mag.neg())
        }
        Grid::Table(_) => {
            let levels = grid.table();
            let device = v.device();
            let mut code: Tensor<2, Int> = Tensor::zeros([nb, block], &device);
            for w in levels.windows(2) {
                let m = (w[0] as f64 + w[1] as f64) / 2.0;
                let mut t = m as f32;
                if t as f64 > m {
                    t = next_down(t);
                }
                code = code.add(v.clone().greater_elem(t).int());
            }
            let table = Tensor::<1>::from_floats(levels, &device);
            table
                .select(0, code.reshape([nb * block]))
                .reshape([nb, block])
        }
    }
}

/// Saturating RNE cast of non-negative `s` (`[nb, 1]`) to E4M3, returned as its f32 value.
fn e4m3_cast(s: Tensor<2>, nb: usize) -> Tensor<2> {
    let device = s.device();
    let s = s.clamp_max(448.0f32);
    let mags: Vec<f32> = (0u8..=126).map(e4m3_to_f32).collect();
    let mut code: Tensor<2, Int> = Tensor::zeros([nb, 1], &device);
    for (i, w) in mags.windows(2).enumerate() {
        let m = (w[0] + w[1]) / 2.0; // exact: E4M3 values have 4 significant bits
        code = code.add(s.clone().greater_elem(m).int());
        if i % 2 == 1 {
            code = code.add(s.clone().equal_elem(m).int());
        }
    }
    let table = Tensor::<1>::from_floats(mags.as_slice(), &device);
    table.select(0, code.reshape([nb])).reshape([nb, 1])
}

/// OCP MX FLOOR: `shared = clamp(floor(log2 amax) − floor(log2 grid_max), −127, 127)`.
/// Returns `(2^shared, 2^−shared)`, both `[nb, 1]` and exact.
fn e8m0_floor(amax: Tensor<2>, grid_max: f32, nb: usize) -> (Tensor<2>, Tensor<2>) {
    let device = amax.device();
    let emax = lowbit_formats::elem::e8m0::floor_log2(grid_max);
    let mut count: Tensor<2, Int> = Tensor::zeros([nb, 1], &device);
    for k in -149i32..=127 {
        count = count.add(amax.clone().greater_equal_elem(pow2(k)).int());
    }
    // floor_log2 = count − 150; index = shared + 127.
    let idx = count
        .add_scalar(127 - 150 - emax)
        .clamp(0, 254)
        .reshape([nb]);
    let dec: Vec<f32> = (0..=254).map(|i| pow2(i - 127)).collect();
    let enc: Vec<f32> = (0..=254).map(|i| pow2(127 - i)).collect();
    let dec = Tensor::<1>::from_floats(dec.as_slice(), &device).select(0, idx.clone());
    let enc = Tensor::<1>::from_floats(enc.as_slice(), &device).select(0, idx);
    (dec.reshape([nb, 1]), enc.reshape([nb, 1]))
}

/// The largest f32 below finite, non-zero `t` (`f32::next_down`, spelled out for MSRV 1.85).
fn next_down(t: f32) -> f32 {
    if t > 0.0 {
        f32::from_bits(t.to_bits() - 1)
    } else {
        f32::from_bits(t.to_bits() + 1)
    }
}

fn pow2(e: i32) -> f32 {
    lowbit_formats::elem::e8m0::pow2(e)
}
