//! HuggingFace Llama naming: Burn module paths ↔ `transformers` state-dict names.
//!
//! * [`names`] — the path → name rule and a path tracker for visitors and mappers.
//! * [`state`] — the model's tensors as a name → host tensor map, and loading one back.

pub mod names;
pub mod state;

pub use names::{PathStack, hf_name};
pub use state::{HostTensor, load_state_dict, state_dict};
