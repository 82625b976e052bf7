//! The AQLM format name `vq:MxBgG` (paper §3, "MxB" notation of Table 1; spec §3.1): defined
//! once, in lowbit-formats, where the model crate reads it back from checkpoints too.

pub use lowbit_formats::VqSpec;
pub use lowbit_formats::vq::{MAX_BITS, MAX_CODEBOOKS, MAX_GROUP};
