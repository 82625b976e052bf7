//! Recipes: `recipes/<name>.toml`, typed, documented, unknown keys rejected.

mod diff;
mod finetune;
mod grids;
mod load;
mod model;
mod schema;
mod validate;

pub use diff::{RESUME_MAY_CHANGE, changed_keys, resume_changes};
pub use finetune::{FinetuneMethod, FinetuneRecipe, FinetuneSection, load_finetune_recipe};
pub use grids::{grid_file_paths, recipe_registry, run_grids};
pub use load::{RecipeError, load_recipe, load_recipe_as, parse_recipe_str};
pub use model::{ModelDims, PRESETS, resolve as resolve_model};
pub use schema::*;
