//! # lowbit-train
//!
//! Recipes and checkpoints of lowbit's trainer (DESIGN.md §2–3): a recipe is typed TOML with
//! unknown keys rejected, `extends = "base"` composition and `--set section.key=value` overrides
//! checked against the schema; a checkpoint is a directory written to a temporary name, fsynced,
//! renamed and then published through an atomically replaced `LATEST`, with a SHA-256 manifest
//! verified on load; [`trainer`] runs one step loop for every task ([`trainer::Task`]: LM
//! cross-entropy today, KL to a teacher and a judge classifier next) and writes metrics and
//! checkpoints; [`recipe::recipe_registry`] is the one grid registry of a run. See README.md.

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
