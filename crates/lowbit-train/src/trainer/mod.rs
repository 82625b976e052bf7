//! The trainer: recipe → model, data, AdamW step loop, metrics, evaluation and checkpoints.

mod build;
mod data;
mod ddp;
mod error;
mod grids;
mod progress;
mod run;
mod state;

pub use build::{init_model, llama_config};
pub use data::{KNOWN_CORPORA, corpus_dirs, load_dataset, missing_corpora};
pub use error::TrainError;
pub use run::{Progress, Resume, TrainOptions, TrainSummary, train, validation_loss};
pub use state::{BURN_VERSION, RngState, SamplerState, TrainState};
