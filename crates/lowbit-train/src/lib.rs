//! # lowbit-train
//!
//! Recipes and checkpoints of lowbit's trainer (DESIGN.md §2–3): a recipe is typed TOML with
//! unknown keys rejected, `extends = "base"` composition and `--set section.key=value` overrides
//! checked against the schema; a checkpoint is a directory written to a temporary name, fsynced,
//! renamed and then published through an atomically replaced `LATEST`, with a SHA-256 manifest
//! verified on load; [`trainer`] runs the step loop (AdamW from `lowbit-optim` on a `lowbit-nn`
//! Llama) and writes metrics and checkpoints.

pub mod checkpoint;
pub mod device;
pub mod metrics;
pub mod recipe;
pub mod schedule;
pub mod trainer;

pub use checkpoint::{CheckpointError, CheckpointStore, Manifest, Resumed};
pub use recipe::{Recipe, RecipeError, load_recipe};
pub use schedule::OneCycle;
pub use trainer::{Progress, Resume, TrainError, TrainOptions, TrainSummary, train};
