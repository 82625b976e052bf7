//! Burn paths of [`crate::llama::Llama`] and their HuggingFace names.
//!
//! The model's fields carry HF names already (`embed_tokens`, `layers.{i}.self_attn.q_proj`, …),
//! so the rule is short: everything but the LM head lives under `model.`, the head is
//! `lm_head.weight`, and Burn's RMSNorm scale `gamma` is HF's `weight`.

/// HF state-dict name of the parameter at Burn module `path`.
///
/// `["layers", "0", "input_layernorm", "gamma"]` → `model.layers.0.input_layernorm.weight`;
/// `["lm_head"]` → `lm_head.weight`.
pub fn hf_name(path: &[String]) -> String {
    if path.first().map(String::as_str) == Some("lm_head") {
        return "lm_head.weight".to_string();
    }
    let mut parts: Vec<&str> = path.iter().map(String::as_str).collect();
    if let Some(last) = parts.last_mut()
        && *last == "gamma"
    {
        *last = "weight";
    }
    format!("model.{}", parts.join("."))
}

/// The module path during a [`burn::module::ModuleVisitor`] / [`burn::module::ModuleMapper`]
/// traversal (push on `enter_module`, pop on `exit_module`).
#[derive(Debug, Default, Clone)]
pub struct PathStack {
    path: Vec<String>,
}

impl PathStack {
    /// Enters submodule `name`.
    pub fn enter(&mut self, name: &str) {
        self.path.push(name.to_string());
    }

    /// Leaves the current submodule.
    pub fn exit(&mut self) {
        self.path.pop();
    }

    /// HF name of the parameter at the current path.
    pub fn hf_name(&self) -> String {
        hf_name(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn names_follow_transformers() {
        assert_eq!(
            hf_name(&p(&["embed_tokens", "weight"])),
            "model.embed_tokens.weight"
        );
        assert_eq!(
            hf_name(&p(&["layers", "3", "self_attn", "k_proj", "weight"])),
            "model.layers.3.self_attn.k_proj.weight"
        );
        assert_eq!(
            hf_name(&p(&["layers", "0", "post_attention_layernorm", "gamma"])),
            "model.layers.0.post_attention_layernorm.weight"
        );
        assert_eq!(hf_name(&p(&["norm", "gamma"])), "model.norm.weight");
        assert_eq!(hf_name(&p(&["lm_head"])), "lm_head.weight");
    }
}
