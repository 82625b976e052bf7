//! Rebuilding a whole model's linears: coding every compressed linear, or replacing linears by
//! name (what loading a compressed checkpoint and post-training compression do).

use crate::llama::Llama;
use crate::{CompressedLinear, NnError};

fn code(l: CompressedLinear) -> Result<CompressedLinear, NnError> {
    if l.weight_format().is_some() {
        l.into_coded()
    } else {
        Ok(l)
    }
}

impl Llama {
    /// The model with every linear inside the blocks passed through `f` (in block order, and
    /// inside a block as q, k, v, o, gate, up, down); `f` sees each layer's HF module name
    /// (`model.layers.3.mlp.up_proj`, the layer's own `name`) and returns its replacement.
    ///
    /// # Errors
    /// The first error `f` returns.
    pub fn map_linears<F>(mut self, mut f: F) -> Result<Llama, NnError>
    where
        F: FnMut(&str, CompressedLinear) -> Result<CompressedLinear, NnError>,
    {
        let mut g = |l: CompressedLinear| {
            let name = l.name.clone();
            f(&name, l)
        };
        let layers = std::mem::take(&mut self.layers);
        for mut b in layers {
            let a = b.self_attn;
            b.self_attn = crate::llama::attention::Attention {
                q_proj: g(a.q_proj)?,
                k_proj: g(a.k_proj)?,
                v_proj: g(a.v_proj)?,
                o_proj: g(a.o_proj)?,
                ..a
            };
            let m = b.mlp;
            b.mlp = crate::llama::mlp::Mlp {
                gate_proj: g(m.gate_proj)?,
                up_proj: g(m.up_proj)?,
                down_proj: g(m.down_proj)?,
            };
            self.layers.push(b);
        }
        Ok(self)
    }

    /// Every linear inside the blocks, by reference, in [`Llama::map_linears`] order.
    pub fn linears(&self) -> Vec<&CompressedLinear> {
        self.layers
            .iter()
            .flat_map(|b| {
                let (a, m) = (&b.self_attn, &b.mlp);
                [
                    &a.q_proj,
                    &a.k_proj,
                    &a.v_proj,
                    &a.o_proj,
                    &m.gate_proj,
                    &m.up_proj,
                    &m.down_proj,
                ]
            })
            .collect()
    }

    /// The model with every linear that has a weight format holding its weight coded
    /// ([`CompressedLinear::into_coded`]); full-precision linears, norms and embeddings are
    /// unchanged. Forward values are unchanged bit for bit.
    ///
    /// # Errors
    /// As [`CompressedLinear::into_coded`] (LSQ layers, formats without codes).
    pub fn into_coded(self) -> Result<Llama, NnError> {
        self.map_linears(|_, l| code(l))
    }
}

impl CompressedLinear {
    /// The full-precision weight `[d_output, d_input]` this layer applies to its *unrotated*
    /// input: the fake-quantized latent weight or the decoded codes, taken back out of the
    /// Hadamard basis (`y = (xH)·Ŵ_Hᵀ = x·(Ŵ_H·H)ᵀ`, H symmetric and orthonormal), so a stock
    /// dense linear with this weight computes the layer up to float rounding.
    ///
    /// # Errors
    /// [`NnError::Coded`] for an LSQ layer (its step is not a format scale); the format's errors.
    pub fn effective_weight(&self) -> Result<burn::tensor::Tensor<2>, NnError> {
        use crate::quant::hadamard::block_hadamard;
        let b = self.hadamard_block;
        let w = match &self.weight {
            crate::weight::WeightRepr::Latent(l) => {
                if l.weight_step.is_some() {
                    return Err(NnError::Coded(format!(
                        "{}: an LSQ layer's learned step is not a format scale; it has no exact dense weight",
                        self.name
                    )));
                }
                let mut w = l.weight.val().detach();
                if b > 0 {
                    w = block_hadamard(w, b)?;
                }
                match &l.format {
                    Some(f) => crate::quant::fake::fake_quant(w, f)?,
                    None => w,
                }
            }
            crate::weight::WeightRepr::Coded(c) => c.decode().detach(),
        };
        if b > 0 { block_hadamard(w, b) } else { Ok(w) }
    }

    /// The layer as a plain full-precision linear with [`Self::effective_weight`] (no format,
    /// no rotation, no input quantization).
    ///
    /// # Errors
    /// As [`Self::effective_weight`].
    pub fn dequantized(self) -> Result<CompressedLinear, NnError> {
        let w = self.effective_weight()?;
        Ok(CompressedLinear {
            weight: crate::weight::WeightRepr::Latent(crate::weight::LatentWeight {
                weight: burn::module::Param::from_tensor(w),
                weight_step: None,
                format: None,
            }),
            input_step: None,
            hadamard_block: 0,
            input_format: None,
            ..self
        })
    }
}

impl Llama {
    /// The model with every linear [`CompressedLinear::dequantized`]: a full-precision model
    /// whose weights are the compressed ones (what `lowbit export --format hf` writes).
    /// Online input quantization is dropped; callers that must not lose it check
    /// [`CompressedLinear::input_format`] first.
    ///
    /// # Errors
    /// As [`CompressedLinear::effective_weight`].
    pub fn dequantized(self) -> Result<Llama, NnError> {
        self.map_linears(|_, l| l.dequantized())
    }
}
