//! Named weight-decay rules: which parameters the default group decays.

use serde::{Deserialize, Serialize};

/// Which parameters get decoupled weight decay, by HF name (and rank, for nanoGPT's rule).
///
/// No rule ever decays RMSNorm gains (1-D), biases (1-D) or LSQ step sizes (`*.weight_step`,
/// `*.input_step`): decaying a quantizer's step shrinks its grid towards zero, which is not a
/// regulariser of the model's function and is in neither reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeightDecayRule {
    /// lowbit's rule (the default, unchanged since the first release): every linear weight —
    /// `*_proj.weight` in the blocks and an untied `lm_head.weight`; not the token embedding.
    #[default]
    Linear,
    /// QuEST (`IST-DASLab/QuEST`, algorithms.md §1.2): only the linear weights inside the decoder
    /// blocks (`model.layers.*.*_proj.weight`); no decay on the embedding, `lm_head` or norms.
    Quest,
    /// nanoGPT (`karpathy/nanoGPT`, `configure_optimizers`): every parameter of rank ≥ 2 —
    /// the linear weights, the token embedding and `lm_head` (tied or not); 1-D ones do not.
    Nanogpt,
}

impl WeightDecayRule {
    /// Whether the parameter `name` (of `rank` dimensions) is decayed under this rule.
    pub fn decays(self, name: &str, rank: usize) -> bool {
        if name.ends_with("_step") {
            return false; // LSQ step sizes (see the type's doc)
        }
        match self {
            Self::Linear => name == "lm_head.weight" || name.ends_with("_proj.weight"),
            Self::Quest => name.starts_with("model.layers.") && name.ends_with("_proj.weight"),
            Self::Nanogpt => rank >= 2,
        }
    }
}
