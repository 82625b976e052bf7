//! GGUF llama tensor names → HF `LlamaForCausalLM` names, shapes, and the undoing of
//! llama.cpp's Q/K rotary permutation.
//!
//! Names are llama.cpp's `LLM_TENSOR_NAMES` for `LLM_ARCH_LLAMA` (src/llama-arch.cpp). A GGUF
//! matrix with dims `[in, out]` (innermost first) is the row-major `[out, in]` matrix HF stores,
//! so no transpose is needed.

use super::config::LlamaHparams;
use crate::{GgufError, GgufFile, TensorInfo};
use std::collections::{BTreeMap, BTreeSet};

/// One converted tensor: HF name, row-major shape, f32 values.
#[derive(Debug, Clone, PartialEq)]
pub struct HfTensor {
    /// HF parameter name.
    pub name: String,
    /// Shape, outermost first.
    pub shape: Vec<usize>,
    /// Values in row-major order.
    pub data: Vec<f32>,
}

/// What a GGUF tensor becomes: HF name, expected GGUF dims, and the head count to un-permute by.
struct Target {
    hf: String,
    dims: Vec<u64>,
    unpermute_heads: Option<u64>,
}

/// The HF name, expected dims and permutation of GGUF tensor `name`, or `None` if the name is
/// not one a llama GGUF has.
fn target(name: &str, h: &LlamaHparams, vocab: u64) -> Option<Target> {
    let (e, f, hd) = (h.hidden, h.ffn, h.head_dim());
    let t = |hf: &str, dims: Vec<u64>, heads: Option<u64>| {
        Some(Target {
            hf: hf.to_string(),
            dims,
            unpermute_heads: heads,
        })
    };
    match name {
        "token_embd.weight" => return t("model.embed_tokens.weight", vec![e, vocab], None),
        "output_norm.weight" => return t("model.norm.weight", vec![e], None),
        "output.weight" => return t("lm_head.weight", vec![e, vocab], None),
        _ => {}
    }
    let rest = name.strip_prefix("blk.")?;
    let (layer, part) = rest.split_once('.')?;
    let i: u64 = layer.parse().ok()?;
    // Reject "blk.01." and the like: the only spelling llama.cpp writes is the plain decimal.
    if i >= h.n_layer || layer != i.to_string() {
        return None;
    }
    let p = format!("model.layers.{i}.");
    let (hf, dims, heads) = match part {
        "attn_norm.weight" => ("input_layernorm.weight", vec![e], None),
        "ffn_norm.weight" => ("post_attention_layernorm.weight", vec![e], None),
        "attn_q.weight" => (
            "self_attn.q_proj.weight",
            vec![e, h.n_head * hd],
            Some(h.n_head),
        ),
        "attn_k.weight" => (
            "self_attn.k_proj.weight",
            vec![e, h.n_kv * hd],
            Some(h.n_kv),
        ),
        "attn_v.weight" => ("self_attn.v_proj.weight", vec![e, h.n_kv * hd], None),
        "attn_output.weight" => ("self_attn.o_proj.weight", vec![h.n_head * hd, e], None),
        "ffn_gate.weight" => ("mlp.gate_proj.weight", vec![e, f], None),
        "ffn_up.weight" => ("mlp.up_proj.weight", vec![e, f], None),
        "ffn_down.weight" => ("mlp.down_proj.weight", vec![f, e], None),
        _ => return None,
    };
    t(&format!("{p}{hf}"), dims, heads)
}

/// The first tensor a llama GGUF with `n_layer` layers must have but `seen` lacks
/// (`output.weight` is optional: without it the embeddings are tied). Stops at the first gap,
/// so an absurd `llama.block_count` costs no more than the tensors the file really has.
fn first_missing(n_layer: u64, seen: &BTreeSet<String>) -> Option<String> {
    let parts = [
        "attn_norm",
        "attn_q",
        "attn_k",
        "attn_v",
        "attn_output",
        "ffn_norm",
        "ffn_gate",
        "ffn_up",
        "ffn_down",
    ];
    let globals = ["token_embd.weight", "output_norm.weight"].map(String::from);
    let layers =
        (0..n_layer).flat_map(|i| parts.iter().map(move |p| format!("blk.{i}.{p}.weight")));
    globals
        .into_iter()
        .chain(layers)
        .find(|n| !seen.contains(n))
}

/// Inverts convert_hf_to_gguf's `permute`: the converter viewed each head's `hd` rows as
/// `(2, hd/2)` and swapped the axes, so GGUF row `2i + j` of a head is HF row `j·hd/2 + i`.
pub fn unpermute_rows(data: &[f32], rows: usize, cols: usize, n_head: usize) -> Option<Vec<f32>> {
    if n_head == 0
        || rows % n_head != 0
        || (rows / n_head) % 2 != 0
        || data.len() != rows.checked_mul(cols)?
    {
        return None;
    }
    let hd = rows / n_head;
    let half = hd / 2;
    let mut out = vec![0f32; data.len()];
    for h in 0..n_head {
        for i in 0..half {
            for j in 0..2 {
                let src = (h * hd + 2 * i + j) * cols;
                let dst = (h * hd + j * half + i) * cols;
                out.get_mut(dst..dst + cols)?
                    .copy_from_slice(data.get(src..src + cols)?);
            }
        }
    }
    Some(out)
}

/// Converts every tensor of `g` to its HF form; returns them sorted by HF name, and whether
/// the embeddings are tied (no `output.weight`).
///
/// # Errors
/// [`GgufError::Tensor`] naming a tensor that is unknown, duplicated, missing or misshapen,
/// plus the dequantization errors of [`GgufFile::tensor_f32`].
pub fn convert(
    g: &GgufFile,
    h: &LlamaHparams,
    vocab: u64,
) -> Result<(Vec<HfTensor>, bool), GgufError> {
    let mut plan: BTreeMap<String, (&TensorInfo, Target)> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for info in g.tensors() {
        if info.name == "rope_freqs.weight" {
            return Err(GgufError::tensor(
                &info.name,
                "RoPE frequency factors (llama3-style RoPE scaling) are not supported",
            ));
        }
        let tgt = target(&info.name, h, vocab).ok_or_else(|| {
            GgufError::tensor(
                &info.name,
                "not a tensor of a llama model with these hyper-parameters",
            )
        })?;
        if !seen.insert(info.name.clone()) {
            return Err(GgufError::tensor(&info.name, "appears twice"));
        }
        if info.dims != tgt.dims {
            return Err(GgufError::tensor(
                &info.name,
                format!(
                    "dims {:?} (innermost first), expected {:?}",
                    info.dims, tgt.dims
                ),
            ));
        }
        plan.insert(tgt.hf.clone(), (info, tgt));
    }
    if let Some(name) = first_missing(h.n_layer, &seen) {
        return Err(GgufError::tensor(&name, "missing"));
    }
    let tied = !seen.contains("output.weight");
    let mut out = Vec::with_capacity(plan.len());
    for (hf, (info, tgt)) in plan {
        let mut data = g.tensor_f32(info)?;
        let shape: Vec<usize> = info
            .shape()
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<Result<_, _>>()
            .map_err(|_| GgufError::tensor(&info.name, "dimension too large for this platform"))?;
        if let Some(heads) = tgt.unpermute_heads {
            let (rows, cols) = (
                shape.first().copied().unwrap_or(0),
                shape.get(1).copied().unwrap_or(1),
            );
            let heads = usize::try_from(heads).unwrap_or(0);
            data = unpermute_rows(&data, rows, cols, heads).ok_or_else(|| {
                GgufError::tensor(
                    &info.name,
                    format!("{rows} rows do not split into {heads} heads of even size"),
                )
            })?;
        }
        out.push(HfTensor {
            name: hf,
            shape,
            data,
        });
    }
    Ok((out, tied))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// convert_hf_to_gguf's permute, written the forward way: HF row j·hd/2 + i → GGUF 2i + j.
    fn permute(w: &[f32], rows: usize, cols: usize, n_head: usize) -> Vec<f32> {
        let hd = rows / n_head;
        let mut out = vec![0.0; w.len()];
        for r in 0..rows {
            let (h, k) = (r / hd, r % hd);
            let (j, i) = (k / (hd / 2), k % (hd / 2));
            let dst = h * hd + 2 * i + j;
            out[dst * cols..(dst + 1) * cols].copy_from_slice(&w[r * cols..(r + 1) * cols]);
        }
        out
    }

    #[test]
    fn unpermute_inverts_permute() {
        let (rows, cols, heads) = (24, 3, 3);
        let w: Vec<f32> = (0..rows * cols).map(|x| x as f32).collect();
        let p = permute(&w, rows, cols, heads);
        assert_ne!(p, w);
        assert_eq!(unpermute_rows(&p, rows, cols, heads).unwrap(), w);
        assert!(unpermute_rows(&p, rows, cols, 5).is_none());
    }
}
