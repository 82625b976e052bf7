//! The block range and quantization step a value was quantized with, recovered from its
//! fake-quantized block: `range = max |x̂|` over the block (the top level the block reaches) and
//! `step = range / level_max`, the value of one grid unit. For INT formats that is exactly the
//! integer step (absmax scaling puts the block maximum on the top level); for E2M1-style grids it
//! is one unit of the grid, the spacing in the middle of the E2M1 levels {0.5, 1, 2}. The trust
//! (QuEST) and clipped-STE estimators need these per element.

use crate::NnError;
use burn::tensor::Tensor;
use lowbit_formats::Format;

/// Largest level magnitude of the format's grid(s) in grid units (6 for E2M1, 2^(b−1)−1 for
/// symmetric INT-b, 2^b−1 for asymmetric INT-b, whose range is max − min).
pub fn level_max(format: &Format) -> Result<f32, NnError> {
    match format {
        Format::Grid(g) => Ok(g.grids().iter().fold(0f32, |m, gr| m.max(gr.max_abs()))),
        Format::Int(i) if i.symmetric() => Ok(((1u32 << (i.bits() - 1)) - 1) as f32),
        Format::Int(i) => Ok(((1u32 << i.bits()) - 1) as f32),
        Format::SparseQuant { quant, .. } => level_max(quant),
        Format::Sparse(_) => Err(NnError::Config(format!(
            "`{}` has no quantization step: use the `ste` estimator with pure sparsity",
            format.name()
        ))),
    }
}

/// Per-element `(range, step)` of `q = fake_quant(x)`, broadcast back to `q`'s shape.
///
/// # Shapes
/// `q`: `[..., cols]`, `cols % block == 0` → two tensors of the same shape.
pub fn block_range_and_step<const D: usize>(
    q: &Tensor<D>,
    format: &Format,
) -> Result<(Tensor<D>, Tensor<D>), NnError> {
    let dims = q.dims();
    let block = format.block_size();
    let n: usize = dims.iter().product();
    if block == 0 || n % block != 0 {
        return Err(NnError::BlockMismatch {
            cols: *dims.last().unwrap_or(&0),
            block,
        });
    }
    let qb = q.clone().detach().reshape([n / block, block]);
    let asym = matches!(format, Format::Int(i) if !i.symmetric());
    let (range, span) = if asym {
        let hi = qb.clone().max_dim(1);
        let lo = qb.min_dim(1);
        (hi.clone().abs().max_pair(lo.clone().abs()), hi.sub(lo))
    } else {
        let r = qb.abs().max_dim(1);
        (r.clone(), r)
    };
    let step = span.div_scalar(level_max(format)?);
    let full = |t: Tensor<2>| t.expand([n / block, block]).reshape(dims);
    Ok((full(range), full(step)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn int_step_is_the_integer_step() {
        let device = Device::flex();
        let x: Vec<f32> = (0..32).map(|i| (i as f32 - 10.0) * 0.3).collect();
        let f = Format::parse("int4").unwrap();
        let mut q = x.clone();
        f.fake_quant(&mut q, 32).unwrap();
        let qt = Tensor::<1>::from_data(TensorData::new(q.clone(), [32]), &device).reshape([1, 32]);
        let (range, step) = block_range_and_step(&qt, &f).unwrap();
        let step = step
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        let range = range
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(
            step.iter().all(|&s| (s - amax / 7.0).abs() < 1e-6),
            "{step:?}"
        );
        assert!(range.iter().all(|&r| (r - amax).abs() < 1e-5));
        assert!(level_max(&Format::parse("2of4").unwrap()).is_err());
        assert_eq!(level_max(&Format::parse("nvfp4").unwrap()).unwrap(), 6.0);
    }
}
