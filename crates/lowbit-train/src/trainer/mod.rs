//! The trainer: a step loop generic over a [`Task`] (what the loss is, how the model is
//! evaluated and stored) with resume, gradient accumulation, data parallelism, the non-finite
//! guard, AdamW, metrics and atomic checkpoints; [`LmTask`] and [`train`] are `lowbit train`'s.
//!
//! Files: `task.rs` (the trait), `lm.rs` (the LM task), `distill.rs` (`lowbit finetune`'s
//! task: a compressed student distilled from its teacher), `step_loop.rs` (the loop), `step.rs`
//! (one step's gradients and the guard), `checkpointer.rs`, `resume.rs`, `runner.rs` (a whole run of
//! any task), `run.rs` (`train`:
//! recipe → LM task → loop), `build.rs` (recipe → model), `options.rs`, `state.rs`,
//! `progress.rs`, `ddp.rs`, `grids.rs`, `data.rs`.

mod build;
mod checkpointer;
mod data;
mod ddp;
mod distill;
mod error;
mod grids;
mod lm;
mod options;
mod progress;
mod resume;
mod run;
mod runner;
mod state;
mod step;
mod step_loop;
mod task;

pub use build::{init_model, llama_config, llama_config_with};
pub use data::{KNOWN_CORPORA, corpus_dirs, load_dataset, missing_corpora};
pub use distill::{DistillLoss, DistillTask, kl_divergence};
pub use error::TrainError;
pub use lm::{LmTask, health_scalars, validation_loss};
pub use options::{Progress, Resume, TrainOptions, TrainSummary};
pub use run::train;
pub use runner::{NoResumeCheck, ResumeCheck, TaskRun, train_task};
pub use state::{BURN_VERSION, RngState, SamplerState, TrainState};
pub use step_loop::{LoopConfig, Start};
pub use task::{Evaluation, Task};

#[cfg(test)]
mod task_tests;
