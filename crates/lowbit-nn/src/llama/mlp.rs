//! SwiGLU MLP (Shazeer 2020): `down(silu(gate(x)) ⊙ up(x))`.

use crate::{CompressedLinear, NnError};
use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::activation::silu;

/// The MLP of one block.
#[derive(Module, Debug)]
pub struct Mlp {
    /// `gate_proj`: d_model → d_ff.
    pub gate_proj: CompressedLinear,
    /// `up_proj`: d_model → d_ff.
    pub up_proj: CompressedLinear,
    /// `down_proj`: d_ff → d_model.
    pub down_proj: CompressedLinear,
}

impl Mlp {
    /// # Shapes
    /// `[batch, seq, d_model]` → same.
    pub fn forward(&self, x: Tensor<3>) -> Result<Tensor<3>, NnError> {
        let g = silu(self.gate_proj.forward(x.clone())?);
        let u = self.up_proj.forward(x)?;
        self.down_proj.forward(g * u)
    }
}
