//! Which linears are compressed, decided by HF-style module name (torchtitan's "policy over
//! module names" rather than editing the model).

use crate::quant::estimator::Estimator;
use crate::{CompressedLinearConfig, NnError};
use burn::config::Config;
use lowbit_formats::GridText;

/// Formats applied to the linears whose names match `include` and not `exclude`.
#[derive(Config, Debug, PartialEq)]
pub struct CompressionPolicy {
    /// Weight format name (`None` = full precision).
    #[config(default = "None")]
    pub weight: Option<String>,
    /// Input-activation format name (`None` = full precision).
    #[config(default = "None")]
    pub input: Option<String>,
    /// Half Hadamard rotation of compressed linears.
    #[config(default = false)]
    pub hadamard: bool,
    /// Gradient estimator of compressed linears.
    #[config(default = "Estimator::Ste")]
    pub estimator: Estimator,
    /// Grid files by content whose grids become format names (e.g. a learned `mpo2`): every
    /// grid file the formats resolve through, carried in the checkpoint's `config.json` so the
    /// model never depends on files beside it. Looked up before `grid_files`.
    #[config(default = "Vec::new()")]
    pub grids: Vec<GridText>,
    /// Grid files by path (relative to the working directory): what checkpoints written before
    /// `grids` record; read when the model is built, as they were then.
    #[config(default = "Vec::new()")]
    pub grid_files: Vec<String>,
    /// Globs of module names to compress; default: every projection inside the blocks.
    #[config(
        default = "vec![\"model.layers.*.self_attn.*_proj\".into(), \"model.layers.*.mlp.*_proj\".into()]"
    )]
    pub include: Vec<String>,
    /// Globs excluded from `include`.
    #[config(default = "Vec::new()")]
    pub exclude: Vec<String>,
}

impl CompressionPolicy {
    /// Whether `name` is compressed.
    pub fn selects(&self, name: &str) -> Result<bool, NnError> {
        let m = |globs: &[String]| -> Result<bool, NnError> {
            for g in globs {
                let p = glob::Pattern::new(g)
                    .map_err(|e| NnError::Config(format!("bad glob `{g}`: {e}")))?;
                if p.matches(name) {
                    return Ok(true);
                }
            }
            Ok(false)
        };
        Ok(m(&self.include)? && !m(&self.exclude)?)
    }

    /// The layer config of linear `name`.
    pub fn linear(
        &self,
        name: &str,
        d_input: usize,
        d_output: usize,
        std: f64,
    ) -> Result<CompressedLinearConfig, NnError> {
        let base = CompressedLinearConfig::new(d_input, d_output)
            .with_init_std(std)
            .with_name(name.to_string());
        Ok(if self.selects(name)? {
            base.with_weight(self.weight.clone())
                .with_input(self.input.clone())
                .with_hadamard(self.hadamard)
                .with_estimator(self.estimator)
                .with_grids(self.grids.clone())
                .with_grid_files(self.grid_files.clone())
        } else {
            base
        })
    }
}
