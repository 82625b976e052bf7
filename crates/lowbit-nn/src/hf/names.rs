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
///
/// Enum modules are transparent: Burn enters an enum's variant as a segment named after it
/// (`Latent`, `Coded`, CamelCase where fields are snake_case), so a variant segment and the field
/// that holds the enum are left out of the name. `q_proj.weight` (a [`crate::weight::WeightRepr`])
/// → `Latent` → `weight` is `…q_proj.weight`; its coded form's `weight_scale` is
/// `…q_proj.weight_scale`, the names compressed-tensors uses.
#[derive(Debug, Default, Clone)]
pub struct PathStack {
    /// Segments with whether each is part of the name.
    path: Vec<(String, bool)>,
}

impl PathStack {
    /// Enters submodule `name`.
    pub fn enter(&mut self, name: &str) {
        let variant = name.starts_with(|c: char| c.is_ascii_uppercase());
        if variant && let Some(last) = self.path.last_mut() {
            // The field holding the enum (a nested enum's outer variant is hidden already).
            last.1 = false;
        }
        self.path.push((name.to_string(), !variant));
    }

    /// Leaves the current submodule.
    pub fn exit(&mut self) {
        self.path.pop();
        // Re-entering a sibling of a variant must see its parent field visible again: the
        // field is hidden only while its variant is on the stack.
        if let Some(last) = self.path.last_mut()
            && !last.0.starts_with(|c: char| c.is_ascii_uppercase())
        {
            last.1 = true;
        }
    }

    /// HF name of the parameter at the current path.
    pub fn hf_name(&self) -> String {
        let visible: Vec<String> = self
            .path
            .iter()
            .filter(|(_, v)| *v)
            .map(|(n, _)| n.clone())
            .collect();
        hf_name(&visible)
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

    #[test]
    fn enum_variants_and_their_fields_are_transparent() {
        let mut s = PathStack::default();
        for seg in ["layers", "0", "mlp", "up_proj", "weight", "Coded", "Scalar"] {
            s.enter(seg);
        }
        s.enter("weight_scale");
        assert_eq!(s.hf_name(), "model.layers.0.mlp.up_proj.weight_scale");
        s.exit();
        for _ in 0..3 {
            s.exit(); // Scalar, Coded, weight
        }
        s.enter("bias");
        assert_eq!(s.hf_name(), "model.layers.0.mlp.up_proj.bias");
        s.exit();
        s.enter("weight");
        s.enter("Latent");
        s.enter("weight");
        assert_eq!(s.hf_name(), "model.layers.0.mlp.up_proj.weight");
    }
}
