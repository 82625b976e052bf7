//! Calibration data and the layer Hessians GPTQ-family methods need.
//!
//! The calibration set is `samples` non-overlapping windows of `seq_len` tokens taken from the
//! start of a text file (GPTQ draws random windows from C4; a file the user chooses, read from
//! its start, keeps the run reproducible without a seed and lets held-out text be "the rest of
//! the file" or another file).

use anyhow::{Result, bail};
use burn::tensor::{Device, Int, Tensor, TensorData};
use lowbit_nn::NnError;
use lowbit_nn::capture::{LayerView, Recorder};
use std::any::Any;
use std::collections::BTreeMap;

/// Token windows `[samples, seq_len]` from the start of `ids`.
///
/// # Errors
/// When `ids` has fewer than `samples · seq_len` tokens (names both numbers and the fix).
pub fn windows(ids: &[u32], samples: usize, seq_len: usize, what: &str) -> Result<Vec<u32>> {
    let need = samples * seq_len;
    if samples == 0 || seq_len == 0 {
        bail!("--calib-samples and --calib-seq-len must be ≥ 1");
    }
    if ids.len() < need {
        bail!(
            "{what} gives {} tokens; {samples} calibration windows of {seq_len} need {need} \
             (use a longer text or lower --calib-samples / --calib-seq-len)",
            ids.len()
        );
    }
    Ok(ids[..need].to_vec())
}

/// `[samples, seq_len]` token tensor of [`windows`]' output.
pub fn token_tensor(ids: &[u32], samples: usize, device: &Device) -> Tensor<2, Int> {
    let v: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
    let n = v.len();
    Tensor::<1, Int>::from_data(TensorData::new(v, [n]), device).reshape([samples, n / samples])
}

/// Sums XᵀX of every linear's input during a captured pass (on the device, by the backend's
/// GEMM), keyed by layer name.
#[derive(Default)]
pub struct Hessians {
    sums: BTreeMap<String, (Tensor<2>, usize)>,
}

impl Recorder for Hessians {
    fn record(&mut self, l: &LayerView<'_>) -> Result<(), NnError> {
        let x = l.input.clone();
        let n = x.dims()[0];
        let xtx = x.clone().transpose().matmul(x);
        let e = self.sums.remove(l.name);
        let v = match e {
            Some((s, k)) => (s + xtx, k + n),
            None => (xtx, n),
        };
        self.sums.insert(l.name.to_string(), v);
        Ok(())
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

impl Hessians {
    /// H = 2/n · XᵀX of layer `name` (row-major `[d_in, d_in]` on the host), GPTQ's Hessian of
    /// ‖WXᵀ − ŴXᵀ‖² (Frantar et al. 2023, Eq. 2), and the number of samples n.
    pub fn hessian(&self, name: &str) -> Result<(Vec<f32>, usize)> {
        let Some((s, n)) = self.sums.get(name) else {
            bail!("no calibration inputs reached {name}");
        };
        let h = s
            .clone()
            .mul_scalar(2.0 / *n as f64)
            .into_data()
            .try_into_vec_as::<f32>()
            .map_err(|e| anyhow::anyhow!("cannot read the Hessian of {name}: {e:?}"))?;
        Ok((h, *n))
    }
}
