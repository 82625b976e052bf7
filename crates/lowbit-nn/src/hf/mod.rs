//! HuggingFace Llama interchange (reference: `transformers/models/llama/modeling_llama.py` and
//! `configuration_llama.py`): tensor names, `config.json`, safetensors weights and whole model
//! directories.
//!
//! * [`names`] — the path → name rule and a path tracker for visitors and mappers.
//! * [`state`] — the model's tensors as a name → host tensor map, and loading one back.
//! * [`weights`] — safetensors reading (F32/F16/BF16/F64, sharded) and atomic writing.
//! * [`config`] — `config.json` (transformers 4.x and 5.x) ↔ [`LlamaConfig`](crate::llama::LlamaConfig).
//! * [`dir`] — [`load_dir`] / [`save_dir`] for HF directories and lowbit checkpoints.
//! * [`compressed`] / [`quant_config`] — compressed checkpoints: packed codes and the
//!   `quantization_config` that rebuilds the coded linears.
//! * [`grids`] — the grid files a checkpoint carries against same-named files on disk.

pub mod compressed;
pub mod config;
pub mod dir;
pub mod grids;
pub mod names;
pub mod quant_config;
pub mod state;
pub mod weights;

pub use compressed::{
    apply_quantization_config, linear_tensors, load_coded_linear, quant_registry,
    save_compressed_dir,
};
pub use config::{
    CONFIG_FILE, SpecialTokens, config_from_json, config_to_json, read_config_json,
    write_config_json,
};
pub use dir::{
    LATEST_FILE, LoadOptions, LoadedModel, SaveOptions, TOKENIZER_FILE, load_dir, load_dir_with,
    resolve_dir, save_dir, save_dir_with,
};
pub use grids::grid_conflicts;
pub use names::{PathStack, hf_name};
pub use quant_config::{CodedLayer, LOWBIT_QUANT_METHOD, QuantizationConfig};
pub use state::{HostData, HostTensor, load_state_dict, state_dict};
pub use weights::{
    INDEX_FILE, MODEL_FILE, StoreDtype, read_checkpoint, read_safetensors, write_safetensors,
};
