//! Calibration data and the layer Hessians GPTQ-family methods need.
//!
//! The calibration set is `samples` non-overlapping windows of `seq_len` tokens taken from the
//! start of a text file (GPTQ draws random windows from C4; a file the user chooses, read from
//! its start, keeps the run reproducible without a seed and lets held-out text be "the rest of
//! the file" or another file).

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Int, Tensor, TensorData};
use clap::Args;
use lowbit_nn::NnError;
use lowbit_nn::capture::{LayerView, Recorder};
use std::any::Any;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokenizers::Tokenizer;

/// `--calib-text`, `--calib-samples`, `--calib-seq-len`: the calibration windows of `lowbit
/// compress` (every method but rtn) and of a W4A4 `lowbit export` (activation scales).
#[derive(Args, Clone, Debug)]
pub struct CalibArgs {
    /// UTF-8 calibration text; its first `--calib-samples · --calib-seq-len` tokens are used.
    #[arg(long)]
    pub calib_text: Option<PathBuf>,
    /// Calibration windows.
    #[arg(long, default_value_t = 16)]
    pub calib_samples: usize,
    /// Tokens per calibration window.
    #[arg(long, default_value_t = 256)]
    pub calib_seq_len: usize,
}

/// The first `samples · seq_len` token ids of the text file `path` ([`windows`]).
///
/// # Errors
/// An unreadable file, a tokenizer failure, or too short a text (naming the file and flags).
pub fn read_windows(
    tokenizer: &Tokenizer,
    path: &Path,
    samples: usize,
    seq_len: usize,
) -> Result<Vec<u32>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read calibration text {}", path.display()))?;
    let ids = crate::eval_cmd::encode(tokenizer, &text)?;
    windows(&ids, samples, seq_len, &path.display().to_string())
}

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
///
/// Linears that read the same tensor (q/k/v after one norm, gate/up after the other) share one
/// sum: a layer whose input equals, value for value, the input of the layer recorded just before
/// it reuses that layer's XᵀX instead of forming its own, so a Llama block costs four Hessian
/// GEMMs instead of seven. Equality is checked by value (O(n·d), against the O(n·d²) GEMM it
/// saves), so sharing never changes a Hessian: it is the same sum either way.
#[derive(Default)]
pub struct Hessians {
    sums: BTreeMap<String, (Tensor<2>, usize)>,
    /// Layer name → the layer whose sum it reads (itself when it owns one).
    owner: BTreeMap<String, String>,
    /// The previous layer recorded and its input.
    last: Option<(String, Tensor<2>)>,
}

/// Whether `a` and `b` hold the same values (same shape first).
fn same(a: &Tensor<2>, b: &Tensor<2>) -> Result<bool, NnError> {
    if a.dims() != b.dims() {
        return Ok(false);
    }
    a.clone()
        .equal(b.clone())
        .all()
        .try_into_scalar::<bool>()
        .map_err(|e| NnError::Capture(format!("cannot compare calibration inputs: {e:?}")))
}

impl Recorder for Hessians {
    fn record(&mut self, l: &LayerView<'_>) -> Result<(), NnError> {
        let x = l.input.clone();
        if let Some((prev, px)) = &self.last
            && prev != l.name
            && same(px, &x)?
        {
            let own = self
                .owner
                .get(prev)
                .cloned()
                .unwrap_or_else(|| prev.clone());
            self.owner.insert(l.name.to_string(), own);
            self.last = Some((l.name.to_string(), x));
            return Ok(());
        }
        let n = x.dims()[0];
        let xtx = x.clone().transpose().matmul(x.clone());
        let v = match self.sums.remove(l.name) {
            Some((s, k)) => (s + xtx, k + n),
            None => (xtx, n),
        };
        self.sums.insert(l.name.to_string(), v);
        self.owner.insert(l.name.to_string(), l.name.to_string());
        self.last = Some((l.name.to_string(), x));
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
        let own = self.owner.get(name).map_or(name, String::as_str);
        let Some((s, n)) = self.sums.get(own) else {
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

    /// How many distinct XᵀX sums were formed.
    #[cfg(test)]
    pub fn distinct(&self) -> usize {
        self.sums.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(name: &'a str, x: &Tensor<2>, w: &Tensor<2>) -> LayerView<'a> {
        LayerView {
            name,
            input: x.clone(),
            weight: w.clone(),
            input_format: None,
            weight_format: None,
        }
    }

    /// q/k/v read one tensor, o another: two sums, and every layer's Hessian is exactly the one
    /// formed from its own input alone.
    #[test]
    fn shared_inputs_share_one_hessian() {
        let dev = Device::default();
        let data = |seed: u64| {
            let v: Vec<f32> = (0..24)
                .map(|i| ((i as u64 * 7 + seed * 13) % 11) as f32 - 5.0)
                .collect();
            Tensor::<2>::from_data(TensorData::new(v, [6, 4]), &dev)
        };
        let (a, b) = (data(1), data(2));
        let w = Tensor::<2>::zeros([3, 4], &dev);
        let mut h = Hessians::default();
        for (name, x) in [("q", &a), ("k", &a), ("v", &a), ("o", &b), ("gate", &a)] {
            h.record(&view(name, x, &w)).unwrap();
        }
        // "gate" reads a's values again but after "o": it forms its own sum.
        assert_eq!(h.distinct(), 3);
        for (name, x) in [("q", &a), ("k", &a), ("v", &a), ("o", &b), ("gate", &a)] {
            let mut alone = Hessians::default();
            alone.record(&view(name, x, &w)).unwrap();
            assert_eq!(
                h.hessian(name).unwrap(),
                alone.hessian(name).unwrap(),
                "{name}"
            );
        }
    }
}
