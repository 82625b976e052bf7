//! [`ct_quantization_config`]: the `quantization_config` object of `config.json`, field for field
//! as compressed-tensors 0.20 dumps it (`quantization/quant_config.py::QuantizationConfig`,
//! `quant_args.py::QuantizationArgs._serialize`, presets in `quant_scheme.py`: `NVFP4A16`,
//! `NVFP4`, `MXFP4A16`, `W4A16` / `W4A16_ASYM` with our group size). The fixture test compares
//! it with `QuantizationConfig(...).model_dump()` from the real package.

use crate::scheme::CtScheme;
use serde_json::{Value, json};

fn fp4_args(group_size: usize, strategy: &str, scale_dtype: &str) -> Value {
    json!({
        "num_bits": 4,
        "type": "float",
        "symmetric": true,
        "group_size": group_size,
        "strategy": strategy,
        "dynamic": false,
        "scale_dtype": scale_dtype,
    })
}

/// The weight arguments of `config_groups.group_0.weights`.
pub fn ct_weight_args(scheme: &CtScheme) -> Value {
    match *scheme {
        CtScheme::Nvfp4 { .. } => fp4_args(16, "tensor_group", "torch.float8_e4m3fn"),
        CtScheme::Mxfp4 => fp4_args(32, "group", "torch.uint8"),
        CtScheme::PackQuantized {
            bits,
            group_size,
            symmetric,
            ..
        } => json!({
            "num_bits": bits,
            "type": "int",
            "symmetric": symmetric,
            "group_size": group_size,
            "strategy": "group",
            "dynamic": false,
        }),
    }
}

/// `quantization_config` for a model whose `Linear` layers (all but `ignore`, e.g.
/// `["lm_head"]`) are exported under `scheme`. W4A4 NVFP4 adds `input_activations` with
/// `dynamic: "local"` (per-group activation scales computed at run time from the stored
/// `input_global_scale`).
pub fn ct_quantization_config(scheme: &CtScheme, ignore: &[String]) -> Value {
    let input = match scheme {
        CtScheme::Nvfp4 {
            input_global_scale: Some(_),
        } => json!({
            "num_bits": 4,
            "type": "float",
            "symmetric": true,
            "group_size": 16,
            "strategy": "tensor_group",
            "dynamic": "local",
            "scale_dtype": "torch.float8_e4m3fn",
            "observer": "static_minmax",
        }),
        _ => Value::Null,
    };
    json!({
        "config_groups": {
            "group_0": {
                "targets": ["Linear"],
                "weights": ct_weight_args(scheme),
                "input_activations": input,
                "output_activations": null,
                "format": null,
            }
        },
        "quant_method": "compressed-tensors",
        "kv_cache_scheme": null,
        "format": scheme.format_name(),
        "quantization_status": "compressed",
        "global_compression_ratio": null,
        "ignore": ignore,
        "moe_sparsity_config": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w4a4_adds_input_activations_only_for_nvfp4() {
        let ignore = vec!["lm_head".to_string()];
        let a16 = ct_quantization_config(
            &CtScheme::Nvfp4 {
                input_global_scale: None,
            },
            &ignore,
        );
        assert!(a16["config_groups"]["group_0"]["input_activations"].is_null());
        let a4 = ct_quantization_config(
            &CtScheme::Nvfp4 {
                input_global_scale: Some(1.0),
            },
            &ignore,
        );
        assert_eq!(
            a4["config_groups"]["group_0"]["input_activations"]["dynamic"],
            "local"
        );
        assert_eq!(a4["format"], "nvfp4-pack-quantized");
        assert_eq!(a4["ignore"][0], "lm_head");
    }
}
