//! Coding a whole model: every compressed linear with a weight format holds its weight coded.

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
    /// The model with every linear that has a weight format holding its weight coded
    /// ([`CompressedLinear::into_coded`]); full-precision linears, norms and embeddings are
    /// unchanged. Forward values are unchanged bit for bit.
    ///
    /// # Errors
    /// As [`CompressedLinear::into_coded`] (LSQ layers, formats without codes).
    pub fn into_coded(mut self) -> Result<Llama, NnError> {
        let layers = std::mem::take(&mut self.layers);
        for mut b in layers {
            let a = b.self_attn;
            b.self_attn = crate::llama::attention::Attention {
                q_proj: code(a.q_proj)?,
                k_proj: code(a.k_proj)?,
                v_proj: code(a.v_proj)?,
                o_proj: code(a.o_proj)?,
                ..a
            };
            let m = b.mlp;
            b.mlp = crate::llama::mlp::Mlp {
                gate_proj: code(m.gate_proj)?,
                up_proj: code(m.up_proj)?,
                down_proj: code(m.down_proj)?,
            };
            self.layers.push(b);
        }
        Ok(self)
    }
}
