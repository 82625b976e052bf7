//! Model size presets and the resolved dimensions of a recipe's model section.

use super::schema::ModelSection;

pub use lowbit_nn::llama::PRESETS;

/// Fully resolved model dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelDims {
    /// Hidden size.
    pub d_model: usize,
    /// Decoder blocks.
    pub n_layers: usize,
    /// Attention heads.
    pub n_heads: usize,
    /// Key/value heads.
    pub n_kv_heads: usize,
    /// SwiGLU hidden size.
    pub d_ff: usize,
}

impl ModelDims {
    /// Head dimension.
    pub fn head_dim(&self) -> usize {
        self.d_model / self.n_heads
    }

    /// Every linear inside the blocks as (HF name, d_in, d_out): lowbit-nn's one list
    /// ([`lowbit_nn::llama::linears`]), which the model is built from.
    pub fn linears(&self) -> Vec<(String, usize, usize)> {
        lowbit_nn::llama::linears(
            self.n_layers,
            self.d_model,
            self.n_heads,
            self.n_kv_heads,
            self.d_ff,
        )
    }
}

/// SwiGLU default hidden size 256·ceil(8d/3/256) (QuEST `src/models/llama.py`).
pub fn default_d_ff(d_model: usize) -> usize {
    lowbit_nn::llama::LlamaConfig::default_d_ff(d_model)
}

/// Resolves preset + overrides; `Err` names the missing or inconsistent field.
pub fn resolve(m: &ModelSection) -> Result<ModelDims, (String, String)> {
    let preset = match &m.preset {
        Some(p) => Some(*PRESETS.iter().find(|(n, ..)| n == p).ok_or_else(|| {
            let names: Vec<_> = PRESETS.iter().map(|p| p.0).collect();
            (
                "model.preset".to_string(),
                format!("unknown preset `{p}`; use one of {}", names.join(", ")),
            )
        })?),
        None => None,
    };
    let need = |v: Option<usize>, from: Option<usize>, key: &str| {
        v.or(from).ok_or_else(|| {
            (
                format!("model.{key}"),
                format!("missing: set `model.{key}` or a `model.preset`"),
            )
        })
    };
    let n_layers = need(m.n_layers, preset.map(|p| p.1), "n_layers")?;
    let d_model = need(m.d_model, preset.map(|p| p.2), "d_model")?;
    let n_heads = need(m.n_heads, preset.map(|p| p.3), "n_heads")?;
    let n_kv_heads = m.n_kv_heads.unwrap_or(n_heads);
    let d_ff = m.d_ff.unwrap_or_else(|| default_d_ff(d_model));
    for (key, v) in [
        ("n_layers", n_layers),
        ("d_model", d_model),
        ("n_heads", n_heads),
        ("n_kv_heads", n_kv_heads),
        ("d_ff", d_ff),
    ] {
        if v == 0 {
            return Err((format!("model.{key}"), "must be positive".into()));
        }
    }
    if d_model % n_heads != 0 {
        return Err((
            "model.n_heads".into(),
            format!("d_model {d_model} is not divisible by n_heads {n_heads}"),
        ));
    }
    if n_heads % n_kv_heads != 0 {
        return Err((
            "model.n_kv_heads".into(),
            format!(
                "n_heads {n_heads} is not a multiple of n_kv_heads {n_kv_heads} (GQA groups must be equal)"
            ),
        ));
    }
    Ok(ModelDims {
        d_model,
        n_layers,
        n_heads,
        n_kv_heads,
        d_ff,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swiglu_default_matches_quest() {
        // QuEST: hidden = 256·ceil((8d/3)/256); d = 256 → 768, d = 640 → 1792, d = 2048 → 5632.
        assert_eq!(default_d_ff(256), 768);
        assert_eq!(default_d_ff(640), 1792);
        assert_eq!(default_d_ff(2048), 5632);
    }
}
