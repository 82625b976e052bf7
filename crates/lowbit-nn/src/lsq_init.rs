//! LSQ step initialisation from the weights a layer actually has (Esser et al., "Learned Step
//! Size Quantization", ICLR 2020, §2.1; spec algorithms.md §2): `s = 2·mean|v|/sqrt(Q_P)` per
//! output row, where `v` is the tensor the weight quantizer sees — the block-Hadamard-rotated
//! weight `W·H` when the layer rotates (`hadamard_block > 0`), as in
//! [`CompressedLinear::forward`], else `W` itself.
//!
//! Why a separate pass: `CompressedLinearConfig::init` computes the step from the weight it
//! draws, but a trainer that then loads its own initial weights (lowbit-train draws every
//! parameter from a (seed, name) stream) must recompute the step from *those* weights, and from
//! the rotated ones. The input step is left as `init` set it (inputs follow an RMSNorm, so the
//! unit-RMS assumption of `init` holds; the step then adapts).

use crate::NnError;
use crate::compressed_linear::CompressedLinear;
use crate::llama::Llama;
use crate::quant::estimator::lsq_range;
use crate::quant::hadamard::block_hadamard;
use burn::tensor::{Tensor, TensorData};
use lowbit_formats::Format;

impl CompressedLinear {
    /// Re-initialises the LSQ weight step (if the layer has one) from the current weight:
    /// `s_r = 2·mean_j |v_rj| / sqrt(Q_P)` for every output row `r` of `v = W·H` (or `W`).
    /// The parameter keeps its id and `require_grad`; the input step is untouched.
    ///
    /// # Errors
    /// [`NnError::Estimator`] when the weight format is not an integer grid (LSQ needs one), or
    /// when a row gives a step that is not finite and positive (an all-zero or non-finite row:
    /// LSQ's step would divide by zero); the message names the layer and the row.
    pub fn with_lsq_init(mut self) -> Result<Self, NnError> {
        let name = self.name.clone();
        let hadamard = self.hadamard_block;
        let Some(latent) = self.weight.latent_mut() else {
            return Ok(self); // a coded weight has no LSQ step
        };
        let Some(step) = latent.weight_step.take() else {
            return Ok(self);
        };
        let (bits, symmetric) = match &latent.format {
            Some(Format::Int(i)) => (i.bits(), i.symmetric()),
            other => {
                return Err(NnError::Estimator(format!(
                    "{}: an LSQ weight step needs an integer weight format (int2…int8), the layer \
                     has {}; use another estimator or an int format",
                    name,
                    other.as_ref().map_or("none".to_string(), |f| f.name())
                )));
            }
        };
        let qp = lsq_range(bits, symmetric).1 as f64;
        let mut v = latent.weight.val().detach();
        if hadamard > 0 {
            v = block_hadamard(v, hadamard)?;
        }
        let [rows, cols] = v.dims();
        let host = v
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| NnError::TensorData {
                what: format!("{name}.weight"),
                reason: format!("{e:?}"),
            })?;
        let mut s = Vec::with_capacity(rows);
        for (r, row) in host.chunks(cols.max(1)).enumerate() {
            // Mean in f64 so the step does not depend on a reduction order.
            let mean = row.iter().map(|x| x.abs() as f64).sum::<f64>() / cols as f64;
            let sr = (2.0 * mean / qp.sqrt()) as f32;
            if !(sr.is_finite() && sr > 0.0) {
                return Err(NnError::Estimator(format!(
                    "{name}.weight row {r}: mean |w| = {mean} gives LSQ step {sr}; the row must be \
                     finite and not all zero"
                )));
            }
            s.push(sr);
        }
        latent.weight_step = Some(step.map(|t| {
            let fresh = Tensor::<2>::from_data(TensorData::new(s, [rows, 1]), &t.device());
            if t.is_require_grad() {
                fresh.require_grad()
            } else {
                fresh
            }
        }));
        Ok(self)
    }
}

/// `with_lsq_init` through a `&mut` (a module clone shares its tensors, so this copies nothing).
fn reinit(p: &mut CompressedLinear) -> Result<(), NnError> {
    *p = p.clone().with_lsq_init()?;
    Ok(())
}

impl Llama {
    /// [`CompressedLinear::with_lsq_init`] on every linear of every block (layers without an
    /// LSQ weight step are returned unchanged).
    ///
    /// # Errors
    /// The first layer's error, see [`CompressedLinear::with_lsq_init`].
    pub fn with_lsq_init(mut self) -> Result<Self, NnError> {
        for b in &mut self.layers {
            let a = &mut b.self_attn;
            for p in [&mut a.q_proj, &mut a.k_proj, &mut a.v_proj, &mut a.o_proj] {
                reinit(p)?;
            }
            let m = &mut b.mlp;
            for p in [&mut m.gate_proj, &mut m.up_proj, &mut m.down_proj] {
                reinit(p)?;
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use crate::CompressedLinearConfig;
    use crate::quant::estimator::Estimator;
    use burn::tensor::{Device, Tensor};

    fn host(t: Tensor<2>) -> Vec<f32> {
        t.into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32")
    }

    /// The step of a rotated int4 layer after new weights: LSQ's formula on the rotated weight,
    /// with the rotation written out here from the Sylvester construction.
    #[test]
    fn weight_step_follows_the_rotated_weight() {
        let device = Device::flex().autodiff();
        let mut l = CompressedLinearConfig::new(64, 4)
            .with_weight(Some("int4".into()))
            .with_input(Some("int4".into()))
            .with_hadamard(true)
            .with_estimator(Estimator::Lsq)
            .init(&device)
            .unwrap();
        let input_before = l.input_step.as_ref().unwrap().val();
        // New weights: rows with very different scales, so a stale step would show.
        let w: Vec<f32> = (0..4 * 64)
            .map(|i| ((i * 29 % 61) as f32 - 30.0) * (1 + i / 64) as f32 * 0.01)
            .collect();
        let wt = Tensor::<1>::from_floats(w.as_slice(), &device).reshape([4, 64]);
        let lw = l.weight.latent_mut().unwrap();
        lw.weight = lw.weight.clone().map(|_| wt.require_grad());
        let l = l.with_lsq_init().unwrap();
        let got = host(
            l.weight
                .latent()
                .unwrap()
                .weight_step
                .as_ref()
                .unwrap()
                .val(),
        );
        let b = l.hadamard_block;
        assert_eq!(b, 64);
        let h = |i: usize, j: usize| {
            let sign = if (i & j).count_ones() % 2 == 0 {
                1.0
            } else {
                -1.0
            };
            sign / (b as f64).sqrt()
        };
        let qp = 7.0f64; // int4 symmetric: Q_P = 2^3 − 1
        for r in 0..4 {
            let mut mean = 0.0;
            for j in 0..64 {
                let v: f64 = (0..64).map(|k| w[r * 64 + k] as f64 * h(k, j)).sum();
                mean += v.abs() / 64.0;
            }
            let want = 2.0 * mean / qp.sqrt();
            assert!(
                (got[r] as f64 - want).abs() <= 1e-5 * want,
                "row {r}: {} vs {want}",
                got[r]
            );
        }
        assert!(
            l.weight
                .latent()
                .unwrap()
                .weight_step
                .as_ref()
                .unwrap()
                .val()
                .is_require_grad()
        );
        assert_eq!(
            host(l.input_step.as_ref().unwrap().val().reshape([1, 1])),
            host(input_before.reshape([1, 1])),
            "input step untouched"
        );
    }

    #[test]
    fn an_all_zero_row_is_an_error_naming_the_row() {
        let device = Device::flex();
        let mut l = CompressedLinearConfig::new(32, 2)
            .with_weight(Some("int4".into()))
            .with_estimator(Estimator::Lsq)
            .with_name("model.layers.0.mlp.up_proj".into())
            .init(&device)
            .unwrap();
        let lw = l.weight.latent_mut().unwrap();
        lw.weight = lw.weight.clone().map(|t| t.zeros_like());
        let e = l.with_lsq_init().unwrap_err().to_string();
        assert!(e.contains("model.layers.0.mlp.up_proj.weight row 0"), "{e}");
    }
}
